"""Column types and helpers shared by every table."""

import enum
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Named constraints, so migrations can address them on SQLite and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend.

    SQLite has no time zones: values are stored as naive UTC and handed back aware,
    so domain code never compares naive and aware datetimes.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Callable[[Any], Any] | None:
        """What `process_result_value` does, in one call per value instead of three (the
        impl's parser, TypeDecorator's wrapper, then this type's): a schedule page reads
        about 2,000 timestamps."""
        if dialect.name == "sqlite":  # the naive UTC text it was given
            return _UTC_FROM_TEXT.__getitem__
        if dialect.driver == "asyncpg":  # aware UTC datetimes, whatever the session's zone
            return None
        return _utc_from_aware


class Interned(dict[Any, Any]):
    """Values parsed from the text a column holds, by that text (None for None), shared:
    what SQLite hands back as text for immutable values (UUIDs, timestamps), which a list
    repeats from row to row (a venue's id, a customer's on every booking). The result
    processor is the dict's own `__getitem__`: a value seen before costs one lookup in C,
    no Python call (an `lru_cache` behind a None check cost ~0.3 µs a value, and a
    schedule page reads ~4,500). Bounded: emptied when `limit` values are held."""

    def __init__(self, parse: Callable[[str], Any], limit: int) -> None:
        super().__init__({None: None})
        self._parse = parse
        self._limit = limit

    def __missing__(self, text: str | None) -> Any:
        if text is None:  # emptied by another thread this moment
            return None
        if len(self) >= self._limit:
            self.clear()
            self[None] = None
        value = self[text] = self._parse(text)
        return value


def _utc_from_text(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_UTC_FROM_TEXT = Interned(_utc_from_text, 16_384)


def _utc_from_aware(value: datetime | None) -> datetime | None:
    """PostgreSQL (asyncpg) hands back aware UTC datetimes already."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Enum(sa.Enum):
    """SQLAlchemy's Enum, whose values read back through its lookup's `__getitem__` (a
    lookup in C) instead of a Python function per value: a schedule page reads ~1,100.
    A name it does not know raises KeyError (a LookupError, as SQLAlchemy raises)."""

    cache_ok = True

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Callable[[Any], Any]:
        if sa.String.result_processor(self, dialect, coltype) is not None:  # never, so far
            return super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call, no-any-return]
        return self._object_lookup.__getitem__


def enum_type(enum_cls: type[enum.Enum]) -> sa.Enum:
    """Enums are stored by name as plain strings: migrations never need ALTER TYPE."""
    return _Enum(enum_cls, native_enum=False, create_constraint=False, length=32)


def uuid_pk() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def timestamp_field(*, nullable: bool = True, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)
