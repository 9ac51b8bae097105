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

What to do for each field of a selection (its reader, and a completer made for its type)
is worked out once per request and selection, and then applied to every object of the
page: a page of 100 sessions asked the same questions of the schema 100 times.
"""

import functools
from collections.abc import Awaitable, Callable
from enum import EnumMeta
from types import GeneratorType
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
from graphql.type.scalars import serialize_boolean, serialize_id, serialize_string
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

Leaf = GraphQLScalarType | GraphQLEnumType
_Step = tuple[str, Any, Callable[[Any], Any] | None, Callable[[Any], Any]]
"""A field of a selection: response name, field details, reader (None: not read in
place), completer."""
T = TypeVar("T")


def later(awaitable: Awaitable[T]) -> T:
    """A field that returns what its parent holds may, when the parent holds nothing,
    hand graphql-core a loader's awaitable instead (graphql-core awaits what a resolver
    returns); its declared type stays the field's type."""
    return cast(T, awaitable)


_NEVER_AWAITABLE: set[type] = set()


def is_awaitable(value: Any) -> bool:
    """Strawberry's check (graphql-core's, with a fast path for builtins), remembering
    the classes whose instances never are: a class without `__await__` that is no
    coroutine or generator. For any other object (the page's objects: sessions,
    bookings, customers) the check ended in a failed `hasattr(value, "__await__")`, which
    raises and catches an AttributeError, for every object completed."""
    kind = type(value)
    if kind in _NEVER_AWAITABLE:
        return False
    if optimized_is_awaitable(value):
        return True
    if (
        kind is not GeneratorType
        and not hasattr(kind, "__await__")
        and len(_NEVER_AWAITABLE) < 4096  # classes made at run time: bounded all the same
    ):
        _NEVER_AWAITABLE.add(kind)
    return False


class CommittedMutationExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor (graphql-core's), with the rule above, and `is_awaitable`."""

    _plans: dict[tuple[int, int], tuple[dict[str, Any], list[_Step]]]
    """This request's plans of the selections read in place (see `_fields_plan`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.is_awaitable = is_awaitable  # type: ignore[assignment]

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
        for response_name, field_details_list, read, complete in self._fields_plan(
            parent_type, grouped_field_set
        ):
            value = Undefined if read is None else _read_and_complete(read, complete, source_value)
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

    def _fields_plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: dict[str, Any]
    ) -> list[_Step]:
        """How to read each field of `grouped_field_set` in place (`read` None: never),
        worked out once per request for each selection: graphql-core hands every object
        of a list the same grouped fields (collect_subfields is memoized)."""
        try:
            plans = self._plans
        except AttributeError:
            plans = self._plans = {}
        key = (id(parent_type), id(grouped_field_set))
        held = plans.get(key)
        if held is not None and held[0] is grouped_field_set:
            return held[1]
        fields = parent_type.fields
        steps: list[_Step] = []
        for response_name, field_details_list in grouped_field_set.items():
            field = fields.get(field_details_list[0].node.name.value)
            read = _reader(field, field_details_list)
            complete = self._completer(field.type, field_details_list) if read else _never
            steps.append((response_name, field_details_list, read, complete))
        # The selection is kept with its plan, so its id cannot be taken by another.
        plans[key] = (grouped_field_set, steps)
        return steps

    def _completer(self, field_type: Any, field_details_list: Any) -> Callable[[Any], Any]:
        """A function that completes a value of `field_type` in place, or says Undefined
        (then the field takes graphql-core's way, which reports what went wrong)."""
        non_null = isinstance(field_type, GraphQLNonNull)
        inner = field_type.of_type if non_null else field_type
        absent = Undefined if non_null else None
        if isinstance(inner, Leaf):
            serialize = inner.serialize
            # A value already what the scalar answers with (a str for String and ID, a
            # bool for Boolean) is answered as it is, as graphql-core's serializer would.
            answered_as_is = _AS_IS.get(serialize, _NoType)
            members, names = _enum_names(inner)

            def leaf(value: Any) -> Any:
                if type(value) is answered_as_is:
                    return value
                if value is None:
                    return absent
                if type(value) is members and value in names:
                    return names[value]
                try:
                    serialized = serialize(value)
                except Exception:
                    return Undefined
                return Undefined if serialized is None else serialized

            return leaf
        if isinstance(inner, GraphQLList):
            item = self._completer(inner.of_type, field_details_list)

            def items(value: Any) -> Any:
                if value is None:
                    return absent
                if not isinstance(value, list | tuple):
                    return Undefined
                completed = []
                for one in value:
                    done = item(one)
                    if done is Undefined:
                        return Undefined
                    completed.append(done)
                return completed

            return items
        if not isinstance(inner, GraphQLObjectType) or inner.is_type_of is not None:
            return _never
        plan: list[tuple[str, Callable[[Any], Any] | None, Any]] | None = None
        is_awaitable = self.is_awaitable

        def obj(value: Any) -> Any:
            nonlocal plan
            if value is None:
                return absent
            if is_awaitable(value):
                return Undefined
            if plan is None:  # on first use: a field that is always null needs none
                plan = self._object_plan(inner, field_details_list)
            completed: dict[str, Any] = {}
            for response_name, read, complete in plan:
                if read is None:
                    completed[response_name] = complete  # __typename
                    continue
                # `_read_and_complete`, inlined: this runs for every field of every object.
                try:
                    held = read(value)
                except (Exception, NeedsInfo):
                    return Undefined
                if held is Undefined:
                    return Undefined
                done = complete(held)
                if done is Undefined:
                    return Undefined
                completed[response_name] = done
            return completed

        return obj

    def _object_plan(
        self, inner: GraphQLObjectType, field_details_list: Any
    ) -> list[tuple[str, Callable[[Any], Any] | None, Any]]:
        """The steps completing an object in place; one that cannot be (a deferred
        fragment, a field not read directly) gets a single step that always fails."""
        grouped, defer_usages, _ = self.collect_subfields(inner, field_details_list)
        if defer_usages:
            return [("", _never, _never)]
        fields = inner.fields
        steps: list[tuple[str, Callable[[Any], Any] | None, Any]] = []
        for response_name, sub_details in grouped.items():
            name = sub_details[0].node.name.value
            if name == "__typename":
                steps.append((response_name, None, inner.name))
                continue
            field = fields.get(name)
            read = _reader(field, sub_details)
            if read is None:
                return [("", _never, _never)]
            steps.append((response_name, read, self._completer(field.type, sub_details)))
        return steps


def _never(_value: Any) -> Any:
    return Undefined


class _NoType:
    """No value is of this type: a leaf without an as-is answer."""


_AS_IS: dict[Callable[[Any], Any], type] = {
    serialize_string: str,
    serialize_id: str,
    serialize_boolean: bool,
}
"""graphql-core's serializers that answer a value of this exact type with the value."""


@functools.cache
def _enum_names(leaf: Leaf) -> tuple[type, dict[Any, str]]:
    """A Strawberry enum type's Python class and each member's GraphQL name: what its
    serializer answers, found by a scan of all the type's values for every value
    completed (a booking's status and source, on every row of a list)."""
    members = getattr(leaf, "wrapped_cls", None)
    if not isinstance(leaf, GraphQLEnumType) or not isinstance(members, EnumMeta):
        return _NoType, {}
    names: dict[Any, str] = {}
    member: Any
    for member in members:
        try:
            names[member] = leaf.serialize(member)
        except Exception:  # a member the schema leaves out: serialized as it was (refused)
            continue
    return members, names


def _reader(field: Any, field_details_list: Any) -> Callable[[Any], Any] | None:
    """The field's reader of its parent, for a field read directly without arguments."""
    if field is None or field_details_list[0].node.arguments:
        return None
    return getattr(field.resolve, "direct", None)


def _read_and_complete(
    read: Callable[[Any], Any], complete: Callable[[Any], Any], source: Any
) -> Any:
    try:
        value = read(source)
    except (Exception, NeedsInfo):
        return Undefined
    if value is Undefined:
        return Undefined
    return complete(value)


class NeedsInfo(BaseException):
    """Raised by `NO_INFO` when a directly read field turns out to need its info (what its
    parent holds was not enough): the field takes the ordinary path. A BaseException, so
    that a resolver's `except Exception` cannot swallow it."""


class _NoInfo:
    """The info handed to a field read directly: any use of it means "not directly"."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsInfo(name)


NO_INFO: Any = _NoInfo()
