"""Waitlist events owed to aggregators: an aggregator member's waitlist entry that the
studio side changed (promoted, expired, ended by staff). Claimed, acknowledged and retried
by the same functions as reservation events (models/push/claims.py);
`outbox.note_waitlist_change` marks them owed."""

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.push.claims import claim_events
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
