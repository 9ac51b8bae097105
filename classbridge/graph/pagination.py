"""Relay cursor connections with opaque cursors (the sort key, base64-encoded JSON)."""

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import strawberry

from classbridge.models.errors import DomainError, invalid

T = TypeVar("T")
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None = None
    end_cursor: str | None = None


def _cursor(self: "Edge[Any]") -> str:
    return encode_cursor(self.key)


@strawberry.type
class Edge(Generic[T]):
    cursor: str = strawberry.field(resolver=_cursor)
    node: T
    # The row's sort key: its cursor is encoded only where a page selects it.
    key: strawberry.Private[Sequence[Any]]


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo


def check_page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE_SIZE
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise invalid(f"first must be between 1 and {MAX_PAGE_SIZE}", loc=("first",))
    return first


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(k) for k in key]).encode()).decode()


# Our cursors hold a sort key of a few short strings; anything longer was not made by us.
MAX_CURSOR_LENGTH = 1000


def _not_a_cursor() -> DomainError:
    return invalid("after is not a valid cursor", loc=("after",))


def check_cursor(cursor: str) -> list[str]:
    """The strings inside a cursor, if it has the shape of one we issue; else VALIDATION.

    Cheap and schema-independent, so it runs before execution for every `after` argument
    of a document; `decode_cursor` then parses the sort key of one listing.
    """
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _not_a_cursor()
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, binascii.Error, UnicodeError, RecursionError):
        raise _not_a_cursor() from None
    # Our cursors are lists of strings, without NUL (PostgreSQL cannot compare one).
    if not isinstance(raw, list) or not all(isinstance(k, str) and "\x00" not in k for k in raw):
        raise _not_a_cursor()
    return raw


def decode_cursor(cursor: str | None, parse: Callable[[list[str]], Any]) -> Any:
    """The sort key inside a cursor; a cursor we did not make is a VALIDATION error."""
    if cursor is None:
        return None
    raw = check_cursor(cursor)
    try:
        return parse(raw)
    except (ValueError, TypeError, IndexError, OverflowError):
        raise _not_a_cursor() from None


def cursor_time(text: str) -> datetime:
    """A moment from a cursor: we issue UTC times with their offset; anything else (a
    naive time, one whose offset overflows the calendar) was not ours (ValueError)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("cursor time without offset")
    return moment.astimezone(UTC)  # OverflowError at the ends of the calendar


def cursor_id(text: str) -> uuid.UUID:
    return uuid.UUID(text)


def connection(
    rows: list[Any],
    *,
    first: int,
    key: Callable[[Any], Sequence[Any]],
    node: Callable[[Any], T],
    after_given: bool,
    types: tuple[Any, Any, Any] = (Connection, Edge, PageInfo),
) -> Any:
    """Build a page from `first + 1` fetched rows (the extra row only says there is more).

    `types` are the schema's own (Connection, Edge, PageInfo) classes: the partner schema
    has its own, with its `Cursor` scalar.
    """
    connection_cls, edge_cls, page_info_cls = types
    page = rows[:first]
    edges = [edge_cls(node=node(row), key=key(row)) for row in page]
    return connection_cls(
        edges=edges,
        page_info=page_info_cls(
            has_next_page=len(rows) > first,
            has_previous_page=after_given,
            start_cursor=encode_cursor(edges[0].key) if edges else None,
            end_cursor=encode_cursor(edges[-1].key) if edges else None,
        ),
    )
