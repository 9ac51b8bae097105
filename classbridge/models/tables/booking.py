"""Bookings: a customer's place in a session, how it was made and where it stands."""

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, uuid_pk
from classbridge.models.fields import EXTERNAL_ID_LENGTH
from classbridge.models.tables.aggregator import Aggregator


class BookingSource(enum.StrEnum):
    STAFF = "STAFF"
    """Booked by staff at the desk or on the phone."""
    CUSTOMER = "CUSTOMER"
    """Booked by the customer in the studio's own app."""
    AGGREGATOR = "AGGREGATOR"
    """Booked by an aggregator's member through the partner API."""


class BookingStatus(enum.StrEnum):
    BOOKED = "BOOKED"
    """Holds a spot."""
    CANCELLED = "CANCELLED"
    """Gave its spot back."""
    CHECKED_IN = "CHECKED_IN"
    """Signed in at the door."""
    NO_SHOW = "NO_SHOW"
    """Held a spot but did not come."""


class CancellationType(enum.StrEnum):
    NONE = "NONE"
    """Not cancelled."""
    SESSION = "SESSION"
    """The studio cancelled the session."""
    EARLY = "EARLY"
    """Cancelled within the free cancellation period."""
    LATE = "LATE"
    """Cancelled after the free cancellation period."""


LIVE_STATUSES = (BookingStatus.BOOKED, BookingStatus.CHECKED_IN, BookingStatus.NO_SHOW)


class Booking(SQLModel, table=True):
    """A customer's place in a session."""

    __table_args__ = (
        # One live booking per customer and session; cancelled ones may repeat. This
        # constraint is the last line of defence behind the check in `book`.
        sa.Index(
            "uq_booking_live_customer",
            "session_id",
            "customer_id",
            unique=True,
            sqlite_where=sa.text("status != 'CANCELLED'"),
            postgresql_where=sa.text("status != 'CANCELLED'"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    session_id: uuid.UUID = Field(foreign_key="class_session.id", index=True, ondelete="CASCADE")
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    product_id: uuid.UUID = Field(foreign_key="product.id")
    source: BookingSource = Field(sa_type=enum_type(BookingSource))
    aggregator: Aggregator | None = Field(default=None, sa_type=enum_type(Aggregator))
    status: BookingStatus = Field(default=BookingStatus.BOOKED, sa_type=enum_type(BookingStatus))
    cancellation_type: CancellationType = Field(
        default=CancellationType.NONE, sa_type=enum_type(CancellationType)
    )
    booked_at: datetime = created_at_field()
    cancelled_at: datetime | None = timestamp_field()
    checked_in_at: datetime | None = timestamp_field()
    updated_at: datetime = timestamp_field(nullable=False)


class BookingHistory(SQLModel, table=True):
    """Append-only: one row per booking status change, written in the same transaction.

    It records what the change was about as it was then — the session's venue, activity
    and venue-local date, the aggregator's member id — so reports built from it (the
    aggregator visit report) do not change when a session is edited later. A correction
    is a new row; nothing here is ever updated or deleted (except with its company).
    """

    __tablename__ = "booking_history"
    __table_args__ = (
        sa.Index("ix_booking_history_report", "company_id", "session_local_date"),
        sa.Index("ix_booking_history_booking", "booking_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="company.id", ondelete="CASCADE")
    booking_id: uuid.UUID = Field(foreign_key="booking.id", ondelete="CASCADE")
    session_id: uuid.UUID
    venue_id: uuid.UUID
    activity_id: uuid.UUID
    customer_id: uuid.UUID
    source: BookingSource = Field(sa_type=enum_type(BookingSource))
    aggregator: Aggregator | None = Field(default=None, sa_type=enum_type(Aggregator))
    member_id: str | None = Field(default=None, max_length=EXTERNAL_ID_LENGTH)
    """The aggregator's member id of the customer when the change happened."""
    status: BookingStatus = Field(sa_type=enum_type(BookingStatus))
    cancellation_type: CancellationType = Field(sa_type=enum_type(CancellationType))
    session_local_date: date
    """The venue-local day the session started on when the change happened."""
    session_month: str = Field(max_length=7)
    """`YYYY-MM` of session_local_date, so reports group by month alike on every database."""
    occurred_at: datetime = created_at_field()
