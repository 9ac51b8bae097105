"""Inputs of sessions: scheduling, editing, filtering."""

import uuid
from datetime import date, time

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from classbridge.models.fields import (
    REFUSED,
    AggregatorLimit,
    Capacity,
    Day,
    DurationMinutes,
    NotNull,
    Room,
    Teacher,
    WallClockTime,
    Weekday,
)
from classbridge.models.tables.session import AggregatorMode
from classbridge.models.validation import Input


class WeeklyRepeat(Input):
    """Repeat weekly on these ISO weekdays until a date (venue-local, inclusive); without
    `until`, for a rolling horizon that a periodic job keeps extending."""

    weekdays: list[Weekday] = Field(min_length=1)
    until: Day | None = None


class SessionSchedule(Input):
    """One session, or a weekly series; times are venue-local wall-clock times."""

    activity_id: uuid.UUID
    venue_id: uuid.UUID
    start: WallClockTime
    duration_minutes: DurationMinutes | None = None
    """None: the activity's default duration."""
    room: Room = None
    teacher: Teacher = None
    capacity_override: Capacity | None = None
    repeat: WeeklyRepeat | None = None


class SessionEdit(Input):
    """Fields left out keep their value; null clears an override."""

    start: NotNull[WallClockTime] = None
    duration_minutes: NotNull[DurationMinutes] = None
    room: Room = None
    teacher: Teacher = None
    capacity_override: Capacity | None = None
    aggregator_mode: NotNull[AggregatorMode] = None
    aggregator_allowed: NotNull[bool] = None
    aggregator_limit: AggregatorLimit | None = None


class SeriesEdit(Input):
    """A change to every session of a series from a date on; fields left out keep their
    value, null clears an override. `start_time` is the new venue-local time of day."""

    start_time: NotNull[time] = None
    duration_minutes: NotNull[DurationMinutes] = None
    room: Room = None
    teacher: Teacher = None
    capacity_override: Capacity | None = None
    aggregator_mode: NotNull[AggregatorMode] = None
    aggregator_allowed: NotNull[bool] = None
    aggregator_limit: AggregatorLimit | None = None


class SessionFilter(Input):
    """Which sessions to list. Dates are local days of each session's own venue."""

    venue_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    from_date: date | None = None
    """First local day (inclusive)."""
    to_date: date | None = None
    """Last local day (inclusive)."""
    cancelled: bool | None = None

    @field_validator("to_date")
    @classmethod
    def _not_before_from_date(cls, value: date | None, info: ValidationInfo) -> date | None:
        first = info.data.get("from_date")
        if value is not None and first is not None and value < first:
            raise PydanticCustomError(REFUSED, "must not be before the from date")
        return value
