"""Reservation events owed to aggregators: claiming them under a lease, reading what to
send, recording what came of it. `outbox.note_reservation_change` marks them owed."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.push.claims import claim_events
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.booking import Booking
from classbridge.models.tables.customer import CustomerAggregatorId
from classbridge.models.tables.push import ReservationDelivery


@dataclass(frozen=True)
class ClaimedReservation:
    """A reservation event this worker holds the lease on."""

    id: int
    booking_id: uuid.UUID
    version: int
    pending_gen: int
    attempts: int


@dataclass(frozen=True)
class ReservationState:
    """What the aggregator is told of one reservation."""

    claimed: ClaimedReservation
    booking: Booking
    member_id: str | None


async def claim_reservations(
    *, db: AsyncSession, aggregator: Aggregator, token: str, limit: int, lease: timedelta
) -> list[ClaimedReservation]:
    """Take the lease on up to `limit` due events (as `claim_deliveries` does for sessions)."""
    rows = await claim_events(
        db=db,
        table=ReservationDelivery,
        subject="booking_id",
        aggregator=aggregator,
        token=token,
        limit=limit,
        lease=lease,
    )
    return [ClaimedReservation(*r) for r in rows]


async def reservation_states(
    *, db: AsyncSession, aggregator: Aggregator, claimed: list[ClaimedReservation]
) -> list[ReservationState]:
    """The bookings of the claimed events with their members' ids (a deleted booking has
    nothing left to tell and is left out)."""
    ids = [c.booking_id for c in claimed]
    bookings = {b.id: b for b in await db.scalars(select(Booking).where(col(Booking.id).in_(ids)))}
    members = await member_ids(
        db=db, aggregator=aggregator, customer_ids={b.customer_id for b in bookings.values()}
    )
    return [
        ReservationState(c, bookings[c.booking_id], members.get(bookings[c.booking_id].customer_id))
        for c in claimed
        if c.booking_id in bookings
    ]


async def member_ids(
    *, db: AsyncSession, aggregator: Aggregator, customer_ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The aggregator's member id of each customer (the newest, should there be several)."""
    members: dict[uuid.UUID, str] = {}
    for customer_id, external_id in await db.execute(
        select(CustomerAggregatorId.customer_id, CustomerAggregatorId.external_id)
        .where(
            CustomerAggregatorId.aggregator == aggregator,
            col(CustomerAggregatorId.customer_id).in_(customer_ids),
        )
        .order_by(col(CustomerAggregatorId.created_at).desc())
    ):
        members.setdefault(customer_id, external_id)
    return members
