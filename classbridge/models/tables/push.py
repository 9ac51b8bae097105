"""Delivery state of the push: per (session, aggregator), what is owed and what the
aggregator acknowledged."""

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from classbridge.models.base import enum_type, timestamp_field
from classbridge.models.tables.aggregator import Aggregator

MAX_ERROR_LENGTH = 2000


class PushState(enum.StrEnum):
    OFFERED = "OFFERED"
    """The aggregator shows the session and may book it."""
    CANCELLED = "CANCELLED"
    """The studio cancelled the session; the aggregator cancels its members' bookings."""
    REMOVED = "REMOVED"
    """No longer offered (setting off, extension deactivated): stop showing it."""
    NOT_OFFERED = "NOT_OFFERED"
    """Never offered to this aggregator: nothing was sent, nothing needs sending."""


# States in which the aggregator knows the session, so later changes must reach it.
KNOWN_STATES = (PushState.OFFERED, PushState.CANCELLED)


class PushDelivery(SQLModel, table=True):
    """What one aggregator has of one session, and whether a newer state is owed."""

    __tablename__ = "push_delivery"
    __table_args__ = (
        sa.UniqueConstraint("session_id", "aggregator"),
        sa.Index("ix_push_delivery_due", "aggregator", "pending", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    session_id: uuid.UUID = Field(foreign_key="class_session.id", ondelete="CASCADE")
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator))
    pending: bool = True
    # Grows each time the row is marked pending, so an acknowledgement for an older claim
    # cannot clear a change that arrived while it was in flight.
    pending_gen: int = 1
    attempts: int = 0
    next_attempt_at: datetime | None = timestamp_field()
    lease_token: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = timestamp_field()
    acked_version: int | None = None
    acked_state: PushState | None = Field(default=None, sa_type=enum_type(PushState))
    # Digest of the acknowledged content (the pushed state without version and updatedAt):
    # the reconciliation compares content, so a change that missed its version bump is
    # still repaired (with a new version).
    acked_digest: str | None = Field(default=None, max_length=64)
    acked_at: datetime | None = timestamp_field()
    last_attempt_at: datetime | None = timestamp_field()
    failed_at: datetime | None = timestamp_field()
    last_error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH)


class ReservationDelivery(SQLModel, table=True):
    """What one aggregator has been told of one of its reservations (an aggregator booking)
    that the studio side changed, and whether a newer state is owed.

    `version` grows with every change noted by `outbox.note_reservation_change`; the push
    sends the booking's state at that moment with this version (docs/aggregator-push.md,
    "Reservation events")."""

    __tablename__ = "reservation_delivery"
    __table_args__ = (
        sa.Index("ix_reservation_delivery_due", "aggregator", "pending", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    booking_id: uuid.UUID = Field(foreign_key="booking.id", unique=True, ondelete="CASCADE")
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator))
    version: int = 1
    pending: bool = True
    pending_gen: int = 1
    attempts: int = 0
    next_attempt_at: datetime | None = timestamp_field()
    lease_token: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = timestamp_field()
    acked_version: int | None = None
    acked_at: datetime | None = timestamp_field()
    last_attempt_at: datetime | None = timestamp_field()
    failed_at: datetime | None = timestamp_field()
    last_error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH)


class WaitlistDelivery(SQLModel, table=True):
    """What one aggregator has been told of one of its members' waitlist entries that the
    studio side changed (promoted, expired, ended by staff), and whether a newer state is
    owed. The same columns and rules as `ReservationDelivery`, keyed by the entry
    (docs/aggregator-push.md, "Waitlist events")."""

    __tablename__ = "waitlist_delivery"
    __table_args__ = (
        sa.Index("ix_waitlist_delivery_due", "aggregator", "pending", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    entry_id: uuid.UUID = Field(foreign_key="waitlist_entry.id", unique=True, ondelete="CASCADE")
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator))
    version: int = 1
    pending: bool = True
    pending_gen: int = 1
    attempts: int = 0
    next_attempt_at: datetime | None = timestamp_field()
    lease_token: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = timestamp_field()
    acked_version: int | None = None
    acked_at: datetime | None = timestamp_field()
    last_attempt_at: datetime | None = timestamp_field()
    failed_at: datetime | None = timestamp_field()
    last_error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH)


EventDeliveryTable = type[ReservationDelivery] | type[WaitlistDelivery]
# Every table of signed events besides session states, each with its own rows and leases.
EVENT_DELIVERY_TABLES: tuple[EventDeliveryTable, ...] = (ReservationDelivery, WaitlistDelivery)
"""The delivery tables of events (one row per reservation or waitlist entry), claimed,
acknowledged and retried by the same functions (models/push/claims.py)."""
