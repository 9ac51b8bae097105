"""Delivery state of the push to aggregators: per (session, aggregator), what is owed and
what the aggregator acknowledged.

The outbox (models/outbox.py) says "something changed"; `expand_outbox` turns its rows into
`PushDelivery` rows marked pending, one per session and aggregator, so a burst of changes to
one session becomes one delivery of its newest state. Workers claim pending rows with a
lease (`claim_deliveries`); a worker that dies leaves rows whose lease runs out and which
the next claim takes again. Acknowledgements record the version the aggregator has.
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.aggregator import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueLink,
    ExtensionStatus,
)
from classbridge.models.base import UTCDateTime, enum_type, timestamp_field, utcnow
from classbridge.models.outbox import OutboxItem, OutboxKind
from classbridge.models.session import ClassSession

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


async def _mark_pending(
    db: AsyncSession,
    rows: list[tuple[uuid.UUID, uuid.UUID]],
    aggregators: list[Aggregator],
) -> int:
    """Mark (company, session) pairs pending for these aggregators, inserting missing rows.

    One upsert (INSERT … ON CONFLICT DO UPDATE, on PostgreSQL and SQLite alike), so two
    workers marking the same new session at once cannot collide. A new change also clears
    a failure: the newest state gets a fresh set of attempts.
    """
    if not rows or not aggregators:
        return 0
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Rows in session order: concurrent transactions lock them in the same order.
    ordered = sorted(set(rows), key=lambda r: str(r[1]))
    for aggregator in aggregators:
        for start in range(0, len(ordered), 1000):
            chunk = ordered[start : start + 1000]
            stmt = insert(PushDelivery).values(
                [
                    {
                        "company_id": cid,
                        "session_id": sid,
                        "aggregator": aggregator,
                        "pending": True,
                        "pending_gen": 1,
                        "attempts": 0,
                    }
                    for cid, sid in chunk
                ]
            )
            await db.execute(
                stmt.on_conflict_do_update(
                    index_elements=["session_id", "aggregator"],
                    set_={
                        "pending": True,
                        "pending_gen": PushDelivery.pending_gen + 1,
                        "failed_at": None,
                        "attempts": 0,
                        "next_attempt_at": None,
                    },
                )
            )
    return len(ordered) * len(aggregators)


async def expand_outbox(*, db: AsyncSession, limit: int = 1000) -> int:
    """Turn unprocessed outbox rows into pending deliveries; returns how many were taken.

    Several workers may run this at once: on PostgreSQL `SKIP LOCKED` gives each its own
    rows; SQLite's write transactions are exclusive (BEGIN IMMEDIATE). Marking pending is
    idempotent, so even a repeat would only cause one more (harmless) send.
    """
    stmt = (
        select(OutboxItem)
        .where(OutboxItem.processed_at.is_(None))  # type: ignore[union-attr]
        .order_by(OutboxItem.id)  # type: ignore[arg-type]
        .limit(limit)
    )
    if db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    items = list(await db.scalars(stmt))
    if not items:
        return 0
    now = utcnow()
    by_company: dict[uuid.UUID, set[uuid.UUID]] = {}
    for item in items:
        if item.kind is OutboxKind.SESSION_CHANGED and item.session_id is not None:
            by_company.setdefault(item.company_id, set()).add(item.session_id)
        elif item.kind is OutboxKind.EXTENSION_CHANGED:
            await _extension_changed(db, item.company_id, item.aggregator, now)
        item.processed_at = now
    for company_id, session_ids in by_company.items():
        aggregators = await _connected_aggregators(db, company_id)
        await _mark_pending(db, [(company_id, sid) for sid in session_ids], aggregators)
    await db.flush()
    return len(items)


async def _connected_aggregators(db: AsyncSession, company_id: uuid.UUID) -> list[Aggregator]:
    """Aggregators that must hear about this company: ACTIVE now, or told something before
    (a deactivated one still needs the removal notices)."""
    active = set(
        await db.scalars(
            select(AggregatorExtension.aggregator).where(
                AggregatorExtension.company_id == company_id,
                AggregatorExtension.status == ExtensionStatus.ACTIVE,
            )
        )
    )
    told = set(
        await db.scalars(
            select(PushDelivery.aggregator)
            .where(
                PushDelivery.company_id == company_id,
                PushDelivery.acked_state.in_(KNOWN_STATES),  # type: ignore[attr-defined]
            )
            .distinct()
        )
    )
    return sorted(active | told)


async def _extension_changed(
    db: AsyncSession, company_id: uuid.UUID, aggregator: str | None, now: datetime
) -> None:
    """An extension was (de)activated: every upcoming session looks different to it now.

    The sessions' versions grow, so a receiver accepts the removal (or the new offer)
    even though the session itself did not change.
    """
    rows = (
        await db.execute(
            update(ClassSession)
            .where(ClassSession.company_id == company_id, ClassSession.ends_at > now)
            .values(version=ClassSession.version + 1, updated_at=now)
            .returning(ClassSession.id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    aggregators = (
        [Aggregator(aggregator)] if aggregator else await _connected_aggregators(db, company_id)
    )
    await _mark_pending(db, [(company_id, r.id) for r in rows], aggregators)


async def claim_deliveries(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    token: str,
    limit: int,
    lease: timedelta,
) -> list[Claimed]:
    """Take the lease on up to `limit` due rows; nobody else sends them until it runs out.

    One conditional UPDATE fed by a CTE that picks the rows: on PostgreSQL the CTE skips
    rows another worker is claiming right now (`FOR UPDATE SKIP LOCKED`) and, being
    materialized, runs once — `WHERE id IN (SELECT … LIMIT n FOR UPDATE)` may be re-run and
    take more than n rows. The outer WHERE repeats the due test. On SQLite the write
    transaction is exclusive anyway.
    """
    now = utcnow()
    due = sa.and_(
        PushDelivery.aggregator == aggregator,
        PushDelivery.pending.is_(True),  # type: ignore[attr-defined]
        PushDelivery.failed_at.is_(None),  # type: ignore[union-attr]
        sa.or_(PushDelivery.next_attempt_at.is_(None), PushDelivery.next_attempt_at <= now),  # type: ignore[union-attr,operator]
        sa.or_(PushDelivery.lease_until.is_(None), PushDelivery.lease_until <= now),  # type: ignore[union-attr,operator]
    )
    pick = select(PushDelivery.id).where(due).order_by(PushDelivery.id).limit(limit)  # type: ignore[arg-type]
    if db.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    picked = pick.cte("picked")
    rows = (
        await db.execute(
            update(PushDelivery)
            .where(PushDelivery.id == picked.c.id, due)
            .values(lease_token=token, lease_until=now + lease, last_attempt_at=now)
            .returning(
                PushDelivery.id,
                PushDelivery.session_id,
                PushDelivery.pending_gen,
                PushDelivery.attempts,
                PushDelivery.acked_state,
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    return [Claimed(r[0], r[1], r[2], r[3], r[4]) for r in rows]


@dataclass(frozen=True)
class Ack:
    """The aggregator has (or needs nothing of) this version of a session."""

    claimed: Claimed
    version: int
    state: PushState


async def record_acks(*, db: AsyncSession, token: str, acks: list[Ack]) -> None:
    """Record acknowledgements for rows this worker still holds (one executemany)."""
    if not acks:
        return
    table = PushDelivery.__table__  # Core: one statement, executed for every row
    c = table.c  # type: ignore[attr-defined]
    version = sa.bindparam("b_version", type_=sa.Integer)
    stmt = (
        table.update()  # type: ignore[attr-defined]
        .where(c.id == sa.bindparam("b_id"), c.lease_token == token)
        .values(
            acked_version=sa.case((c.acked_version > version, c.acked_version), else_=version),
            acked_state=sa.bindparam("b_state"),
            acked_at=utcnow(),
            # A change that arrived while this one was in flight keeps the row pending.
            pending=c.pending_gen != sa.bindparam("b_gen", type_=sa.Integer),
            attempts=0,
            next_attempt_at=None,
            failed_at=None,
            last_error=None,
            lease_token=None,
            lease_until=None,
        )
    )
    conn = await db.connection()
    await conn.execute(
        stmt,
        [
            {
                "b_id": a.claimed.id,
                "b_version": a.version,
                "b_state": a.state,
                "b_gen": a.claimed.pending_gen,
            }
            # Session order, as everywhere rows are locked in bulk: no deadlocks.
            for a in sorted(acks, key=lambda a: str(a.claimed.session_id))
        ],
    )


async def defer_deliveries(*, db: AsyncSession, token: str, claimed: list[Claimed]) -> None:
    """Nothing to send yet (outside the window, unknown to the aggregator): release the
    rows un-pending; the reconciliation picks them up once they enter the window."""
    if not claimed:
        return
    await db.execute(
        update(PushDelivery)
        .where(
            PushDelivery.id.in_([c.id for c in claimed]),  # type: ignore[union-attr]
            PushDelivery.lease_token == token,
        )
        .values(
            pending=sa.case(
                *[
                    (PushDelivery.id == c.id, PushDelivery.pending_gen != c.pending_gen)
                    for c in claimed
                ]
            ),
            lease_token=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )


async def record_failure(
    *,
    db: AsyncSession,
    token: str,
    claimed: list[Claimed],
    error: str,
    retry_at: datetime | None,
) -> None:
    """A send failed: retry at `retry_at`, or mark failed (None) for the reconciliation."""
    if not claimed:
        return
    now = utcnow()
    await db.execute(
        update(PushDelivery)
        .where(
            PushDelivery.id.in_([c.id for c in claimed]),  # type: ignore[union-attr]
            PushDelivery.lease_token == token,
        )
        .values(
            attempts=PushDelivery.attempts + 1,
            next_attempt_at=retry_at,
            failed_at=None if retry_at is not None else now,
            last_error=error[:MAX_ERROR_LENGTH],
            lease_token=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )


async def next_due(*, db: AsyncSession, aggregators: list[Aggregator]) -> datetime | None:
    """When the earliest pending row (waiting for a retry or a lease) becomes claimable."""
    if not aggregators:
        return None
    now = utcnow()
    lease, retry = PushDelivery.lease_until, PushDelivery.next_attempt_at
    # A row is claimable once both its lease and its retry time have passed.
    moment = sa.case((lease > retry, lease), else_=sa.func.coalesce(retry, lease))  # type: ignore[operator]
    earliest = await db.scalar(
        select(
            sa.type_coerce(
                func.min(sa.func.coalesce(moment, sa.literal(now, UTCDateTime))), UTCDateTime
            )
        ).where(
            PushDelivery.aggregator.in_(aggregators),  # type: ignore[attr-defined]
            PushDelivery.pending.is_(True),  # type: ignore[attr-defined]
            PushDelivery.failed_at.is_(None),  # type: ignore[union-attr]
        )
    )
    return earliest


async def mark_differing(*, db: AsyncSession, aggregator: Aggregator, window: timedelta) -> int:
    """Reconciliation: mark pending every session whose state the aggregator lacks.

    For each company with this aggregator ACTIVE: sessions in the window that have no
    delivery row or whose acknowledged version differs from the current one (failed rows
    included, their attempts reset); anywhere in time: sessions the aggregator knows
    whose version moved on (e.g. removals after a deactivation).
    """
    now = utcnow()
    acked = (
        select(PushDelivery.acked_version)
        .where(
            PushDelivery.session_id == ClassSession.id,
            PushDelivery.aggregator == aggregator,
        )
        .scalar_subquery()
    )
    failed = sa.exists().where(
        PushDelivery.session_id == ClassSession.id,
        PushDelivery.aggregator == aggregator,
        PushDelivery.failed_at.is_not(None),  # type: ignore[union-attr]
    )
    active = sa.exists().where(
        AggregatorExtension.company_id == ClassSession.company_id,
        AggregatorExtension.aggregator == aggregator,
        AggregatorExtension.status == ExtensionStatus.ACTIVE,
    )
    in_window = sa.and_(
        active,
        ClassSession.ends_at > now,
        ClassSession.starts_at < now + window,
        sa.or_(acked.is_(None), acked != ClassSession.version, failed),
    )
    known_moved = (
        select(PushDelivery.session_id)
        .join(ClassSession, ClassSession.id == PushDelivery.session_id)
        .where(
            PushDelivery.aggregator == aggregator,
            PushDelivery.acked_state.in_(KNOWN_STATES),  # type: ignore[attr-defined]
            PushDelivery.acked_version != ClassSession.version,
            ClassSession.ends_at > now,
        )
    )
    rows = (
        await db.execute(
            select(ClassSession.company_id, ClassSession.id).where(
                sa.or_(in_window, ClassSession.id.in_(known_moved))  # type: ignore[attr-defined]
            )
        )
    ).all()
    return await _mark_pending(db, [(r[0], r[1]) for r in rows], [aggregator])


async def known_sessions(
    *, db: AsyncSession, aggregator: Aggregator, window: timedelta
) -> list[tuple[uuid.UUID, int]]:
    """(session id, acknowledged version) the aggregator should hold in the window."""
    now = utcnow()
    rows = await db.execute(
        select(PushDelivery.session_id, PushDelivery.acked_version)
        .join(ClassSession, ClassSession.id == PushDelivery.session_id)
        .where(
            PushDelivery.aggregator == aggregator,
            PushDelivery.acked_state.in_(KNOWN_STATES),  # type: ignore[attr-defined]
            ClassSession.ends_at > now,
            ClassSession.starts_at < now + window,
        )
        .order_by(ClassSession.starts_at, ClassSession.id)
    )
    return [(r[0], r[1]) for r in rows]


async def forget_acks(
    *, db: AsyncSession, aggregator: Aggregator, session_ids: list[uuid.UUID]
) -> None:
    """The aggregator lost these sessions (it said so): send them again."""
    if not session_ids:
        return
    await db.execute(
        update(PushDelivery)
        .where(
            PushDelivery.aggregator == aggregator,
            PushDelivery.session_id.in_(session_ids),  # type: ignore[attr-defined]
        )
        .values(
            acked_version=None,
            pending=True,
            pending_gen=PushDelivery.pending_gen + 1,
            failed_at=None,
            attempts=0,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )


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


# --- What staff see -----------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionSync:
    """Push health of one aggregator connection of a company."""

    aggregator: Aggregator
    status: ExtensionStatus
    last_acked_at: datetime | None
    pending: int
    failed: int


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
                    PushDelivery.pending.is_(True),  # type: ignore[attr-defined]
                    PushDelivery.failed_at.is_(None),  # type: ignore[union-attr]
                ),
                func.count().filter(PushDelivery.failed_at.is_not(None)),  # type: ignore[union-attr]
            )
            .where(PushDelivery.company_id == company_id)
            .group_by(PushDelivery.aggregator)
        )
    }
    result = []
    for ext in extensions:
        last, pending, failed = stats.get(ext.aggregator, (None, 0, 0))
        result.append(ConnectionSync(ext.aggregator, ext.status, last, pending, failed))
    return result


async def failed_deliveries(
    *, db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator, limit: int
) -> list[PushDelivery]:
    rows = await db.scalars(
        select(PushDelivery)
        .where(
            PushDelivery.company_id == company_id,
            PushDelivery.aggregator == aggregator,
            PushDelivery.failed_at.is_not(None),  # type: ignore[union-attr]
        )
        .order_by(PushDelivery.failed_at.desc(), PushDelivery.id)  # type: ignore[union-attr]
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
        .where(PushDelivery.session_id.in_(session_ids))  # type: ignore[attr-defined]
        .order_by(PushDelivery.aggregator)
    )
    for row in rows:
        result[row.session_id].append(row)
    return result
