"""What is still waiting to go out: changes owed to aggregators and unsent emails.

Read by /metrics at scrape time. Each figure is one aggregate over an indexed column
(pending deliveries, unprocessed outbox rows, unsent emails), except the failed count,
which scans push_delivery: one row per session and aggregator, small next to bookings.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.models.email import EmailMessage
from classbridge.models.outbox import OutboxItem
from classbridge.models.push.delivery import PushDelivery
from classbridge.models.session import ClassSession


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


async def read_backlog(*, db: AsyncSession) -> Backlog:
    pending_now = (
        PushDelivery.pending.is_(True),  # type: ignore[attr-defined]
        PushDelivery.failed_at.is_(None),  # type: ignore[union-attr]
    )
    pending = {
        str(r[0]): int(r[1])
        for r in await db.execute(
            select(PushDelivery.aggregator, func.count())
            .where(*pending_now)
            .group_by(PushDelivery.aggregator)
        )
    }
    failed = {
        str(r[0]): int(r[1])
        for r in await db.execute(
            select(PushDelivery.aggregator, func.count())
            .where(PushDelivery.failed_at.is_not(None))  # type: ignore[union-attr]
            .group_by(PushDelivery.aggregator)
        )
    }
    unprocessed = OutboxItem.processed_at.is_(None)  # type: ignore[union-attr]
    outbox_count, outbox_oldest = (
        await db.execute(select(func.count(), func.min(OutboxItem.created_at)).where(unprocessed))
    ).one()
    # A delivery marked pending was a change to its session: the session's updated_at.
    delivery_oldest = await db.scalar(
        select(func.min(ClassSession.updated_at))
        .join(PushDelivery, PushDelivery.session_id == ClassSession.id)  # type: ignore[arg-type]
        .where(*pending_now)
    )
    emails = await db.scalar(
        select(func.count()).where(EmailMessage.sent_at.is_(None))  # type: ignore[union-attr]
    )
    oldest = min((t for t in (outbox_oldest, delivery_oldest) if t is not None), default=None)
    return Backlog(
        pending=pending,
        failed=failed,
        unprocessed_changes=int(outbox_count or 0),
        oldest_pending_at=oldest,
        emails_queued=int(emails or 0),
    )
