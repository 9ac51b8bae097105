"""Merging duplicate customers: bookings and member ids move to the survivor."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select, update

from classbridge.models.base import utcnow
from classbridge.models.booking import cancel_live_bookings, fill_from_waitlist
from classbridge.models.customer import get_customer, refuse_erased
from classbridge.models.errors import DomainError, ErrorCode, invalid
from classbridge.models.fields import TEXT_LENGTH
from classbridge.models.outbox import note_waitlist_changes, touch_session
from classbridge.models.session import lock_class_session
from classbridge.models.sign_in_events import SignInChange, record_sign_in_event
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.booking import (
    Booking,
    BookingSource,
    BookingStatus,
    CancellationType,
)
from classbridge.models.tables.customer import Customer, CustomerAggregatorId
from classbridge.models.tables.waitlist import WaitlistEntry, WaitlistStatus

# Details the survivor takes over from the duplicate where it has none of its own.
_FILLED_FROM_DUPLICATE = ("email", "phone", "birthday", "street", "zip", "city", "country")


async def merge_customers(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
) -> Customer:
    """Fold `merged_id` into `survivor_id`: bookings, waitlist entries and aggregator IDs
    move, the duplicate is deleted; spots a cancelled duplicate booking frees go to the
    waitlist. Where both were booked into the same session one booking is cancelled, never
    an aggregator's reservation (see `_move_bookings`)."""
    if survivor_id == merged_id:
        raise invalid("a customer cannot be merged into itself", loc=("merged_id",))
    # Both customers locked before any session (as a booking takes them), in id order: two
    # merges of the same pair, either way round, cannot deadlock.
    locked = {
        cid: await get_customer(db=db, company_id=company_id, customer_id=cid, lock="change")
        for cid in sorted((survivor_id, merged_id))
    }
    survivor, merged = locked[survivor_id], locked[merged_id]
    refuse_erased(survivor)  # it would take the duplicate's details: erased stays erased
    await _move_bookings(db, from_customer=merged, to_customer=survivor)
    await db.execute(
        update(CustomerAggregatorId)
        .where(col(CustomerAggregatorId.customer_id) == merged.id)
        .values(customer_id=survivor.id)
    )
    for key in _FILLED_FROM_DUPLICATE:
        if getattr(survivor, key) is None and getattr(merged, key) is not None:
            setattr(survivor, key, getattr(merged, key))
    if merged.notes:
        notes = "\n".join(n for n in (survivor.notes, merged.notes) if n)
        survivor.notes = notes[:TEXT_LENGTH]
    survivor.updated_at = utcnow()
    await db.flush()
    await db.delete(merged)
    await db.flush()
    return survivor


async def _move_bookings(
    db: AsyncSession, *, from_customer: Customer, to_customer: Customer
) -> None:
    """Move bookings. Where both customers hold a live booking in one session, one goes:

    - an aggregator's reservation is never cancelled by a merge (its member did nothing and
      the aggregator would not be told why), so the studio's own booking is cancelled;
    - where both are aggregator reservations the merge is refused (MERGE_CONFLICT, naming
      the session): someone must cancel one of them in the aggregator's app first;
    - otherwise the duplicate's booking is cancelled.

    Each session that lost a booking (one spot freer) is touched for the aggregators."""
    customers = (from_customer.id, to_customer.id)
    live = (col(Booking.customer_id).in_(customers)) & (
        col(Booking.status) != BookingStatus.CANCELLED
    )
    by_session: dict[uuid.UUID, int] = {}
    for sid in await db.scalars(select(Booking.session_id).where(live)):
        by_session[sid] = by_session.get(sid, 0) + 1
    doubled = sorted(sid for sid, n in by_session.items() if n > 1)
    waiting_in = set(
        await db.scalars(
            select(WaitlistEntry.session_id).where(
                col(WaitlistEntry.customer_id).in_(customers),
                col(WaitlistEntry.status) == WaitlistStatus.WAITING,
            )
        )
    )
    # Lock the sessions before their bookings or waitlists change (as `book` does), in id
    # order, so neither a concurrent booking nor another merge can deadlock with us.
    locked = {
        sid: await lock_class_session(db=db, session_id=sid)
        for sid in sorted(set(doubled) | waiting_in)
    }
    sessions = [locked[sid] for sid in doubled]
    pairs: dict[uuid.UUID, list[Booking]] = {}
    for booking in await db.scalars(
        select(Booking)
        .where(live, col(Booking.session_id).in_(doubled))
        .execution_options(populate_existing=True)  # read again under the locks
    ):
        pairs.setdefault(booking.session_id, []).append(booking)
    losing: list[uuid.UUID] = []
    for session in sessions:
        assert session is not None
        pair = pairs.get(session.id, [])
        if len(pair) < 2:
            continue  # changed before we held the lock
        reservations = [b for b in pair if b.source is BookingSource.AGGREGATOR]
        if len(reservations) > 1:
            raise DomainError(
                ErrorCode.MERGE_CONFLICT,
                f"both customers hold an aggregator reservation in session {session.id} "
                f"(starting {session.starts_at:%Y-%m-%d %H:%M} UTC); a merge never cancels "
                "one: the member cancels it in the aggregator's app first",
                loc=("merged_id",),
            )
        if reservations:
            losing += [b.id for b in pair if b.source is not BookingSource.AGGREGATOR]
        else:
            losing += [b.id for b in pair if b.customer_id == from_customer.id]
    await cancel_live_bookings(db, col(Booking.id).in_(losing), CancellationType.EARLY)
    await db.execute(
        update(Booking)
        .where(col(Booking.customer_id) == from_customer.id)
        .values(customer_id=to_customer.id, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    await _move_waitlist_entries(db, from_customer=from_customer, to_customer=to_customer)
    for session in sessions:
        assert session is not None
        # A cancelled duplicate frees a spot: aggregators must see the new availableSpots.
        await touch_session(db, session)
        record_sign_in_event(db, SignInChange.CANCELLED, session, None)
    for session in locked.values():
        assert session is not None
        activity = await db.get(Activity, session.activity_id)
        assert activity is not None
        # The freed spot goes to the waitlist in the same transaction, under the lock.
        await fill_from_waitlist(db=db, session=session, activity=activity)


async def _move_waitlist_entries(
    db: AsyncSession, *, from_customer: Customer, to_customer: Customer
) -> None:
    """Waitlist entries move to the survivor (the caller holds the locks of the sessions
    where either waits). Per session one entry may wait: where the survivor holds a
    booking now, none does (LEFT); otherwise the earliest place is kept, the other LEFT."""
    customers = (from_customer.id, to_customer.id)
    waiting = list(
        await db.scalars(
            select(WaitlistEntry)
            .where(
                col(WaitlistEntry.customer_id).in_(customers),
                col(WaitlistEntry.status) == WaitlistStatus.WAITING,
            )
            .order_by(col(WaitlistEntry.session_id), col(WaitlistEntry.position))
            .execution_options(populate_existing=True)
        )
    )
    booked_in = set(
        await db.scalars(
            select(Booking.session_id).where(
                col(Booking.customer_id) == to_customer.id,
                col(Booking.status) != BookingStatus.CANCELLED,
            )
        )
    )
    now = utcnow()
    kept: set[uuid.UUID] = set()
    ended: list[WaitlistEntry] = []
    for entry in waiting:
        if entry.session_id in booked_in or entry.session_id in kept:
            entry.status = WaitlistStatus.LEFT
            entry.ended_at = entry.updated_at = now
            ended.append(entry)
        else:
            kept.add(entry.session_id)
    await db.flush()  # the ended entries first: one waiting entry per customer and session
    await db.execute(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.customer_id) == from_customer.id)
        .values(customer_id=to_customer.id, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    await note_waitlist_changes(db, ended)
