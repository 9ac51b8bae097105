"""Sessions: the appointments of an activity at a venue."""

import enum
import uuid
from datetime import date, datetime, time

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, uuid_pk
from classbridge.models.fields import REASON_LENGTH, ROOM_LENGTH, TEACHER_LENGTH


class AggregatorMode(enum.StrEnum):
    FOLLOW_ACTIVITY = "FOLLOW_ACTIVITY"
    """Use the activity's "allow bookings from aggregators" and limit."""
    INDIVIDUAL = "INDIVIDUAL"
    """This session has its own setting (allow or deny, limit)."""


WEEKDAYS_LENGTH = 13
"""ISO weekdays as "1,3,5": at most all seven."""


class SessionSeries(SQLModel, table=True):
    """Sessions scheduled together (a weekly repeat), and the template the series goes on
    with: a series without `until` is scheduled ahead for a rolling horizon."""

    __tablename__ = "session_series"

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    activity_id: uuid.UUID = Field(foreign_key="activity.id", ondelete="CASCADE")
    venue_id: uuid.UUID = Field(foreign_key="venue.id", ondelete="CASCADE")
    weekdays: str = Field(max_length=WEEKDAYS_LENGTH)
    start_time: time
    """Venue-local wall-clock time of every session."""
    duration_minutes: int
    room: str | None = Field(default=None, max_length=ROOM_LENGTH)
    teacher: str | None = Field(default=None, max_length=TEACHER_LENGTH)
    capacity_override: int | None = None
    aggregator_mode: AggregatorMode = Field(
        default=AggregatorMode.FOLLOW_ACTIVITY, sa_type=enum_type(AggregatorMode)
    )
    aggregator_allowed: bool = False
    aggregator_limit: int | None = None
    first_date: date
    until: date | None = None
    """Last local day (inclusive); None: a rolling series, extended by a periodic job."""
    scheduled_through: date
    """Sessions exist for every chosen weekday up to this local day."""
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)

    @property
    def weekday_set(self) -> set[int]:
        return {int(d) for d in self.weekdays.split(",") if d}


class ClassSession(SQLModel, table=True):
    """One appointment of an activity. Times are UTC; `version` grows with every change
    an aggregator can see, so receivers can drop stale updates."""

    __tablename__ = "class_session"
    __table_args__ = (sa.Index("ix_class_session_company_start", "company_id", "starts_at"),)

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", ondelete="CASCADE")
    activity_id: uuid.UUID = Field(foreign_key="activity.id", index=True, ondelete="CASCADE")
    venue_id: uuid.UUID = Field(foreign_key="venue.id", index=True, ondelete="CASCADE")
    series_id: uuid.UUID | None = Field(
        default=None, foreign_key="session_series.id", index=True, ondelete="SET NULL"
    )
    starts_at: datetime = timestamp_field(nullable=False)
    ends_at: datetime = timestamp_field(nullable=False)
    room: str | None = Field(default=None, max_length=ROOM_LENGTH)
    teacher: str | None = Field(default=None, max_length=TEACHER_LENGTH)
    capacity_override: int | None = None
    aggregator_mode: AggregatorMode = Field(
        default=AggregatorMode.FOLLOW_ACTIVITY, sa_type=enum_type(AggregatorMode)
    )
    aggregator_allowed: bool = False
    aggregator_limit: int | None = None
    cancelled_at: datetime | None = timestamp_field()
    cancellation_reason: str | None = Field(default=None, max_length=REASON_LENGTH)
    version: int = 1
    # Grows with every sign-in event (booking change, edit, cancellation), under the
    # session's row lock, so live dashboards can put events back into commit order.
    sign_in_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False, index=True)

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None
