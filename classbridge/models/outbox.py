"""Telling aggregators that something changed: outbox rows and session versions.

Outbox rows are inserted in the same transaction as the change they describe, so a
rolled-back change leaves none, and a committed one is never forgotten even if the process
dies. A change an aggregator can see also grows the session's `version` (and `updated_at`),
so receivers can drop stale updates: `touch_session` for a session row in hand,
`touch_sessions` for many at once; `bump_versions` is the one UPDATE behind both kinds.

When the studio side changes an aggregator's *reservation* (cancels its session, a
waitlist promotion, a no-show, …), `note_reservation_change` owes the aggregator a
reservation event: it grows the reservation's event version and marks it pending, in the
same transaction (docs/aggregator-push.md, "Reservation events"). `note_waitlist_changes`
does the same for an aggregator member's waitlist entry ("Waitlist events").
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, update

from classbridge.models.base import utcnow
from classbridge.models.db import notify
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.booking import Booking
from classbridge.models.tables.outbox import OutboxItem, OutboxKind
from classbridge.models.tables.push import (
    EventDeliveryTable,
    ReservationDelivery,
    WaitlistDelivery,
)
from classbridge.models.tables.session import ClassSession
from classbridge.models.tables.waitlist import WaitlistEntry


@dataclass(frozen=True)
class OutboxWritten:
    """Notice after commit: the outbox has new rows, deliver soon."""

    company_id: uuid.UUID


async def add_outbox_items(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    kind: OutboxKind,
    session_ids: list[uuid.UUID] | None = None,
    aggregator: Aggregator | None = None,
) -> None:
    """Queue outbox rows in the current transaction and announce them after commit.

    One INSERT for all of them, from plain rows: an ORM object per row cost ~0.2 ms
    (construction, the unit of work, the audit log's look at every new object), most
    of a change that touches many sessions (1,000 on SQLite: 243 against 40 ms,
    bench/touch_sessions.py)."""
    name = aggregator.value if aggregator is not None else None
    now = utcnow()
    rows = [
        {
            "company_id": company_id,
            "kind": kind,
            "session_id": sid,
            "aggregator": name,
            "created_at": now,
        }
        for sid in (session_ids if session_ids is not None else [None])
    ]
    if rows:
        await db.execute(sa.insert(OutboxItem), rows)
    notify(db, OutboxWritten(company_id=company_id))


async def touch_session(db: AsyncSession, session: ClassSession) -> None:
    """A change aggregators can see, to a session row in hand (held under its lock): new
    version, new `updated_at`, an outbox row."""
    session.version += 1
    session.updated_at = utcnow()
    await add_outbox_items(
        db=db,
        company_id=session.company_id,
        kind=OutboxKind.SESSION_CHANGED,
        session_ids=[session.id],
    )


async def bump_versions(
    db: AsyncSession, where: sa.ColumnElement[bool]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Grow `version` and `updated_at` of the matching sessions in one UPDATE; returns
    (session id, company id) of each. Callers decide who is told (an outbox row or not)."""
    rows = await db.execute(
        update(ClassSession)
        .where(where)
        .values(version=ClassSession.version + 1, updated_at=utcnow())
        .returning(col(ClassSession.id), col(ClassSession.company_id))
        .execution_options(synchronize_session="fetch")
    )
    return [(r[0], r[1]) for r in rows]


async def touch_sessions(db: AsyncSession, where: sa.ColumnElement[bool]) -> int:
    """A change aggregators can see, to every matching session: new versions, outbox rows.
    Returns how many sessions changed."""
    changed: dict[uuid.UUID, list[uuid.UUID]] = {}
    for session_id, company_id in await bump_versions(db, where):
        changed.setdefault(company_id, []).append(session_id)
    for company_id, session_ids in changed.items():
        await add_outbox_items(
            db=db, company_id=company_id, kind=OutboxKind.SESSION_CHANGED, session_ids=session_ids
        )
    return sum(len(ids) for ids in changed.values())


async def touch_venue_sessions(db: AsyncSession, venue_id: uuid.UUID) -> int:
    """A change to a venue that aggregators can see (its link, name, address, time zone…):
    every upcoming session of the venue gets a new version and goes out again."""
    return await touch_sessions(db, (col(ClassSession.venue_id) == venue_id) & upcoming())


def upcoming() -> sa.ColumnElement[bool]:
    """Sessions that have not ended yet: the ones aggregators still care about."""
    return col(ClassSession.ends_at) > utcnow()


@dataclass(frozen=True)
class ReservationRef:
    """Enough of a booking to owe its aggregator an event (e.g. from an UPDATE's RETURNING)."""

    booking_id: uuid.UUID
    company_id: uuid.UUID
    aggregator: Aggregator | None


async def note_reservation_change(db: AsyncSession, booking: Booking) -> None:
    """The studio side changed this booking's state (cancelled it, promoted it, marked it a
    no-show…): if it is an aggregator's reservation, that aggregator receives a signed
    reservation event with the booking's state at sending time and a grown version.

    Call it in the transaction that changed the booking, after the change (nothing is sent
    if the transaction rolls back). Bookings of staff or customers are ignored, so callers
    need not check. Changes the aggregator made itself (partner API) need no event.
    """
    await note_reservation_changes(
        db, [ReservationRef(booking.id, booking.company_id, booking.aggregator)]
    )


async def note_reservation_changes(db: AsyncSession, refs: Iterable[ReservationRef]) -> None:
    """`note_reservation_change` for many bookings at once (one upsert)."""
    rows = sorted(
        {(r.booking_id, r.company_id, r.aggregator) for r in refs if r.aggregator is not None},
        key=lambda r: str(r[0]),  # one lock order for concurrent transactions
    )
    await _owe_events(db, ReservationDelivery, "booking_id", rows)


@dataclass(frozen=True)
class WaitlistRef:
    """Enough of a waitlist entry to owe its aggregator an event (from a RETURNING)."""

    id: uuid.UUID
    company_id: uuid.UUID
    aggregator: Aggregator | None


async def note_waitlist_changes(
    db: AsyncSession, entries: Iterable[WaitlistEntry | WaitlistRef]
) -> None:
    """The studio side changed these waitlist entries (promoted, expired, ended one): each
    aggregator member's entry is owed a signed waitlist event with its state at sending
    time and a grown version (docs/aggregator-push.md, "Waitlist events"). Entries of the
    studio's own customers are ignored; changes the aggregator made itself (joining,
    leaving through the partner API) need no event. Call it after the change, in its
    transaction."""
    rows = sorted(
        {(e.id, e.company_id, e.aggregator) for e in entries if e.aggregator is not None},
        key=lambda r: str(r[0]),  # one lock order for concurrent transactions
    )
    await _owe_events(db, WaitlistDelivery, "entry_id", rows)


async def _owe_events(
    db: AsyncSession,
    table: EventDeliveryTable,
    key: str,
    rows: list[tuple[uuid.UUID, uuid.UUID, Aggregator]],
) -> None:
    """Mark events owed in one upsert: a new row at version 1, or the next version."""
    if not rows:
        return
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(
        [
            {
                key: subject_id,
                "company_id": company_id,
                "aggregator": aggregator,
                "version": 1,
                "pending": True,
                "pending_gen": 1,
                "attempts": 0,
            }
            for subject_id, company_id, aggregator in rows
        ]
    )
    await db.execute(
        stmt.on_conflict_do_update(
            index_elements=[key],
            set_={
                "version": table.version + 1,
                "pending": True,
                "pending_gen": table.pending_gen + 1,
                "failed_at": None,
                "attempts": 0,
                "next_attempt_at": None,
            },
        )
    )
    for company_id in {company_id for _, company_id, _ in rows}:
        notify(db, OutboxWritten(company_id=company_id))
