"""The staff schema served at /graphql."""

import strawberry

from classbridge.graph.errors import CodedSchema
from classbridge.graph.limits import DocumentCache, limit_extensions
from classbridge.graph.operation_metrics import OperationMetrics
from classbridge.graph.scalars import scalar_config
from classbridge.graph.staff.aggregators import AggregatorMutation, AggregatorQuery
from classbridge.graph.staff.live import OnlySubscriptionsOverWebSocket, Subscription
from classbridge.graph.staff.mutations import StaffMutation
from classbridge.graph.staff.queries import StaffQuery
from classbridge.graph.staff.sync import SyncQuery
from classbridge.settings import Settings, get_settings

# What a request without a token may select at the root (introspection aside).
ANONYMOUS_FIELDS = frozenset({"login"})


@strawberry.type
class Query(StaffQuery, AggregatorQuery, SyncQuery):
    pass


@strawberry.type
class Mutation(StaffMutation, AggregatorMutation):
    pass


def build_staff_schema(settings: Settings | None = None) -> strawberry.Schema:
    documents = DocumentCache()
    return CodedSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        document_cache=documents,
        extensions=[
            *limit_extensions(
                settings or get_settings(), anonymous_fields=ANONYMOUS_FIELDS, cache=documents
            ),
            OnlySubscriptionsOverWebSocket,
            OperationMetrics.for_api("staff"),
        ],
        config=scalar_config(),
    )
