"""Waitlist events owed to aggregators: an aggregator member's waitlist entry that the
studio side changed (promoted, expired, ended by staff). Claimed, acknowledged and retried
by the same functions as reservation events (models/push/claims.py);
`outbox.note_waitlist_change` marks them owed."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.push.claims import (
    claim_events,
    fail_leased,
    next_event_due,
    record_event_acks,
    retry_failed_events,
)
from classbridge.models.push.reservations import member_ids
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.push import WaitlistDelivery
from classbridge.models.tables.waitlist import WaitlistEntry


@dataclass(frozen=True)
class ClaimedWaitlistEvent:
    """A waitlist event this worker holds the lease on."""

    id: int
    entry_id: uuid.UUID
    version: int
    pending_gen: int
    attempts: int


@dataclass(frozen=True)
class WaitlistEventState:
    """What the aggregator is told of one waitlist entry."""

    claimed: ClaimedWaitlistEvent
    entry: WaitlistEntry
    member_id: str | None


async def claim_waitlist_events(
    *, db: AsyncSession, aggregator: Aggregator, token: str, limit: int, lease: timedelta
) -> list[ClaimedWaitlistEvent]:
    """Take the lease on up to `limit` due waitlist events."""
    rows = await claim_events(
        db=db,
        table=WaitlistDelivery,
        subject="entry_id",
        aggregator=aggregator,
        token=token,
        limit=limit,
        lease=lease,
    )
    return [ClaimedWaitlistEvent(*r) for r in rows]


async def waitlist_event_states(
    *, db: AsyncSession, aggregator: Aggregator, claimed: list[ClaimedWaitlistEvent]
) -> list[WaitlistEventState]:
    """The entries of the claimed events with their members' ids (a deleted entry has
    nothing left to tell and is left out)."""
    ids = [c.entry_id for c in claimed]
    entries = {
        e.id: e
        for e in await db.scalars(select(WaitlistEntry).where(col(WaitlistEntry.id).in_(ids)))
    }
    members = await member_ids(
        db=db, aggregator=aggregator, customer_ids={e.customer_id for e in entries.values()}
    )
    return [
        WaitlistEventState(c, entries[c.entry_id], members.get(entries[c.entry_id].customer_id))
        for c in claimed
        if c.entry_id in entries
    ]


async def record_waitlist_event_acks(
    *, db: AsyncSession, token: str, claimed: list[ClaimedWaitlistEvent]
) -> None:
    """The aggregator has these versions; a change noted meanwhile keeps the row pending."""
    await record_event_acks(
        db=db,
        table=WaitlistDelivery,
        token=token,
        acked=[(c.id, c.version, c.pending_gen) for c in claimed],
    )


async def record_waitlist_event_failure(
    *,
    db: AsyncSession,
    token: str,
    claimed: list[ClaimedWaitlistEvent],
    error: str,
    retry_at: datetime | None,
) -> None:
    """A send failed: retry at `retry_at`, or mark failed (None) for the reconciliation."""
    await fail_leased(
        db=db,
        table=WaitlistDelivery,
        token=token,
        ids=[c.id for c in claimed],
        error=error,
        retry_at=retry_at,
    )


async def retry_failed_waitlist_events(*, db: AsyncSession, aggregator: Aggregator) -> int:
    """Reconciliation: failed events get a fresh set of attempts."""
    return await retry_failed_events(db=db, table=WaitlistDelivery, aggregator=aggregator)


async def next_waitlist_event_due(
    *, db: AsyncSession, aggregators: list[Aggregator]
) -> datetime | None:
    """When the earliest pending event (waiting for a retry or a lease) becomes claimable."""
    return await next_event_due(db=db, table=WaitlistDelivery, aggregators=aggregators)
