"""Custom scalars; register them with a schema through `scalar_config()`."""

from datetime import datetime
from typing import NewType

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.types.scalar import ScalarDefinition

LocalDateTime = NewType("LocalDateTime", datetime)


def _parse_local(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("LocalDateTime must be a string like 2026-03-29T18:00")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        raise ValueError("LocalDateTime has no UTC offset: give the venue's wall-clock time")
    return parsed


SCALARS: dict[object, ScalarDefinition] = {
    LocalDateTime: strawberry.scalar(
        name="LocalDateTime",
        description="A venue-local wall-clock time without offset, e.g. 2026-03-29T18:00.",
        serialize=lambda v: v.strftime("%Y-%m-%dT%H:%M:%S"),
        parse_value=_parse_local,
    )
}


def scalar_config() -> StrawberryConfig:
    return StrawberryConfig(scalar_map=SCALARS)
