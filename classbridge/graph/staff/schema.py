"""The staff schema served at /graphql."""

from functools import cache

import strawberry

from classbridge.graph.errors import CodedSchema
from classbridge.graph.limits import DocumentCache, limit_extensions
from classbridge.graph.operation_metrics import OperationMetrics
from classbridge.graph.scalars import scalar_config
from classbridge.graph.staff.accounts import StaffAccountMutation, StaffAccountQuery
from classbridge.graph.staff.aggregators import AggregatorMutation, AggregatorQuery
from classbridge.graph.staff.audit import AuditQuery
from classbridge.graph.staff.live import OnlySubscriptionsOverWebSocket, Subscription
from classbridge.graph.staff.mutations import StaffMutation
from classbridge.graph.staff.permissions import (
    FieldPermission,
    anonymous_fields,
    field_permissions,
)
from classbridge.graph.staff.queries import StaffQuery
from classbridge.graph.staff.sync import SyncQuery
from classbridge.settings import Settings, get_settings


@strawberry.type
class Query(StaffQuery, AggregatorQuery, SyncQuery, StaffAccountQuery, AuditQuery):
    pass


@strawberry.type
class Mutation(StaffMutation, AggregatorMutation, StaffAccountMutation):
    pass


def staff_permissions() -> list[FieldPermission]:
    """Every root field of the staff schema with its declared permission."""
    return field_permissions({"query": Query, "mutation": Mutation, "subscription": Subscription})


# What a request without a token may select at the root (introspection aside): the fields
# declared `Anyone`.
ANONYMOUS_FIELDS = anonymous_fields(staff_permissions())


@cache
def _staff_types() -> CodedSchema:
    return CodedSchema(
        query=Query, mutation=Mutation, subscription=Subscription, config=scalar_config()
    )


def build_staff_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The staff schema with the limits of `settings` and a document cache of its own (the
    types are converted once per process)."""
    documents = DocumentCache()
    return _staff_types().with_extensions(
        [
            *limit_extensions(
                settings or get_settings(), anonymous_fields=ANONYMOUS_FIELDS, cache=documents
            ),
            OnlySubscriptionsOverWebSocket,
            OperationMetrics.for_api("staff"),
        ],
        documents,
    )
