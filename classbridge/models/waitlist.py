"""Waitlists: joining and leaving a full session's waitlist, listing it, and the changes
that free spots (a session edit, new registration rules) followed by promotion.

Promotion and expiry themselves live in models/booking.py (`fill_from_waitlist`,
`expire_waitlist`), so a cancellation fills its spot in the same transaction. Session and
activity edits are below booking in the layers: `edit_session` and `update_rules` here run
them and then fill what they freed, under the session lock the edit took.
"""

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import session as session_model
from classbridge.models.base import utcnow
from classbridge.models.customer import get_customer, refuse_erased
from classbridge.models.db import any_of
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.fields import MAX_OFFSET_MINUTES
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.inputs.session import SessionEdit
from classbridge.models.outbox import note_waitlist_changes, upcoming
from classbridge.models.sign_in_events import SignInChange, record_sign_in_event
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.booking import BookingSource
from classbridge.models.tables.session import ClassSession
from classbridge.models.tables.waitlist import WaitlistEntry, WaitlistStatus


async def join_waitlist(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    session_id: uuid.UUID,
    customer_id: uuid.UUID,
    source: BookingSource,
    product_id: uuid.UUID | None = None,
    aggregator: Aggregator | None = None,
) -> WaitlistEntry:
    """Put a customer at the end of a full session's waitlist.

    Refused (with a code) when the session has no waitlist (WAITLIST_OFF), the waitlist is
    full (WAITLIST_FULL), the customer is booked (ALREADY_BOOKED) or already waiting
    (ALREADY_ON_WAITLIST), a spot is free for this caller (SPOTS_AVAILABLE: book it), or
    booking is not possible at all (the booking rules' own codes). An aggregator's member
    waits for a spot within the aggregator's limit.
    """
    if (source is BookingSource.AGGREGATOR) != (aggregator is not None):
        raise ValueError("aggregator entries, and only they, name an aggregator")
    # The customer's lock first, as `booking.book` takes it.
    customer = await get_customer(
        db=db, company_id=company_id, customer_id=customer_id, lock="share"
    )
    session = await session_model.lock_own_class_session(
        db=db, company_id=company_id, session_id=session_id
    )
    activity = await db.get(Activity, session.activity_id)
    assert activity is not None
    refuse_erased(customer)
    product = await booking_model.booking_product(db, company_id, product_id, aggregator)
    rules = session_model.effective_rules(session, activity)
    booking_model.check_bookable(session, rules, utcnow(), aggregator=aggregator is not None)
    if rules.waitlist_size == 0:
        raise DomainError(ErrorCode.WAITLIST_OFF, "this session has no waitlist")
    if await booking_model.live_booking(db=db, session_id=session.id, customer_id=customer.id):
        raise DomainError(
            ErrorCode.ALREADY_BOOKED,
            f"{customer.first_name} {customer.last_name} is already booked into this session",
        )
    counts = (await booking_model.booking_counts(db=db, session_ids=[session.id]))[session.id]
    if booking_model.available_spots(rules, counts, for_aggregator=aggregator is not None) != 0:
        raise DomainError(ErrorCode.SPOTS_AVAILABLE, "the session has a free spot: book it instead")
    waiting = await booking_model.waiting_entries(db=db, session_id=session.id)
    if any(e.customer_id == customer.id for e in waiting):
        raise DomainError(
            ErrorCode.ALREADY_ON_WAITLIST,
            f"{customer.first_name} {customer.last_name} is already on the waitlist",
        )
    if len(waiting) >= rules.waitlist_size:
        raise DomainError(
            ErrorCode.WAITLIST_FULL, f"the waitlist is full ({rules.waitlist_size} places)"
        )
    last = await db.scalar(
        select(func.max(WaitlistEntry.position)).where(WaitlistEntry.session_id == session.id)
    )
    entry = WaitlistEntry(
        company_id=company_id,
        session_id=session.id,
        customer_id=customer.id,
        product_id=product.id,
        source=source,
        aggregator=aggregator,
        position=(last or 0) + 1,
        updated_at=utcnow(),
    )
    db.add(entry)
    session.updated_at = utcnow()  # the sign-in list changed; spots did not
    await db.flush()
    record_sign_in_event(db, SignInChange.WAITLIST_CHANGED, session, None)
    return entry


async def get_entry(
    *, db: AsyncSession, company_id: uuid.UUID, entry_id: uuid.UUID
) -> WaitlistEntry:
    entry = await db.get(WaitlistEntry, entry_id)
    if entry is None or entry.company_id != company_id:
        raise not_found("waitlist entry")
    return entry


async def leave_waitlist(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    entry_id: uuid.UUID,
    by_aggregator: Aggregator | None = None,
) -> WaitlistEntry:
    """Take an entry off the waitlist; leaving twice changes nothing. An entry that was
    promoted is a booking now: cancel that instead (INVALID_STATE)."""
    entry = await get_entry(db=db, company_id=company_id, entry_id=entry_id)
    if by_aggregator is not None and entry.aggregator is not by_aggregator:
        raise not_found("waitlist entry")
    session = await session_model.lock_own_class_session(
        db=db, company_id=company_id, session_id=entry.session_id
    )
    await db.refresh(entry)  # read again under the session lock
    if entry.status is WaitlistStatus.LEFT:
        return entry
    if entry.status is not WaitlistStatus.WAITING:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"a waitlist entry that is {entry.status.value} cannot be left"
            + (" (cancel its booking instead)" if entry.booking_id else ""),
        )
    now = utcnow()
    entry.status = WaitlistStatus.LEFT
    entry.ended_at = now
    entry.updated_at = now
    session.updated_at = now
    await db.flush()
    record_sign_in_event(db, SignInChange.WAITLIST_CHANGED, session, None)
    if by_aggregator is None:  # the studio ended a member's entry: the aggregator is told
        await note_waitlist_changes(db, [entry])
    return entry


async def list_entries(
    *,
    db: AsyncSession,
    session_ids: list[uuid.UUID],
    aggregator: Aggregator | None = None,
    waiting_only: bool = False,
) -> list[WaitlistEntry]:
    """Entries of sessions in waitlist order (an aggregator sees only its own members')."""
    if not session_ids:
        return []
    stmt = select(WaitlistEntry).where(any_of(db, col(WaitlistEntry.session_id), session_ids))
    if aggregator is not None:
        stmt = stmt.where(WaitlistEntry.aggregator == aggregator)
    if waiting_only:
        stmt = stmt.where(WaitlistEntry.status == WaitlistStatus.WAITING)
    return list(
        await db.scalars(stmt.order_by(col(WaitlistEntry.session_id), col(WaitlistEntry.position)))
    )


async def _fill(db: AsyncSession, session: ClassSession) -> None:
    activity = await db.get(Activity, session.activity_id)
    assert activity is not None
    await booking_model.fill_from_waitlist(db=db, session=session, activity=activity)


async def edit_session(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    session_id: uuid.UUID,
    changes: SessionEdit,
) -> ClassSession:
    """`session.edit_session`, then the spots it freed (capacity or the aggregator limit
    raised) go to the waitlist under the lock the edit holds."""
    session = await session_model.edit_session(
        db=db, company_id=company_id, session_id=session_id, changes=changes
    )
    await _fill(db, session)
    return session


async def update_rules(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    activity_id: uuid.UUID,
    rules: RegistrationRules,
) -> Activity:
    """`activity.update_rules`, then every upcoming session of the activity with waiting
    entries is locked in turn and fills what the new rules freed."""
    activity = await activity_model.update_rules(
        db=db, company_id=company_id, activity_id=activity_id, rules=rules
    )
    for session_id in await _sessions_with_waiters(
        db, (col(ClassSession.activity_id) == activity.id) & upcoming()
    ):
        session = await session_model.lock_class_session(db=db, session_id=session_id)
        if session is not None:
            await _fill(db, session)
    return activity


async def _sessions_with_waiters(db: AsyncSession, where: object) -> list[uuid.UUID]:
    rows = await db.scalars(
        select(ClassSession.id)
        .where(where)  # type: ignore[arg-type]
        .where(
            col(ClassSession.id).in_(
                select(WaitlistEntry.session_id).where(
                    WaitlistEntry.status == WaitlistStatus.WAITING
                )
            )
        )
        .order_by(col(ClassSession.id))  # one lock order for every caller
    )
    return list(rows)


async def expire_due(*, db: AsyncSession) -> int:
    """Expire the waiting entries of every session whose booking window has closed and
    tell their members; run periodically (jobs/waitlist.py). Returns how many expired.

    The window closes at most MAX_OFFSET_MINUTES before the start, so only sessions
    starting before now + that can be due; each is locked and checked again."""
    horizon = utcnow() + timedelta(minutes=MAX_OFFSET_MINUTES)
    expired = 0
    for session_id in await _sessions_with_waiters(db, col(ClassSession.starts_at) < horizon):
        session = await session_model.lock_class_session(db=db, session_id=session_id)
        if session is None:
            continue
        activity = await db.get(Activity, session.activity_id)
        assert activity is not None
        expired += await booking_model.expire_waitlist(db=db, session=session, activity=activity)
    return expired
