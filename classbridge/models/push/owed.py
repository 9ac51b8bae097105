"""What is owed to aggregators: outbox rows and reconciliation mark deliveries pending."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, select, update

from classbridge.models.aggregator import active_aggregators, extension_active
from classbridge.models.base import utcnow
from classbridge.models.db import any_of, plan_for_these_values, sqlite_json_rows
from classbridge.models.outbox import upcoming
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.outbox import OutboxItem, OutboxKind
from classbridge.models.tables.push import KNOWN_STATES, PushDelivery
from classbridge.models.tables.session import ClassSession


async def _mark_pending(
    db: AsyncSession,
    rows: list[tuple[uuid.UUID, uuid.UUID]],
    aggregators: list[Aggregator],
) -> int:
    """Mark (company, session) pairs pending for these aggregators, inserting missing rows.

    One upsert (INSERT … ON CONFLICT DO UPDATE, on PostgreSQL and SQLite alike, executed
    for all rows at once), so two
    workers marking the same new session at once cannot collide. A new change also clears
    a failure: the newest state gets a fresh set of attempts.
    """
    if not rows or not aggregators:
        return 0
    postgres = db.get_bind().dialect.name == "postgresql"
    unique = set(rows)
    table = SQLModel.metadata.tables[PushDelivery.__tablename__]  # Core: no per-row ORM work
    on_conflict = {
        "pending": True,
        "pending_gen": table.c.pending_gen + 1,
        "failed_at": None,
        "attempts": 0,
        "next_attempt_at": None,
    }
    keys = ["session_id", "aggregator"]
    pairs = [(cid, sid, a.value) for a in aggregators for cid, sid in unique]
    # One statement over all rows, in session order (concurrent transactions lock them in
    # the same order, no deadlocks): an executemany of 5,000 rows ran
    # 5,000 statements on PostgreSQL (130 ms a chunk), and on both SQLAlchemy processed
    # every row's parameters in Python (on SQLite, with the GIL passed back and forth for
    # each row between the event loop and the driver's thread).
    company: sa.ColumnElement[Any]
    session: sa.ColumnElement[Any]
    aggregator: sa.ColumnElement[Any]
    if postgres:
        given = (
            sa.func.unnest(
                sa.bindparam("companies", [p[0] for p in pairs], type_=ARRAY(sa.Uuid)),
                sa.bindparam("sessions", [p[1] for p in pairs], type_=ARRAY(sa.Uuid)),
                sa.bindparam("aggregators", [p[2] for p in pairs], type_=ARRAY(sa.String)),
            )
            .table_valued("company_id", "session_id", "aggregator")
            .render_derived()
        )
        company, session, aggregator = given.c.company_id, given.c.session_id, given.c.aggregator
        insert: Any = pg_insert
    else:
        company, session, aggregator = sqlite_json_rows(
            [[cid.hex, sid.hex, agg] for cid, sid, agg in pairs], 3
        )
        insert = sqlite_insert
    source = (
        sa.select(company, session, aggregator, sa.true(), sa.literal(1), sa.literal(0))
        # SQLite would read the upsert's ON CONFLICT as the join's ON without a WHERE.
        .where(sa.true())
        .order_by(session, aggregator)
    )
    columns = ["company_id", "session_id", "aggregator", "pending", "pending_gen", "attempts"]
    await db.execute(
        insert(table)
        .from_select(columns, source)
        .on_conflict_do_update(index_elements=keys, set_=on_conflict)
    )
    return len(pairs)


async def expand_outbox(*, db: AsyncSession, limit: int = 5000) -> int:
    """Turn unprocessed outbox rows into pending deliveries; returns how many were taken.

    Several workers may run this at once: on PostgreSQL `SKIP LOCKED` gives each its own
    rows; SQLite's write transactions are exclusive (BEGIN IMMEDIATE). Marking pending is
    idempotent, so even a repeat would only cause one more (harmless) send. Plain rows in,
    one UPDATE out: no per-row statements, however many rows.
    """
    stmt = (
        sa.select(
            col(OutboxItem.id),
            col(OutboxItem.kind),
            col(OutboxItem.company_id),
            col(OutboxItem.session_id),
            col(OutboxItem.aggregator),
        )
        .where(col(OutboxItem.processed_at).is_(None))
        .order_by(col(OutboxItem.id))
        .limit(limit)
    )
    if db.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    items = (await db.execute(stmt)).all()
    if not items:
        return 0
    by_company: dict[uuid.UUID, set[uuid.UUID]] = {}
    for _, kind, company_id, session_id, aggregator in items:
        if kind is OutboxKind.SESSION_CHANGED and session_id is not None:
            by_company.setdefault(company_id, set()).add(session_id)
        elif kind is OutboxKind.EXTENSION_CHANGED:
            await _extension_changed(db, company_id, aggregator)
    for company_id, session_ids in by_company.items():
        aggregators = await _connected_aggregators(db, company_id)
        await _mark_pending(db, [(company_id, sid) for sid in session_ids], aggregators)
    ids = [item[0] for item in items]
    await db.execute(
        update(OutboxItem)
        .where(any_of(db, col(OutboxItem.id), ids))
        .values(processed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return len(items)


async def _connected_aggregators(db: AsyncSession, company_id: uuid.UUID) -> list[Aggregator]:
    """Aggregators that must hear about this company: ACTIVE now, or told something before
    (a deactivated one still needs the removal notices)."""
    active = set(await active_aggregators(db=db, company_id=company_id))
    told = set(
        await db.scalars(
            select(col(PushDelivery.aggregator))
            .where(
                PushDelivery.company_id == company_id,
                col(PushDelivery.acked_state).in_(KNOWN_STATES),
            )
            .distinct()
        )
    )
    return sorted(active | told)


async def _extension_changed(
    db: AsyncSession, company_id: uuid.UUID, aggregator: str | None
) -> None:
    """An extension was (de)activated: every upcoming session looks different to it now.

    Whoever changed the extension already grew the sessions' versions once, in its own
    transaction (`outbox.touch_sessions`, the one version bump): here they are only marked
    owed to that aggregator, so a receiver gets the removal (or the new offer).
    """
    session_ids = await db.scalars(
        select(col(ClassSession.id)).where(col(ClassSession.company_id) == company_id, upcoming())
    )
    aggregators = (
        [Aggregator(aggregator)] if aggregator else await _connected_aggregators(db, company_id)
    )
    await _mark_pending(db, [(company_id, sid) for sid in session_ids], aggregators)


async def mark_differing(*, db: AsyncSession, aggregator: Aggregator, window: timedelta) -> int:
    """Reconciliation: mark pending every session whose state the aggregator lacks.

    For each company with this aggregator ACTIVE: sessions in the window that have no
    delivery row or whose acknowledged version differs from the current one (failed rows
    included, their attempts reset); anywhere in time: sessions the aggregator knows
    whose version moved on (e.g. removals after a deactivation).
    """
    await plan_for_these_values(db)  # a scan whose size swings (see there)
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
        col(PushDelivery.session_id) == ClassSession.id,
        col(PushDelivery.aggregator) == aggregator,
        col(PushDelivery.failed_at).is_not(None),
    )
    active = extension_active(col(ClassSession.company_id), aggregator)
    in_window = sa.and_(
        active,
        col(ClassSession.ends_at) > now,
        col(ClassSession.starts_at) < now + window,
        sa.or_(acked.is_(None), acked != ClassSession.version, failed),
    )
    known_moved = (
        select(PushDelivery.session_id)
        .join(ClassSession, col(ClassSession.id) == PushDelivery.session_id)
        .where(
            PushDelivery.aggregator == aggregator,
            col(PushDelivery.acked_state).in_(KNOWN_STATES),
            PushDelivery.acked_version != ClassSession.version,
            ClassSession.ends_at > now,
        )
    )
    rows = (
        await db.execute(
            select(ClassSession.company_id, ClassSession.id).where(
                sa.or_(in_window, col(ClassSession.id).in_(known_moved))
            )
        )
    ).all()
    return await _mark_pending(db, [(r[0], r[1]) for r in rows], [aggregator])


def _entering_window(aggregator: Aggregator, horizon: datetime) -> sa.ColumnElement[bool]:
    """SQL: a session of a company connected to the aggregator, in the window, never
    acknowledged and not owed: it was held back (outside the window) and has come in."""
    untold = sa.exists().where(
        col(PushDelivery.session_id) == ClassSession.id,
        col(PushDelivery.aggregator) == aggregator,
        sa.or_(
            col(PushDelivery.acked_version).is_not(None),
            col(PushDelivery.pending).is_(True),
            col(PushDelivery.failed_at).is_not(None),
        ),
    )
    return sa.and_(
        extension_active(col(ClassSession.company_id), aggregator),
        col(ClassSession.cancelled_at).is_(None),
        col(ClassSession.ends_at) > utcnow(),
        col(ClassSession.starts_at) < horizon,
        sa.not_(untold),
    )


async def mark_entering_window(
    *, db: AsyncSession, aggregators: list[Aggregator], window: timedelta
) -> int:
    """Sessions that entered the window by the passing of time become owed (the push held
    them back while they were further out). Cheap: only never-told sessions qualify."""
    if not aggregators:
        return 0
    horizon = utcnow() + window
    marked = 0
    await plan_for_these_values(db)  # none for hours, then thousands after a bulk change
    for aggregator in aggregators:
        rows = (
            await db.execute(
                select(ClassSession.company_id, ClassSession.id).where(
                    _entering_window(aggregator, horizon)
                )
            )
        ).all()
        marked += await _mark_pending(db, [(r[0], r[1]) for r in rows], [aggregator])
    return marked


async def next_window_entry(
    *, db: AsyncSession, aggregators: list[Aggregator], window: timedelta
) -> datetime | None:
    """When the next session of a connected company enters the window (its start minus
    the window): the push wakes up then instead of waiting for the reconciliation."""
    if not aggregators:
        return None
    horizon = utcnow() + window
    first = await db.scalar(
        select(sa.func.min(ClassSession.starts_at)).where(
            col(ClassSession.starts_at) >= horizon,
            col(ClassSession.cancelled_at).is_(None),
            sa.or_(*(extension_active(col(ClassSession.company_id), a) for a in aggregators)),
        )
    )
    return None if first is None else _as_utc(first) - window


def _as_utc(moment: datetime) -> datetime:
    # MIN() over a timestamp comes back naive on SQLite (the column type is not applied).
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def known_sessions(
    *, db: AsyncSession, aggregator: Aggregator, window: timedelta
) -> list[tuple[uuid.UUID, int]]:
    """(session id, acknowledged version) the aggregator should hold in the window."""
    now = utcnow()
    rows = await db.execute(
        select(PushDelivery.session_id, PushDelivery.acked_version)
        .join(ClassSession, col(ClassSession.id) == PushDelivery.session_id)
        .where(
            PushDelivery.aggregator == aggregator,
            col(PushDelivery.acked_state).in_(KNOWN_STATES),
            ClassSession.ends_at > now,
            ClassSession.starts_at < now + window,
        )
        .order_by(col(ClassSession.starts_at), col(ClassSession.id))
    )
    return [(r[0], r[1]) for r in rows]


async def acked_contents(
    *, db: AsyncSession, aggregator: Aggregator
) -> list[tuple[uuid.UUID, int, str]]:
    """(session id, acknowledged version, acknowledged content digest) of every session the
    aggregator holds that has not ended: what the reconciliation compares by content."""
    rows = await db.execute(
        select(PushDelivery.session_id, PushDelivery.acked_version, PushDelivery.acked_digest)
        .join(ClassSession, col(ClassSession.id) == PushDelivery.session_id)
        .where(
            PushDelivery.aggregator == aggregator,
            col(PushDelivery.acked_state).in_(KNOWN_STATES),
            col(PushDelivery.acked_digest).is_not(None),
            col(PushDelivery.acked_version).is_not(None),
            ClassSession.ends_at > utcnow(),
        )
        .order_by(col(PushDelivery.session_id))
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def forget_acks(
    *, db: AsyncSession, aggregator: Aggregator, session_ids: list[uuid.UUID]
) -> None:
    """The aggregator lost these sessions (it said so): send them again."""
    if not session_ids:
        return
    await db.execute(
        update(PushDelivery)
        .where(
            col(PushDelivery.aggregator) == aggregator,
            col(PushDelivery.session_id).in_(session_ids),
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
