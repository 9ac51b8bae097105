"""What is still waiting to go out: changes owed to aggregators and unsent emails.

Read by /metrics at scrape time. Each figure is one aggregate over an indexed column
(pending deliveries, unprocessed outbox rows, unsent emails), except the failed count,
which scans push_delivery: one row per session and aggregator, small next to bookings.
"""

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from classbridge.models.push.status import event_backlog
from classbridge.models.tables import ClassSession, EmailMessage, OutboxItem, PushDelivery


@dataclass(frozen=True)
class Backlog:
    pending: dict[str, int]
    """Per aggregator: sessions whose newest state it still has to receive (not failed)."""
    failed: dict[str, int]
    """Per aggregator: sessions that ran out of attempts; the reconciliation retries them."""
    unprocessed_changes: int
    """Outbox rows no push run has picked up yet."""
    oldest_pending_at: datetime | None
    """When the oldest change still owed to an aggregator was made."""
    emails_queued: int
    events_pending: dict[str, int] = field(default_factory=dict)
    """Per aggregator: reservation and waitlist events on their way (not failed)."""
    events_failed: dict[str, int] = field(default_factory=dict)
    """Per aggregator: such events refused for good; the reconciliation retries them."""


async def read_backlog(*, db: AsyncSession) -> Backlog:
    pending_now = (col(PushDelivery.pending).is_(True), col(PushDelivery.failed_at).is_(None))
    pending = {
        str(aggregator): count
        for aggregator, count in await db.execute(
            select(col(PushDelivery.aggregator), func.count())
            .where(*pending_now)
            .group_by(col(PushDelivery.aggregator))
        )
    }
    failed = {
        str(aggregator): count
        for aggregator, count in await db.execute(
            select(col(PushDelivery.aggregator), func.count())
            .where(col(PushDelivery.failed_at).is_not(None))
            .group_by(col(PushDelivery.aggregator))
        )
    }
    outbox_count, outbox_oldest = (
        await db.execute(
            select(func.count(), func.min(col(OutboxItem.created_at))).where(
                col(OutboxItem.processed_at).is_(None)
            )
        )
    ).one()
    # A delivery marked pending was a change to its session: the session's updated_at.
    delivery_oldest = (
        await db.execute(
            select(func.min(col(ClassSession.updated_at)))
            .join(PushDelivery, col(PushDelivery.session_id) == col(ClassSession.id))
            .where(*pending_now)
        )
    ).scalar_one()
    emails = (
        await db.execute(select(func.count()).where(col(EmailMessage.sent_at).is_(None)))
    ).scalar_one()
    oldest = min((t for t in (outbox_oldest, delivery_oldest) if t is not None), default=None)
    events = await event_backlog(db=db)
    return Backlog(
        pending=pending,
        failed=failed,
        unprocessed_changes=outbox_count,
        oldest_pending_at=oldest,
        emails_queued=emails,
        events_pending={str(a): n for a, (n, _) in events.items()},
        events_failed={str(a): n for a, (_, n) in events.items()},
    )
