"""Waitlist entries: a customer waiting for a spot in a full session, in order."""

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, uuid_pk
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.booking import BookingSource


class WaitlistStatus(enum.StrEnum):
    WAITING = "WAITING"
    """In line for a spot."""
    PROMOTED = "PROMOTED"
    """Became a booking (`booking_id`)."""
    LEFT = "LEFT"
    """Left the waitlist (or was booked directly)."""
    EXPIRED = "EXPIRED"
    """The booking window closed before a spot freed."""


class WaitlistEntry(SQLModel, table=True):
    """One customer's place on a session's waitlist. `position` is given under the
    session's row lock, so it is the strict order of joining; promotion follows it."""

    __tablename__ = "waitlist_entry"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "position"),
        # One waiting entry per customer and session (ended ones may repeat).
        sa.Index(
            "uq_waitlist_waiting_customer",
            "session_id",
            "customer_id",
            unique=True,
            sqlite_where=sa.text("status = 'WAITING'"),
            postgresql_where=sa.text("status = 'WAITING'"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    session_id: uuid.UUID = Field(foreign_key="class_session.id", index=True, ondelete="CASCADE")
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    product_id: uuid.UUID = Field(foreign_key="product.id")
    """The product the booking will carry (the aggregator's built-in one for members)."""
    source: BookingSource = Field(sa_type=enum_type(BookingSource))
    aggregator: Aggregator | None = Field(default=None, sa_type=enum_type(Aggregator))
    position: int
    status: WaitlistStatus = Field(
        default=WaitlistStatus.WAITING, sa_type=enum_type(WaitlistStatus)
    )
    booking_id: uuid.UUID | None = Field(default=None, foreign_key="booking.id")
    joined_at: datetime = created_at_field()
    ended_at: datetime | None = timestamp_field()
    updated_at: datetime = timestamp_field(nullable=False)
