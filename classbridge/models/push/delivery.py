"""The delivery table: per (session, aggregator) what is owed and what was acknowledged."""

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.aggregator import (
    Aggregator,
    AggregatorVenueLink,
)
from classbridge.models.base import enum_type, timestamp_field

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
    acked_at: datetime | None = timestamp_field()
    last_attempt_at: datetime | None = timestamp_field()
    failed_at: datetime | None = timestamp_field()
    last_error: str | None = Field(default=None, max_length=MAX_ERROR_LENGTH)


@dataclass(frozen=True)
class Claimed:
    """A delivery row this worker holds the lease on."""

    id: int
    session_id: uuid.UUID
    pending_gen: int
    attempts: int
    acked_state: PushState | None


@dataclass(frozen=True)
class Ack:
    """The aggregator has (or needs nothing of) this version of a session."""

    claimed: Claimed
    version: int
    state: PushState


async def venue_links(
    *, db: AsyncSession, aggregator: Aggregator, venue_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The aggregator's own ids of these venues (where it linked them)."""
    if not venue_ids:
        return {}
    rows = await db.execute(
        select(AggregatorVenueLink.venue_id, AggregatorVenueLink.aggregator_venue_id).where(
            AggregatorVenueLink.aggregator == aggregator,
            AggregatorVenueLink.venue_id.in_(venue_ids),  # type: ignore[attr-defined]
        )
    )
    return {r[0]: r[1] for r in rows}
