"""The partner schema served at /aggregator/v1/graphql."""

import strawberry

from classbridge.graph.errors import CodedSchema
from classbridge.graph.limits import DocumentCache, limit_extensions
from classbridge.graph.operation_metrics import OperationMetrics
from classbridge.graph.partner.mutations import PartnerMutation
from classbridge.graph.partner.queries import PartnerQuery
from classbridge.graph.partner.types import partner_config
from classbridge.settings import Settings, get_settings


@strawberry.type
class Query(PartnerQuery):
    pass


@strawberry.type
class Mutation(PartnerMutation):
    pass


def build_partner_schema(settings: Settings | None = None) -> strawberry.Schema:
    documents = DocumentCache()
    return CodedSchema(
        query=Query,
        mutation=Mutation,
        document_cache=documents,
        extensions=[
            *limit_extensions(settings or get_settings(), cache=documents),
            OperationMetrics.for_api("partner"),
        ],
        config=partner_config(),
    )
