"""How operations execute: a committed change is always reported as committed.

A root mutation field commits its change before it returns; its result's fields resolve
afterwards. By the spec, an error in one of them (a nested page that fails, a database
hiccup) would travel up the non-null types to `data: null`, and the client would believe
nothing happened. Below a root mutation field, an error nulls only the field that failed
(its error is in `errors[]`, with its path), so the mutation's result always arrives.
Errors of the root mutation field itself (a refusal: nothing was written) and of queries
follow the spec.

Fields read directly: a field whose resolver only reads its parent (graph/errors.py
`read_attributes_directly` marks it `direct`), without arguments, is read and completed
in place, without graphql-core's per-field machinery (an info object, a path, value
completion, a coroutine per list): on a page of 100 sessions those were most of the
time. That holds for leaves (scalars and enums, serialized in place), for objects whose
selected fields are all read directly in turn (completed in place, recursively), and for
lists of either. Anything unusual — no value where the schema says non-null, an
exception, a serialization refusal, a value the parent does not hold (the reader says
so with `Undefined`), a type with `is_type_of`, a deferred fragment, a field with a
permission or extension (never marked direct) — takes the ordinary path for that
field, which reports it as graphql-core would.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from graphql import (
    GraphQLEnumType,
    GraphQLList,
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
            value = self._direct(fields.get(node.name.value), field_details_list, source_value)
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

    def _direct(self, field: Any, field_details_list: Any, source: Any) -> Any:
        """The completed value of a directly readable field, else Undefined."""
        if field is None:
            return Undefined
        read: Callable[[Any], Any] | None = getattr(field.resolve, "direct", None)
        if read is None or field_details_list[0].node.arguments:
            return Undefined
        try:
            value = read(source)
        except (Exception, NeedsInfo):
            return Undefined
        if value is Undefined:
            return Undefined
        return self._complete_in_place(field.type, field_details_list, value)

    def _complete_in_place(self, field_type: Any, field_details_list: Any, value: Any) -> Any:
        non_null = isinstance(field_type, GraphQLNonNull)
        inner = field_type.of_type if non_null else field_type
        if value is None:
            return Undefined if non_null else None
        if isinstance(inner, Leaf):
            try:
                serialized = inner.serialize(value)
            except Exception:
                return Undefined
            if serialized is Undefined or serialized is None:
                return Undefined
            return serialized
        if isinstance(inner, GraphQLList):
            if not isinstance(value, list | tuple):
                return Undefined
            item_type = inner.of_type
            items = []
            for item in value:
                completed = self._complete_in_place(item_type, field_details_list, item)
                if completed is Undefined:
                    return Undefined
                items.append(completed)
            return items
        if not isinstance(inner, GraphQLObjectType) or inner.is_type_of is not None:
            return Undefined
        if self.is_awaitable(value):
            return Undefined
        grouped, defer_usages, _ = self.collect_subfields(inner, field_details_list)
        if defer_usages:
            return Undefined
        fields = inner.fields
        completed_object: dict[str, Any] = {}
        for response_name, sub_details in grouped.items():
            name = sub_details[0].node.name.value
            if name == "__typename":
                completed_object[response_name] = inner.name
                continue
            sub = self._direct(fields.get(name), sub_details, value)
            if sub is Undefined:
                return Undefined
            completed_object[response_name] = sub
        return completed_object


class NeedsInfo(BaseException):
    """Raised by `NO_INFO` when a directly read field turns out to need its info (what its
    parent holds was not enough): the field takes the ordinary path. A BaseException, so
    that a resolver's `except Exception` cannot swallow it."""


class _NoInfo:
    """The info handed to a field read directly: any use of it means "not directly"."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsInfo(name)


NO_INFO: Any = _NoInfo()
