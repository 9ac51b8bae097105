"""Reservation events owed to aggregators: claiming them under a lease, reading what to
send, recording what came of it. `outbox.note_reservation_change` marks them owed."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select, update

from classbridge.models.base import utcnow
from classbridge.models.push.claims import fail_leased
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


def _due(aggregator: Aggregator, now: datetime) -> sa.ColumnElement[bool]:
    r = ReservationDelivery
    return sa.and_(
        col(r.aggregator) == aggregator,
        col(r.pending).is_(True),
        col(r.failed_at).is_(None),
        sa.or_(col(r.next_attempt_at).is_(None), col(r.next_attempt_at) <= now),
        sa.or_(col(r.lease_until).is_(None), col(r.lease_until) <= now),
    )


async def claim_reservations(
    *, db: AsyncSession, aggregator: Aggregator, token: str, limit: int, lease: timedelta
) -> list[ClaimedReservation]:
    """Take the lease on up to `limit` due events (as `claim_deliveries` does for sessions)."""
    now = utcnow()
    due = _due(aggregator, now)
    pick = select(col(ReservationDelivery.id)).where(due).order_by(col(ReservationDelivery.id))
    pick = pick.limit(limit)
    if db.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    picked = pick.cte("picked")
    rows = (
        await db.execute(
            update(ReservationDelivery)
            .where(col(ReservationDelivery.id) == picked.c.id, due)
            .values(lease_token=token, lease_until=now + lease, last_attempt_at=now)
            .returning(
                col(ReservationDelivery.id),
                col(ReservationDelivery.booking_id),
                col(ReservationDelivery.version),
                col(ReservationDelivery.pending_gen),
                col(ReservationDelivery.attempts),
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    # A claimed row has its primary key: `id` is only None before the first flush.
    return [ClaimedReservation(*r) for r in rows]  # type: ignore[arg-type]


async def reservation_states(
    *, db: AsyncSession, aggregator: Aggregator, claimed: list[ClaimedReservation]
) -> list[ReservationState]:
    """The bookings of the claimed events with their members' ids (a deleted booking has
    nothing left to tell and is left out)."""
    ids = [c.booking_id for c in claimed]
    bookings = {b.id: b for b in await db.scalars(select(Booking).where(col(Booking.id).in_(ids)))}
    members: dict[uuid.UUID, str] = {}
    customer_ids = {b.customer_id for b in bookings.values()}
    for customer_id, external_id in await db.execute(
        select(CustomerAggregatorId.customer_id, CustomerAggregatorId.external_id)
        .where(
            CustomerAggregatorId.aggregator == aggregator,
            col(CustomerAggregatorId.customer_id).in_(customer_ids),
        )
        .order_by(col(CustomerAggregatorId.created_at).desc())
    ):
        members.setdefault(customer_id, external_id)
    return [
        ReservationState(c, bookings[c.booking_id], members.get(bookings[c.booking_id].customer_id))
        for c in claimed
        if c.booking_id in bookings
    ]


async def record_reservation_acks(
    *, db: AsyncSession, token: str, claimed: list[ClaimedReservation]
) -> None:
    """The aggregator has these versions; a change noted meanwhile keeps the row pending."""
    for c in claimed:
        await db.execute(
            update(ReservationDelivery)
            .where(
                col(ReservationDelivery.id) == c.id, col(ReservationDelivery.lease_token) == token
            )
            .values(
                acked_version=sa.case(
                    (
                        col(ReservationDelivery.acked_version) > c.version,
                        ReservationDelivery.acked_version,
                    ),
                    else_=c.version,
                ),
                acked_at=utcnow(),
                pending=col(ReservationDelivery.pending_gen) != c.pending_gen,
                attempts=0,
                next_attempt_at=None,
                failed_at=None,
                last_error=None,
                lease_token=None,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )


async def record_reservation_failure(
    *,
    db: AsyncSession,
    token: str,
    claimed: list[ClaimedReservation],
    error: str,
    retry_at: datetime | None,
) -> None:
    """A send failed: retry at `retry_at`, or mark failed (None) for the reconciliation."""
    await fail_leased(
        db=db,
        table=ReservationDelivery,
        token=token,
        ids=[c.id for c in claimed],
        error=error,
        retry_at=retry_at,
    )


async def retry_failed_reservations(*, db: AsyncSession, aggregator: Aggregator) -> int:
    """Reconciliation: failed events get a fresh set of attempts."""
    result = await db.execute(
        update(ReservationDelivery)
        .where(
            col(ReservationDelivery.aggregator) == aggregator,
            col(ReservationDelivery.failed_at).is_not(None),
        )
        .values(pending=True, failed_at=None, attempts=0, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def next_reservation_due(
    *, db: AsyncSession, aggregators: list[Aggregator]
) -> datetime | None:
    """When the earliest pending event (waiting for a retry or a lease) becomes claimable."""
    if not aggregators:
        return None
    r = ReservationDelivery
    rows = await db.execute(
        select(r.next_attempt_at, r.lease_until).where(
            col(r.aggregator).in_(aggregators),
            col(r.pending).is_(True),
            col(r.failed_at).is_(None),
        )
    )
    now = utcnow()
    moments = [max([m for m in row if m is not None], default=now) for row in rows]
    return min(moments, default=None)
