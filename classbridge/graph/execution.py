"""How operations execute: a committed change is always reported as committed.

A root mutation field commits its change before it returns; its result's fields resolve
afterwards. By the spec, an error in one of them (a nested page that fails, a database
hiccup) would travel up the non-null types to `data: null`, and the client would believe
nothing happened. Below a root mutation field, an error nulls only the field that failed
(its error is in `errors[]`, with its path), so the mutation's result always arrives.
Errors of the root mutation field itself (a refusal: nothing was written) and of queries
follow the spec.

Leaves read directly: a field whose resolver only reads its parent (graph/errors.py
`read_attributes_directly` marks it `direct`), without arguments, of a scalar or enum
type, is read and serialized in place, without graphql-core's per-field machinery (an
info object, a path, value completion): on a page of 100 sessions those were most of the
time. Anything unusual — no value where the schema says non-null, an exception, a
serialization refusal — takes the ordinary path for that field, which reports it as
graphql-core would.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from graphql import (
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    OperationType,
    get_nullable_type,
)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

Leaf = GraphQLScalarType | GraphQLEnumType
T = TypeVar("T")


def later(awaitable: Awaitable[T]) -> T:
    """A field that returns what its parent holds may, when the parent holds nothing,
    hand graphql-core a loader's awaitable instead (graphql-core awaits what a resolver
    returns); its declared type stays the field's type."""
    return cast(T, awaitable)


class CommittedMutationExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor (graphql-core's), with the rule above."""

    def handle_field_error(
        self,
        raw_error: Exception,
        return_type: GraphQLOutputType,
        field_details_list: Any,
        path: Path,
    ) -> None:
        if self.operation.operation is OperationType.MUTATION and path.prev is not None:
            # Null here, do not propagate.
            return_type = cast(GraphQLOutputType, get_nullable_type(return_type))
        super().handle_field_error(raw_error, return_type, field_details_list, path)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        middleware = self.middleware_manager
        if middleware is not None and getattr(middleware, "middlewares", None):
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        direct: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        fields = parent_type.fields
        for response_name, field_details_list in grouped_field_set.items():
            node = field_details_list[0].node
            value = self._direct_leaf(fields.get(node.name.value), node, source_value)
            if value is Undefined:
                rest[response_name] = field_details_list
            else:
                direct[response_name] = value
        if not direct:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        if not rest:
            return direct
        others = super().execute_fields(parent_type, source_value, path, rest, position_context)

        def merged(done: dict[str, Any]) -> dict[str, Any]:
            # In the document's order, as graphql-core would answer.
            return {
                name: direct[name] if name in direct else done[name]
                for name in grouped_field_set
                if name in direct or name in done
            }

        if self.is_awaitable(others):

            async def later() -> dict[str, Any]:
                return merged(await cast(Awaitable[dict[str, Any]], others))

            return later()
        return merged(cast(dict[str, Any], others))

    @staticmethod
    def _direct_leaf(field: Any, node: Any, source: Any) -> Any:
        """The serialized value of a directly readable leaf field, else Undefined."""
        if field is None or node.arguments:
            return Undefined
        read: Callable[[Any], Any] | None = getattr(field.resolve, "direct", None)
        if read is None:
            return Undefined
        field_type = field.type
        non_null = isinstance(field_type, GraphQLNonNull)
        leaf = field_type.of_type if non_null else field_type
        if not isinstance(leaf, Leaf):
            return Undefined
        try:
            value = read(source)
            if value is None:
                return Undefined if non_null else None
            serialized = leaf.serialize(value)
        except Exception:
            return Undefined
        if serialized is Undefined or serialized is None:
            return Undefined
        return serialized
