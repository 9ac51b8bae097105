"""One place that turns exceptions into GraphQL errors with `extensions.code`.

Domain refusals keep their code and message; documents that do not fit the schema get
GRAPHQL_VALIDATION; anything unexpected is logged here and reaches the client only as
INTERNAL_SERVER_ERROR, without details.
"""

import copy
import inspect
import logging
import operator
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import strawberry
from graphql import GraphQLError, GraphQLObjectType, GraphQLSchema, GraphQLSyntaxError
from graphql.pyutils import Undefined
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types import ExecutionContext
from strawberry.types import Info as StrawberryInfo
from strawberry.types.field import StrawberryField
from strawberry.types.fields.resolver import StrawberryResolver

from classbridge.graph.execution import NO_INFO, CommittedMutationExecutor, is_awaitable
from classbridge.graph.inputs import field_path
from classbridge.models.db import is_unavailable
from classbridge.models.errors import DomainError

if TYPE_CHECKING:  # limits.py imports this module
    from classbridge.graph.limits import DocumentCache

log = logging.getLogger("classbridge.graph")
DEFINITION_BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF

INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"
GRAPHQL_VALIDATION = "GRAPHQL_VALIDATION"
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
"""Over a limit of graph/limits.py: length, tokens, estimated nodes, depth or aliases."""
# Transport-level refusals, answered with an HTTP status of their own.
BAD_REQUEST = "BAD_REQUEST"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
RATE_LIMITED = "RATE_LIMITED"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
"""The database could not serve the request now (overloaded or unreachable): retry."""
UNAVAILABLE_MESSAGE = "the database is busy or unreachable; try again shortly"
ONLY_SUBSCRIPTIONS = (
    "only subscriptions go over WebSocket: send queries and mutations over HTTP POST"
)
SUBSCRIPTIONS_OVER_WEBSOCKET = (
    "subscriptions go over WebSocket at /graphql (graphql-transport-ws or graphql-ws)"
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


def _too_complex(error: GraphQLError) -> bool:
    """graphql-core's own limits: the parser stops at `max_tokens`, and validation stops
    when its work budget is spent (see graph/limits.py); both say so only in words."""
    if isinstance(error, GraphQLSyntaxError):
        return any(
            words in error.message
            for words in ("Document contains more than", "Source contains more than")
        )
    return isinstance(error, ValidationAbortedError) and error.message == "Validation aborted."


def to_client_error(error: GraphQLError) -> GraphQLError:
    if error.extensions and "code" in error.extensions:
        return error
    original = error.original_error
    if _too_complex(error):
        message = error.message.removeprefix("Syntax Error: ")
        if isinstance(error, ValidationAbortedError):
            message = "the document is too complex to validate"
        return _with_code(error, message, {"code": QUERY_TOO_COMPLEX})
    if original is not None and is_unavailable(original):
        return _with_code(error, UNAVAILABLE_MESSAGE, {"code": SERVICE_UNAVAILABLE})
    if is_unexpected(error):
        return _with_code(error, "Internal server error", {"code": INTERNAL_SERVER_ERROR})
    if isinstance(original, DomainError):
        extensions: dict[str, object] = {"code": original.code.value}
        field = field_path(original)
        if field:
            extensions["field"] = field
        return _with_code(error, original.message, extensions)
    if isinstance(original, InvalidOperationTypeError):  # a query sent as legacy graphql-ws "start"
        return _with_code(error, ONLY_SUBSCRIPTIONS, {"code": GRAPHQL_VALIDATION})
    # Parsing, validation and input coercion (a scalar refusing a literal raises a plain
    # ValueError there), or a scalar that refused its input: the document was wrong.
    return _with_code(error, error.message, {"code": GRAPHQL_VALIDATION})


def is_unexpected(error: GraphQLError) -> bool:
    """An exception of ours rather than a refusal: raised while executing a field (the
    error has a path), or outside the document altogether, as when a subscription's event
    stream fails (no path and no position). Input coercion errors point at the document."""
    original = error.original_error
    if original is None or isinstance(
        original, DomainError | GraphQLError | InvalidOperationTypeError
    ):
        return False
    return error.path is not None or not error.nodes


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
    operation = (context.operation_name if context else None) or "anonymous"
    for error in errors:
        if error.original_error is not None and is_unavailable(error.original_error):
            # Overload or an outage, not a bug: one line, no traceback.
            log.warning(
                "database unavailable in operation %s: %s",
                operation,
                type(error.original_error).__name__,
                extra={"operation": operation},
            )
        elif is_unexpected(error):
            log.error(
                "unexpected error in operation %s at %s",
                operation,
                error.path,
                exc_info=error.original_error,
                extra={"operation": operation},
            )


class CodedSchema(strawberry.Schema):
    """A schema whose errors all carry `extensions.code`, logging only the unexpected, and
    whose mutations always report a committed change (graph/execution.py)."""

    document_cache: "DocumentCache | None" = None
    """The schema's parsed and validated documents (graph/limits.py `DocumentCache`), set by
    `with_extensions`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("execution_context_class", CommittedMutationExecutor)
        super().__init__(*args, **kwargs)
        read_attributes_directly(self._schema)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_unexpected(errors, execution_context)

    def with_extensions(
        self,
        extensions: Sequence[Callable[[], SchemaExtension] | type[SchemaExtension]],
        document_cache: "DocumentCache",
    ) -> "CodedSchema":
        """This schema's types with other request extensions and a document cache of its
        own. Converting the types is most of building a schema (tens of milliseconds, paid
        by every app a process creates, e.g. each test's); the copy shares them. Strawberry
        (0.341) makes a request's extensions from `extensions` alone (`get_extensions`).
        `info.schema` in a resolver is the shared original (the same types and
        `process_errors`, no request extensions)."""
        clone = copy.copy(self)
        clone.extensions = tuple(extensions)
        clone.document_cache = document_cache
        return clone


def _attribute(name: str) -> Callable[..., Any]:
    def resolve(source: Any, _info: Any) -> Any:
        return getattr(source, name)

    resolve.direct = operator.attrgetter(name)  # type: ignore[attr-defined]  # execution.py
    return resolve


def read_attributes_directly(schema: GraphQLSchema) -> int:
    """Fields that only read what their parent holds — plain attributes, and synchronous
    methods that take nothing but `self` (no info, no arguments, no field extensions) —
    are called by graphql-core directly, instead of through strawberry's per-field
    wrapper (argument conversion, an Info object, the extension chain): that wrapper was
    most of the cost of a page of plain values. Schema extensions with a `resolve` hook
    would not see these fields (none of ours has one). Returns how many fields qualify."""
    direct = 0
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named.name.startswith("__"):
            continue
        if named in (schema.query_type, schema.mutation_type, schema.subscription_type):
            continue
        for graphql_field in named.fields.values():
            field = (graphql_field.extensions or {}).get(DEFINITION_BACKREF)
            if not isinstance(field, StrawberryField) or field.extensions or graphql_field.args:
                continue
            resolver = field.base_resolver
            if resolver is None:
                graphql_field.resolve = _attribute(field.python_name)
                direct += 1
            elif _sync_without_arguments(resolver):
                function = cast(Callable[..., Any], resolver.wrapped_func)
                if resolver.info_parameter is None:
                    graphql_field.resolve = _method(function)
                else:
                    graphql_field.resolve = _method_with_info(function, field)
                direct += 1
    return direct


def _sync_without_arguments(resolver: StrawberryResolver[Any]) -> bool:
    """A synchronous method of the parent that takes `self` and at most `info`."""
    names = list(resolver.signature.parameters)
    info = resolver.info_parameter
    return (
        not resolver.is_async
        and resolver.self_parameter is not None
        and names[:1] == [resolver.self_parameter.name]
        and (len(names) == 1 or (len(names) == 2 and info is not None and names[1] == info.name))
        and callable(resolver.wrapped_func)
    )


def _method_with_info(function: Callable[..., Any], field: StrawberryField) -> Callable[..., Any]:
    def resolve(source: Any, info: Any) -> Any:
        return function(source, StrawberryInfo(_raw_info=info, _field=field))

    def direct(source: Any) -> Any:
        # Read in place when the parent holds the value (graph/execution.py): a use of
        # the info raises NeedsInfo, and an awaitable (a loader's, for a parent that
        # holds nothing) is not a held value; both send the field the ordinary way.
        value = function(source, NO_INFO)
        # The executor's own check (graph/execution.py): `inspect.isawaitable` asks the
        # Awaitable ABC about every plain value, 8% of a schedule page.
        if is_awaitable(value):
            if inspect.iscoroutine(value):
                value.close()
            return Undefined
        return value

    resolve.direct = direct  # type: ignore[attr-defined]  # read by graph/execution.py
    return resolve


def _method(function: Callable[[Any], Any]) -> Callable[..., Any]:
    def resolve(source: Any, _info: Any) -> Any:
        return function(source)

    resolve.direct = function  # type: ignore[attr-defined]  # read by graph/execution.py
    return resolve
