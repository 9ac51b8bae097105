"""Claiming deliveries under a lease, and recording what came of sending them."""

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col, func, select, update

from classbridge.models.base import UTCDateTime, utcnow
from classbridge.models.db import any_of, sqlite_json_rows
from classbridge.models.push.delivery import Ack, Claimed
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.push import (
    MAX_ERROR_LENGTH,
    EventDeliveryTable,
    PushDelivery,
    ReservationDelivery,
    WaitlistDelivery,
)


async def claim_deliveries(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    token: str,
    limit: int,
    lease: timedelta,
) -> list[Claimed]:
    """Take the lease on up to `limit` due rows; nobody else sends them until it runs out.

    On PostgreSQL a `SELECT … LIMIT n FOR UPDATE SKIP LOCKED` picks and locks the rows
    (skipping rows another worker is claiming right now), then one UPDATE by primary key
    takes them — never more than n (`WHERE id IN (SELECT … LIMIT n FOR UPDATE)` could be
    re-run and take more). The pick re-tests the due condition on the newest version of
    each row it locks, and nobody changes a row this transaction holds: the UPDATE needs
    no test of its own. On SQLite the write transaction is exclusive anyway: one UPDATE
    with the pick as a subquery.
    """
    now = utcnow()
    due = sa.and_(
        col(PushDelivery.aggregator) == aggregator,
        col(PushDelivery.pending).is_(True),
        col(PushDelivery.failed_at).is_(None),
        sa.or_(
            col(PushDelivery.next_attempt_at).is_(None), col(PushDelivery.next_attempt_at) <= now
        ),
        sa.or_(col(PushDelivery.lease_until).is_(None), col(PushDelivery.lease_until) <= now),
    )
    pick = select(col(PushDelivery.id)).where(due).order_by(col(PushDelivery.id)).limit(limit)
    claim = (
        update(PushDelivery)
        .values(lease_token=token, lease_until=now + lease, last_attempt_at=now)
        .returning(
            col(PushDelivery.id),
            col(PushDelivery.session_id),
            col(PushDelivery.pending_gen),
            col(PushDelivery.attempts),
            col(PushDelivery.acked_state),
        )
        .execution_options(synchronize_session=False)
    )
    if db.get_bind().dialect.name == "postgresql":
        # Lock the picked rows first (skipping rows another worker is claiming right now),
        # then update exactly those by primary key: a join against a CTE may be planned as
        # a nested loop over the whole table while its statistics are stale (a bulk change
        # of thousands of rows), which cost 0.3 s per claim.
        ids = list(await db.scalars(pick.with_for_update(skip_locked=True)))
        if not ids:
            return []
        # By primary key alone: with the due test here too, the planner (its statistics
        # stale after a burst) scanned every pending row through the due index for the
        # 400 it wanted: 38 ms a claim instead of 8 (bench/push_bench.py --postgres).
        stmt = claim.where(any_of(db, col(PushDelivery.id), ids))
    else:
        stmt = claim.where(col(PushDelivery.id).in_(pick.scalar_subquery()), due)
    rows = (await db.execute(stmt)).all()
    # A claimed row has its primary key: `id` is only None before the first flush.
    return [Claimed(r[0], r[1], r[2], r[3], r[4]) for r in rows]  # type: ignore[arg-type]


async def record_acks(*, db: AsyncSession, token: str, acks: list[Ack]) -> None:
    """Record acknowledgements for rows this worker still holds: one statement for all."""
    if not acks:
        return
    table = SQLModel.metadata.tables[PushDelivery.__tablename__]  # Core: one statement for all
    c = table.c
    if db.get_bind().dialect.name == "sqlite":
        # The acknowledgements as one JSON parameter, joined in by UPDATE … FROM (see
        # `sqlite_json_rows`). The write transaction is exclusive: no lock order to keep.
        ack_id, version, state, digest, gen = sqlite_json_rows(
            [
                [a.claimed.id, a.version, a.state.name, a.digest, a.claimed.pending_gen]
                for a in acks
            ],
            5,
        )
        await db.execute(
            table.update()
            .where(c.id == ack_id, c.lease_token == token)
            .values(_acked(c, version, gen, acked_state=state, acked_digest=digest))
        )
        return
    version = sa.bindparam("b_version", type_=sa.Integer)
    stmt = (
        table.update()
        .where(c.id == sa.bindparam("b_id"), c.lease_token == token)
        .values(
            _acked(
                c,
                version,
                sa.bindparam("b_gen", type_=sa.Integer),
                acked_state=sa.bindparam("b_state"),
                acked_digest=sa.bindparam("b_digest"),
            )
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
                "b_digest": a.digest,
                "b_gen": a.claimed.pending_gen,
            }
            # Session order, as everywhere rows are locked in bulk: no deadlocks.
            for a in sorted(acks, key=lambda a: str(a.claimed.session_id))
        ],
    )


def _acked(c: Any, version: Any, gen: Any, **more: Any) -> dict[str, Any]:
    """What an acknowledgement sets on a delivery row (`c`: its table's columns), from the
    acknowledged version and the pending_gen of its claim; `more`: a table's own columns."""
    return dict(
        acked_version=sa.case((c.acked_version > version, c.acked_version), else_=version),
        acked_at=utcnow(),
        # A change that arrived while this one was in flight keeps the row pending.
        pending=c.pending_gen != gen,
        attempts=0,
        next_attempt_at=None,
        failed_at=None,
        last_error=None,
        lease_token=None,
        lease_until=None,
        **more,
    )


async def defer_deliveries(*, db: AsyncSession, token: str, claimed: list[Claimed]) -> None:
    """Nothing to send yet (outside the window, unknown to the aggregator): release the
    rows un-pending; the reconciliation picks them up once they enter the window."""
    if not claimed:
        return
    await db.execute(
        update(PushDelivery)
        .where(
            col(PushDelivery.id).in_([c.id for c in claimed]),
            col(PushDelivery.lease_token) == token,
        )
        .values(
            pending=sa.case(
                *[
                    (col(PushDelivery.id) == c.id, col(PushDelivery.pending_gen) != c.pending_gen)
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
    await fail_leased(
        db=db,
        table=PushDelivery,
        token=token,
        ids=[c.id for c in claimed],
        error=error,
        retry_at=retry_at,
    )


async def fail_leased(
    *,
    db: AsyncSession,
    table: type[PushDelivery] | type[ReservationDelivery] | type[WaitlistDelivery],
    token: str,
    ids: list[int],
    error: str,
    retry_at: datetime | None,
) -> None:
    """The failure of a send, for the rows of either delivery table still leased under
    `token`: one more attempt, retried at `retry_at` or marked failed (None)."""
    if not ids:
        return
    await db.execute(
        update(table)
        .where(col(table.id).in_(ids), col(table.lease_token) == token)
        .values(
            attempts=table.attempts + 1,
            next_attempt_at=retry_at,
            failed_at=None if retry_at is not None else utcnow(),
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
    lease, retry = col(PushDelivery.lease_until), col(PushDelivery.next_attempt_at)
    # A row is claimable once both its lease and its retry time have passed.
    moment = sa.case((lease > retry, lease), else_=sa.func.coalesce(retry, lease))
    earliest = await db.scalar(
        select(
            sa.type_coerce(
                func.min(sa.func.coalesce(moment, sa.literal(now, UTCDateTime))), UTCDateTime
            )
        ).where(
            col(PushDelivery.aggregator).in_(aggregators),
            col(PushDelivery.pending).is_(True),
            col(PushDelivery.failed_at).is_(None),
        )
    )
    return earliest


# -- events (reservation and waitlist events): one row per subject, a version that grows --


def _event_due(
    table: EventDeliveryTable, aggregator: Aggregator, now: datetime
) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(table.aggregator) == aggregator,
        col(table.pending).is_(True),
        col(table.failed_at).is_(None),
        sa.or_(col(table.next_attempt_at).is_(None), col(table.next_attempt_at) <= now),
        sa.or_(col(table.lease_until).is_(None), col(table.lease_until) <= now),
    )


async def claim_events(
    *,
    db: AsyncSession,
    table: EventDeliveryTable,
    subject: str,
    aggregator: Aggregator,
    token: str,
    limit: int,
    lease: timedelta,
) -> list[tuple[int, Any, int, int, int]]:
    """Take the lease on up to `limit` due events of one table, as `claim_deliveries` does
    for sessions (the same CTE, for the same reason); rows of (id, `subject` (the column
    naming the reservation or entry), version, pending_gen, attempts)."""
    now = utcnow()
    due = _event_due(table, aggregator, now)
    pick = select(col(table.id)).where(due).order_by(col(table.id)).limit(limit)
    if db.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    picked = pick.cte("picked")
    rows = (
        await db.execute(
            update(table)
            .where(col(table.id) == picked.c.id, due)
            .values(lease_token=token, lease_until=now + lease, last_attempt_at=now)
            .returning(
                col(table.id),
                getattr(table, subject),
                col(table.version),
                col(table.pending_gen),
                col(table.attempts),
            )
            .execution_options(synchronize_session=False)
        )
    ).all()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


async def record_event_acks(
    *, db: AsyncSession, table: EventDeliveryTable, token: str, acked: list[tuple[int, int, int]]
) -> None:
    """The aggregator has these (id, version, pending_gen); a change noted meanwhile keeps
    the row pending."""
    columns = SQLModel.metadata.tables[table.__tablename__].c
    for row_id, version, pending_gen in acked:
        await db.execute(
            update(table)
            .where(col(table.id) == row_id, col(table.lease_token) == token)
            .values(_acked(columns, version, pending_gen))
            .execution_options(synchronize_session=False)
        )


async def retry_failed_events(
    *, db: AsyncSession, table: EventDeliveryTable, aggregator: Aggregator
) -> int:
    """Reconciliation: failed events get a fresh set of attempts."""
    result = await db.execute(
        update(table)
        .where(col(table.aggregator) == aggregator, col(table.failed_at).is_not(None))
        .values(pending=True, failed_at=None, attempts=0, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def next_event_due(
    *, db: AsyncSession, table: EventDeliveryTable, aggregators: list[Aggregator]
) -> datetime | None:
    """When the earliest pending event (waiting for a retry or a lease) becomes claimable."""
    if not aggregators:
        return None
    rows = await db.execute(
        select(table.next_attempt_at, table.lease_until).where(
            col(table.aggregator).in_(aggregators),
            col(table.pending).is_(True),
            col(table.failed_at).is_(None),
        )
    )
    now = utcnow()
    moments = [max([m for m in row if m is not None], default=now) for row in rows]
    return min(moments, default=None)
