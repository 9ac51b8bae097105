"""The partner schema served at /aggregator/v1/graphql."""

from functools import cache

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


@cache
def _partner_types() -> CodedSchema:
    return CodedSchema(query=Query, mutation=Mutation, config=partner_config())


def build_partner_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The partner schema with the limits of `settings` and a document cache of its own
    (the types are converted once per process)."""
    documents = DocumentCache()
    return _partner_types().with_extensions(
        [
            *limit_extensions(settings or get_settings(), cache=documents),
            OperationMetrics.for_api("partner"),
        ],
        documents,
    )
