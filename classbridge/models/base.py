"""Column types and helpers shared by every table."""

import enum
import functools
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

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Callable[[Any], Any]:
        """What `process_result_value` does, in one call per value instead of three (the
        impl's parser, TypeDecorator's wrapper, then this type's): a schedule page reads
        about 2,000 timestamps."""
        return _utc_from_sqlite if dialect.name == "sqlite" else _utc_from_aware


@functools.lru_cache(maxsize=16_384)
def _utc_from_text(value: str) -> datetime:
    # Shared like UUIDs (models/db.py `_SharedHexUuid`): datetimes are immutable, and a
    # list repeats its rows' timestamps (a customer's on every booking).
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _utc_from_sqlite(value: str | None) -> datetime | None:
    """SQLite hands back the naive UTC text it was given."""
    return None if value is None else _utc_from_text(value)


def _utc_from_aware(value: datetime | None) -> datetime | None:
    """PostgreSQL (asyncpg) hands back aware UTC datetimes already."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_type(enum_cls: type[enum.Enum]) -> sa.Enum:
    """Enums are stored by name as plain strings: migrations never need ALTER TYPE."""
    return sa.Enum(enum_cls, native_enum=False, create_constraint=False, length=32)


def uuid_pk() -> Any:
    return Field(default_factory=uuid.uuid4, primary_key=True)


def created_at_field() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def timestamp_field(*, nullable: bool = True, index: bool = False) -> Any:
    if nullable:
        return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=index)
