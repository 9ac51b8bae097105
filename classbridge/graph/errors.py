"""One place that turns exceptions into GraphQL errors with `extensions.code`.

Domain refusals keep their code and message; documents that do not fit the schema get
GRAPHQL_VALIDATION; anything unexpected is logged here and reaches the client only as
INTERNAL_SERVER_ERROR, without details.
"""

import logging
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.types import ExecutionContext

from classbridge.graph.inputs import field_path
from classbridge.models.errors import DomainError

log = logging.getLogger("classbridge.graph")

INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
GRAPHQL_VALIDATION = "GRAPHQL_VALIDATION"
ONLY_SUBSCRIPTIONS = (
    "only subscriptions go over WebSocket: send queries and mutations over HTTP POST"
)


def _with_code(error: GraphQLError, message: str, extensions: dict[str, object]) -> GraphQLError:
    return GraphQLError(
        message=message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


def to_client_error(error: GraphQLError) -> GraphQLError:
    if error.extensions and "code" in error.extensions:
        return error
    original = error.original_error
    if isinstance(original, DomainError):
        extensions: dict[str, object] = {"code": original.code.value}
        field = field_path(original)
        if field:
            extensions["field"] = field
        return _with_code(error, original.message, extensions)
    if isinstance(original, InvalidOperationTypeError):  # a query sent as legacy graphql-ws "start"
        return _with_code(error, ONLY_SUBSCRIPTIONS, {"code": GRAPHQL_VALIDATION})
    if original is None or not _from_resolver(error):
        # Parsing, validation and input coercion (a scalar refusing a literal raises a
        # plain ValueError there): the document was wrong, not the server.
        return _with_code(error, error.message, {"code": GRAPHQL_VALIDATION})
    if isinstance(original, GraphQLError):  # e.g. a scalar that refused its input
        return _with_code(error, error.message, {"code": GRAPHQL_VALIDATION})
    return _with_code(error, "Internal server error", {"code": INTERNAL_SERVER_ERROR})


def _from_resolver(error: GraphQLError) -> bool:
    """Errors raised while executing a field carry its path; request errors have none."""
    return error.path is not None


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return (
        original is not None
        and _from_resolver(error)
        and not isinstance(original, DomainError | GraphQLError | InvalidOperationTypeError)
    )


class ErrorCodes(SchemaExtension):
    """Gives every error in a response a machine-readable code and hides internals."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [to_client_error(e) for e in result.errors]

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Subscriptions: each result sent over a WebSocket gets its codes too."""
        if getattr(result, "errors", None):
            result.errors = [to_client_error(e) for e in result.errors]
        yield


def log_unexpected(errors: list[GraphQLError], context: ExecutionContext | None) -> None:
    """Schema.process_errors: refusals are normal traffic; only surprises are logged."""
    for error in errors:
        if is_unexpected(error):
            log.error("unexpected error in %s", error.path, exc_info=error.original_error)


class CodedSchema(strawberry.Schema):
    """A schema whose errors all carry `extensions.code`, logging only the unexpected."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors, execution_context)
