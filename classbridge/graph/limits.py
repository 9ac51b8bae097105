"""Limits checked before execution: depth, tokens and aliases of a document, and no NUL
characters in any string argument."""

from collections.abc import Callable, Iterator
from typing import Any

from graphql import ExecutionResult, GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from classbridge.graph.errors import ErrorCodes
from classbridge.models.errors import ErrorCode
from classbridge.settings import Settings


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class _NulInLiterals(Visitor):
    found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if "\x00" in node.value:
            self.found = True


class NoNulStrings(SchemaExtension):
    """Refuse documents whose strings hold NUL characters before anything runs:
    PostgreSQL cannot store or even compare them (a 500 otherwise)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        literals = _NulInLiterals()
        if context.graphql_document is not None:
            visit(context.graphql_document, literals)
        if literals.found or _has_nul(context.variables):
            error = GraphQLError(
                "text must not contain NUL characters",
                extensions={"code": ErrorCode.VALIDATION.value},
            )
            context.result = ExecutionResult(data=None, errors=[error])
        yield


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Extension factories: strawberry builds fresh ones for every request."""
    return [
        ErrorCodes,
        NoNulStrings,
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_query_aliases),
    ]
