"""Activities (class types) with their registration rules."""

import enum
import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, uuid_pk
from classbridge.models.fields import NAME_LENGTH, SPORT_LENGTH, TEXT_LENGTH


class ActivityKind(enum.StrEnum):
    CLASS = "CLASS"
    """A group class with a fixed schedule."""
    TRAINING = "TRAINING"
    """A training slot (personal or small group)."""
    WORKSHOP = "WORKSHOP"
    """A one-off event."""
    COURSE = "COURSE"
    """A series of sessions booked as a whole."""


class Activity(SQLModel, table=True):
    """A class type; its sessions inherit its registration rules unless they override them."""

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=NAME_LENGTH)
    description: str | None = Field(default=None, max_length=TEXT_LENGTH)
    sport: str = Field(default="Fitness", max_length=SPORT_LENGTH)
    kind: ActivityKind = Field(default=ActivityKind.CLASS, sa_type=enum_type(ActivityKind))
    default_duration_minutes: int = 60
    archived: bool = False
    # Registration rules. Offsets are minutes before the session's start.
    max_participants: int | None = None
    booking_opens_minutes: int | None = None
    booking_closes_minutes: int | None = None
    free_cancellation_minutes: int = 0
    allow_aggregator_bookings: bool = False
    aggregator_limit: int | None = None
    waitlist_size: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    """0: no waitlist."""
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)
