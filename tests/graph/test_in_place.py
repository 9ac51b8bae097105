"""Objects and lists completed in place (graph/execution.py) answer exactly as graphql-core's
ordinary path would — values, nulls, errors and their paths — and never skip a field's
permission or a value the parent does not hold. Each document runs on two schemas built
alike: one with our executor, one with strawberry's own (the ordinary path throughout)."""

import enum
from types import CoroutineType, GeneratorType, SimpleNamespace
from typing import Any

import pytest
import strawberry
from graphql import FieldNode, FragmentDefinitionNode, OperationDefinitionNode, parse
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import Info

from classbridge.graph.errors import CodedSchema
from classbridge.graph.execution import _NEVER_AWAITABLE, is_awaitable, later
from classbridge.graph.selection import selects

CALLS: list[str] = []


class Never(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        CALLS.append("permission")
        return False


@strawberry.enum
class Size(enum.Enum):
    SMALL = "s"
    LARGE = "l"


@strawberry.type
class Tag:
    name: str
    weight: int | None = None

    @strawberry.field
    def shout(self) -> str:
        if self.name == "boom":
            raise ValueError("no shouting")
        return self.name.upper()

    @strawberry.field
    def must(self) -> str:
        return None  # type: ignore[return-value]  # a broken resolver: non-null, None

    @strawberry.field(permission_classes=[Never])
    def secret(self) -> str | None:
        return "secret"

    # Values not of the scalar's own type (a str subclass, an int for a String, 1 for a
    # Boolean, an int for an ID): serialized as graphql-core serializes them, never
    # passed on as they are.
    @strawberry.field
    def label(self) -> str:
        return {"a": _Shade.DARK, "b": 7, "c": True}.get(self.name, self.name)  # type: ignore[return-value]

    # An enum answers its members by their GraphQL names (in place: from a table made
    # once); its raw value is answered as graphql-core would, anything else refused.
    @strawberry.field
    def size(self) -> Size | None:
        values = {"a": Size.SMALL, "b": Size.LARGE, "c": "l", "boom": "huge"}
        return values.get(self.name)  # type: ignore[return-value]

    @strawberry.field
    def flag(self) -> bool:
        return 1 if self.name == "a" else self.name == "b"  # type: ignore[return-value]

    @strawberry.field
    def key(self) -> strawberry.ID:
        return 42 if self.name == "a" else strawberry.ID(self.name)  # type: ignore[return-value]


class _Shade(enum.StrEnum):
    DARK = "dark"


@strawberry.type
class Item:
    id: strawberry.ID
    tags: list[Tag]
    held: strawberry.Private[Tag | None] = None

    @strawberry.field
    def main(self) -> Tag:
        return self.tags[0]

    @strawberry.field
    def maybe(self) -> Tag | None:
        return self.tags[0] if len(self.tags) > 1 else None

    @strawberry.field
    def first(self, info: Info) -> Tag:
        """Held, or loaded (an awaitable) when the item holds nothing."""
        if self.held is not None:
            return self.held

        async def load() -> Tag:
            CALLS.append(f"load {info.path.key}")
            return Tag(name="loaded")

        return later(load())


def _items() -> list[Item]:
    return [
        Item(
            id=strawberry.ID("1"), tags=[Tag(name="a", weight=1), Tag(name="b")], held=Tag(name="h")
        ),
        Item(id=strawberry.ID("2"), tags=[Tag(name="c")]),
        Item(id=strawberry.ID("3"), tags=[Tag(name="boom", weight=3)], held=Tag(name="boom")),
    ]


@strawberry.type
class Query:
    @strawberry.field
    async def items(self) -> list[Item]:
        return _items()


def _schemas() -> tuple[CodedSchema, CodedSchema]:
    ours = CodedSchema(query=Query)
    ordinary = CodedSchema(
        query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext
    )
    return ours, ordinary


def _plain(result: Any) -> dict[str, Any]:
    errors = sorted((e.message, tuple(e.path or ())) for e in result.errors or [])
    return {"data": result.data, "errors": errors}


DOCUMENTS = [
    "{ items { id tags { name weight } main { name } maybe { name } } }",
    "{ items { __typename id x: tags { n: name __typename } ...F } } "
    "fragment F on Item { main { ... on Tag { weight } } }",
    "{ items { tags { name shout } } }",  # item 3's shout raises: only that field is null
    "{ items { main { must } } }",  # non-null None: the error travels up to the item
    "{ items { main { name secret } } }",  # a permission: always asked, always refused
    "{ items { first { name } } }",  # held on items 1 and 3, loaded on item 2
    "query($w: Boolean!) { items { tags { name weight @include(if: $w) } } }",
    # One field, two selections: each gets its own plan (planned once per request).
    "{ items { a: main { name } b: main { weight shout } t: tags { name } u: tags { weight } } }",
    "{ items { maybe { name } first { shout } } }",  # null on some items, held or loaded
    "{ items { id tags { label flag key } } }",  # leaves of other types than the scalar's
    "{ items { tags { name size } } }",  # enum members, a raw value, an invalid one
]


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_in_place_answers_as_the_ordinary_path(document: str) -> None:
    ours, ordinary = _schemas()
    variables = {"w": False} if "$w" in document else None
    CALLS.clear()
    expected = _plain(await ordinary.execute(document, variable_values=variables))
    ordinary_calls = sorted(CALLS)
    CALLS.clear()
    got = _plain(await ours.execute(document, variable_values=variables))
    assert got == expected
    assert sorted(CALLS) == ordinary_calls


async def test_a_value_the_parent_does_not_hold_is_loaded_not_guessed() -> None:
    ours, _ = _schemas()
    CALLS.clear()
    result = await ours.execute("{ items { first { name } } }")
    assert result.errors is None
    assert [i["first"]["name"] for i in result.data["items"]] == ["h", "loaded", "boom"]
    assert CALLS == ["load first"]


async def test_a_refused_permission_is_reported_for_every_item() -> None:
    ours, _ = _schemas()
    CALLS.clear()
    result = await ours.execute("{ items { main { name secret } } }")
    assert CALLS == ["permission"] * 3
    assert result.data is not None
    assert [i["main"] for i in result.data["items"]] == [
        {"name": "a", "secret": None},
        {"name": "c", "secret": None},
        {"name": "boom", "secret": None},
    ]
    assert [(e.message, e.path) for e in result.errors or []] == [
        ("not for you", ["items", n, "main", "secret"]) for n in range(3)
    ]


def _info(document: str) -> Any:
    """What `selects` reads of an info: the root field's nodes and the fragments."""
    definitions = parse(document).definitions
    operation = next(d for d in definitions if isinstance(d, OperationDefinitionNode))
    root = operation.selection_set.selections[0]
    assert isinstance(root, FieldNode)
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    return SimpleNamespace(field_nodes=[root], fragments=fragments)


def test_selects_follows_fields_fragments_and_inline_fragments() -> None:
    path = ("edges", "node", "bookings")
    assert selects(_info("{ sessions { edges { node { bookings { id } } } } }"), *path)
    assert selects(
        _info(
            "{ sessions { edges { ...E } } } fragment E on SessionEdge { node { ...N } } "
            "fragment N on Session { ... on Session { bookings { id } } }"
        ),
        *path,
    )
    assert not selects(_info("{ sessions { edges { node { id } } } }"), *path)
    assert not selects(_info("{ sessions { pageInfo { hasNextPage } } }"), *path)


async def test_is_awaitable_remembers_plain_classes_and_still_finds_awaitables() -> None:
    """graph/execution.py `is_awaitable`: what strawberry's check says, for a value of a
    class seen before as for a new one; a class is remembered only when none of its
    instances can be awaited."""

    class Plain:
        pass

    class Waitable:
        def __await__(self) -> Any:
            return iter(())

    async def coroutine() -> None:
        return None

    def generator() -> Any:
        yield None

    for _ in range(2):  # the second time, from what the first remembered
        assert not is_awaitable(Plain()) and not is_awaitable(SimpleNamespace(a=1))
        assert is_awaitable(Waitable())
        assert not is_awaitable(generator())
        pending = coroutine()
        assert is_awaitable(pending)
        await pending
    assert Plain in _NEVER_AWAITABLE and SimpleNamespace in _NEVER_AWAITABLE
    assert not {Waitable, CoroutineType, GeneratorType} & _NEVER_AWAITABLE
    assert all(not hasattr(kind, "__await__") for kind in _NEVER_AWAITABLE)
