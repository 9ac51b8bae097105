"""What staff see of the push: per connection and per session."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from classbridge.models.aggregator import active_aggregators
from classbridge.models.tables.aggregator import (
    Aggregator,
    AggregatorExtension,
    ExtensionStatus,
)
from classbridge.models.tables.outbox import OutboxItem
from classbridge.models.tables.push import EVENT_DELIVERY_TABLES, KNOWN_STATES, PushDelivery
from classbridge.models.tables.session import ClassSession


@dataclass(frozen=True)
class ConnectionSync:
    """Push health of one aggregator connection of a company."""

    aggregator: Aggregator
    status: ExtensionStatus
    last_acked_at: datetime | None
    pending: int
    failed: int
    events_pending: int = 0
    """Reservation and waitlist events (the studio side changed a member's) on their way."""
    events_failed: int = 0
    """Those events the aggregator refused for good (until the reconciliation retries)."""


async def connection_sync(*, db: AsyncSession, company_id: uuid.UUID) -> list[ConnectionSync]:
    """Per extension of the company: last successful push, items pending and failed."""
    extensions = list(
        await db.scalars(
            select(AggregatorExtension)
            .where(AggregatorExtension.company_id == company_id)
            .order_by(AggregatorExtension.aggregator)
        )
    )
    stats = {
        r[0]: r[1:]
        for r in await db.execute(
            select(
                PushDelivery.aggregator,
                func.max(PushDelivery.acked_at),
                func.count().filter(
                    col(PushDelivery.pending).is_(True),
                    col(PushDelivery.failed_at).is_(None),
                ),
                func.count().filter(col(PushDelivery.failed_at).is_not(None)),
            )
            .where(PushDelivery.company_id == company_id)
            .group_by(PushDelivery.aggregator)
        )
    }
    events = await event_backlog(db=db, company_id=company_id)
    result = []
    for ext in extensions:
        last, pending, failed = stats.get(ext.aggregator, (None, 0, 0))
        if ext.status is ExtensionStatus.ACTIVE:
            pending += await _not_picked_up(db, company_id, ext.aggregator)
        events_pending, events_failed = events.get(ext.aggregator, (0, 0))
        result.append(
            ConnectionSync(
                ext.aggregator, ext.status, last, pending, failed, events_pending, events_failed
            )
        )
    return result


async def event_backlog(
    *, db: AsyncSession, company_id: uuid.UUID | None = None
) -> dict[Aggregator, tuple[int, int]]:
    """Reservation and waitlist events per aggregator, of one company or of all: how many
    are on their way (pending, not failed) and how many failed for good."""
    counts: dict[Aggregator, tuple[int, int]] = {}
    for table in EVENT_DELIVERY_TABLES:
        stmt = select(
            col(table.aggregator),
            func.count().filter(col(table.pending).is_(True), col(table.failed_at).is_(None)),
            func.count().filter(col(table.failed_at).is_not(None)),
        ).group_by(col(table.aggregator))
        if company_id is not None:
            stmt = stmt.where(table.company_id == company_id)
        for aggregator, pending, failed in await db.execute(stmt):
            was_pending, was_failed = counts.get(aggregator, (0, 0))
            counts[aggregator] = (was_pending + pending, was_failed + failed)
    return counts


async def _not_picked_up(db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator) -> int:
    """Changed sessions still in the outbox (no worker ran yet) and not counted as pending."""
    already = select(PushDelivery.session_id).where(
        PushDelivery.aggregator == aggregator,
        col(PushDelivery.pending).is_(True),
        PushDelivery.company_id == company_id,
    )
    count = await db.scalar(
        select(func.count(func.distinct(OutboxItem.session_id))).where(
            OutboxItem.company_id == company_id,
            col(OutboxItem.processed_at).is_(None),
            col(OutboxItem.session_id).is_not(None),
            col(OutboxItem.session_id).not_in(already),
        )
    )
    return int(count or 0)


async def failed_deliveries(
    *, db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator, limit: int
) -> list[PushDelivery]:
    rows = await db.scalars(
        select(PushDelivery)
        .where(
            PushDelivery.company_id == company_id,
            PushDelivery.aggregator == aggregator,
            col(PushDelivery.failed_at).is_not(None),
        )
        .order_by(col(PushDelivery.failed_at).desc(), col(PushDelivery.id))
        .limit(limit)
    )
    return list(rows)


async def session_deliveries(
    *, db: AsyncSession, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[PushDelivery]]:
    """Delivery rows per session, in one query (for a DataLoader)."""
    result: dict[uuid.UUID, list[PushDelivery]] = {sid: [] for sid in session_ids}
    if not session_ids:
        return result
    rows = await db.scalars(
        select(PushDelivery)
        .where(col(PushDelivery.session_id).in_(session_ids))
        .order_by(PushDelivery.aggregator)
    )
    for row in rows:
        result[row.session_id].append(row)
    return result


@dataclass(frozen=True)
class SessionPushStatus:
    """Where one session stands at one aggregator (`row` may be unsaved: nothing yet)."""

    row: PushDelivery
    pending: bool
    """A newer state is on its way (owed, or still in the outbox)."""


async def session_sync(*, db: AsyncSession, session: ClassSession) -> list[SessionPushStatus]:
    """Per aggregator that must hear of this session: ACTIVE ones, and any that still holds
    it (a deactivated one until its removal is acknowledged; after that nothing is owed to
    it and it is not listed, so it never shows "not up to date" forever).

    A change still in the outbox (the coalescing window; no worker ran yet) counts as
    pending, exactly as `connection_sync` counts it."""
    rows = (await session_deliveries(db=db, session_ids=[session.id]))[session.id]
    active = set(await active_aggregators(db=db, company_id=session.company_id))
    in_outbox = bool(
        await db.scalar(
            select(func.count()).where(
                col(OutboxItem.session_id) == session.id,
                col(OutboxItem.processed_at).is_(None),
            )
        )
    )
    result = [
        SessionPushStatus(row, (row.pending and row.failed_at is None) or in_outbox)
        for row in rows
        if row.aggregator in active or row.acked_state in KNOWN_STATES
    ]
    # An ACTIVE aggregator without a row yet: the change waits to be picked up.
    result += [
        SessionPushStatus(
            PushDelivery(
                company_id=session.company_id,
                session_id=session.id,
                aggregator=a,
                pending=True,
            ),
            True,
        )
        for a in sorted(active - {r.aggregator for r in rows})
    ]
    return sorted(result, key=lambda s: s.row.aggregator)
