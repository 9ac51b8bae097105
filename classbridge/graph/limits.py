"""Limits checked before execution: depth, tokens and aliases of a document."""

from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from classbridge.graph.errors import ErrorCodes
from classbridge.settings import Settings


def limit_extensions(settings: Settings) -> list[SchemaExtension | type[SchemaExtension]]:
    return [
        ErrorCodes,
        QueryDepthLimiter(max_depth=settings.max_query_depth),
        MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        MaxAliasesLimiter(max_alias_count=settings.max_query_aliases),
    ]
