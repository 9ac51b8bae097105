"""Bookings: the one place where anyone (staff, customer, aggregator) books, cancels and
signs in. The staff API and the partner API both call these functions; every change
locks the session first (models/session.py `lock_class_session`)."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select, update

from classbridge.models.aggregator import aggregators_taking_bookings
from classbridge.models.base import utcnow
from classbridge.models.customer import get_customer, refuse_erased
from classbridge.models.db import any_of
from classbridge.models.email import queue_email
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.localtime import utc_to_local
from classbridge.models.outbox import (
    ReservationRef,
    WaitlistRef,
    note_reservation_change,
    note_reservation_changes,
    note_waitlist_changes,
    touch_session,
)
from classbridge.models.product import aggregator_product, get_product, is_built_in
from classbridge.models.session import SessionRules, effective_rules
from classbridge.models.sign_in_events import SignInChange, record_sign_in_event
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.booking import (
    LIVE_STATUSES,
    Booking,
    BookingHistory,
    BookingSource,
    BookingStatus,
    CancellationType,
)
from classbridge.models.tables.company import Venue
from classbridge.models.tables.customer import Customer, CustomerAggregatorId
from classbridge.models.tables.product import Product
from classbridge.models.tables.session import ClassSession
from classbridge.models.tables.waitlist import WaitlistEntry, WaitlistStatus

CHECK_IN_OPENS_BEFORE_START = timedelta(minutes=60)
"""How long before its start a session's check-in opens, unless the caller says otherwise
(the APIs pass CLASSBRIDGE_CHECK_IN_OPENS_MINUTES)."""

SIGN_IN_ORDER = (
    Customer.__table__.c.last_name,  # type: ignore[attr-defined]
    Customer.__table__.c.first_name,  # type: ignore[attr-defined]
    Booking.__table__.c.booked_at,  # type: ignore[attr-defined]
    Booking.__table__.c.id,  # type: ignore[attr-defined]
)
"""How a sign-in list is ordered: by customer name (join Customer). The tables' own
columns: a statement of them alone runs as plain SQL, without the ORM's compile step."""


class BookingRow(Protocol):
    """What a list of bookings shows: a `Booking`, or a plain row of its columns (a
    schedule page's hundreds of bookings are read so, as `db.records`: an ORM entity costs
    ~10 µs more to build and ~0.6 µs more per attribute read)."""

    id: uuid.UUID
    company_id: uuid.UUID
    session_id: uuid.UUID
    customer_id: uuid.UUID
    product_id: uuid.UUID
    source: BookingSource
    aggregator: Aggregator | None
    status: BookingStatus
    cancellation_type: CancellationType
    booked_at: datetime
    cancelled_at: datetime | None
    checked_in_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class BookingCounts:
    booked: int = 0
    checked_in: int = 0
    aggregator_booked: int = 0


async def booking_counts(
    *, db: AsyncSession, session_ids: list[uuid.UUID]
) -> dict[uuid.UUID, BookingCounts]:
    """Live bookings per session, in one query."""
    if not session_ids:
        return {}
    rows = await db.execute(
        select(
            Booking.session_id,
            func.count(),
            func.count().filter(col(Booking.status) == BookingStatus.CHECKED_IN),
            func.count().filter(col(Booking.source) == BookingSource.AGGREGATOR),
        )
        .where(
            any_of(db, col(Booking.session_id), session_ids),
            col(Booking.status).in_(LIVE_STATUSES),
        )
        .group_by(col(Booking.session_id))
    )
    counts = {sid: BookingCounts() for sid in session_ids}
    for sid, booked, checked_in, aggregator_booked in rows:
        counts[sid] = BookingCounts(booked, checked_in, aggregator_booked)
    return counts


def counts_of(bookings: Iterable[BookingRow]) -> BookingCounts:
    """A session's counts from all of its bookings, already loaded (a sign-in list, a
    schedule page with its bookings): what `booking_counts` counts, without its query,
    and always in agreement with the list shown beside them."""
    booked = checked_in = aggregator_booked = 0
    for booking in bookings:
        status = booking.status
        if status in LIVE_STATUSES:
            booked += 1
            checked_in += status is BookingStatus.CHECKED_IN
            aggregator_booked += booking.source is BookingSource.AGGREGATOR
    return BookingCounts(booked, checked_in, aggregator_booked)


def available_spots(
    rules: SessionRules, counts: BookingCounts, *, for_aggregator: bool
) -> int | None:
    """Spots still bookable (None = unlimited); an aggregator also stops at its limit."""
    free = None if rules.capacity is None else max(rules.capacity - counts.booked, 0)
    if not for_aggregator:
        return free
    if not rules.aggregator_allowed:
        return 0
    if rules.aggregator_limit is None:
        return free
    left = max(rules.aggregator_limit - counts.aggregator_booked, 0)
    return left if free is None else min(free, left)


@dataclass(frozen=True)
class SpotCounts:
    """A session's spots as staff see them (sign-in lists, live dashboards)."""

    booked: int
    capacity: int | None
    available: int | None
    checked_in: int
    aggregator_booked: int
    aggregator_limit: int | None


def spot_counts(rules: SessionRules, counts: BookingCounts) -> SpotCounts:
    return SpotCounts(
        booked=counts.booked,
        capacity=rules.capacity,
        available=available_spots(rules, counts, for_aggregator=False),
        checked_in=counts.checked_in,
        aggregator_booked=counts.aggregator_booked,
        aggregator_limit=rules.aggregator_limit,
    )


def check_bookable(
    session: ClassSession, rules: SessionRules, now: datetime, *, aggregator: bool
) -> None:
    if session.is_cancelled:
        raise DomainError(ErrorCode.SESSION_CANCELLED, "the session is cancelled")
    if session.ends_at <= now:
        raise DomainError(ErrorCode.SESSION_IN_PAST, "the session is over")
    if rules.booking_opens_at is not None and now < rules.booking_opens_at:
        raise DomainError(
            ErrorCode.BOOKING_WINDOW_NOT_OPEN,
            f"bookings open at {rules.booking_opens_at:%Y-%m-%d %H:%M} UTC",
        )
    if now >= rules.booking_closes_at:
        raise DomainError(ErrorCode.BOOKING_WINDOW_CLOSED, "bookings for this session are closed")
    if aggregator and not rules.aggregator_allowed:
        raise DomainError(
            ErrorCode.NOT_BOOKABLE_BY_AGGREGATOR, "this session is not offered to aggregators"
        )


def _check_in_open(session: ClassSession, now: datetime, opens_before: timedelta) -> None:
    """Check-in opens `opens_before` the start; earlier, nobody can be at the door."""
    opens_at = session.starts_at - opens_before
    if now < opens_at:
        raise DomainError(
            ErrorCode.CHECK_IN_NOT_OPEN,
            f"check-in opens at {opens_at:%Y-%m-%d %H:%M} UTC",
        )


async def live_booking(
    *, db: AsyncSession, session_id: uuid.UUID, customer_id: uuid.UUID
) -> Booking | None:
    return await db.scalar(
        select(Booking).where(
            Booking.session_id == session_id,
            Booking.customer_id == customer_id,
            Booking.status != BookingStatus.CANCELLED,
        )
    )


async def _counts_and_customer(
    db: AsyncSession, session_id: uuid.UUID, customer_id: uuid.UUID
) -> tuple[BookingCounts, bool, bool]:
    """The session's live bookings, whether the customer holds one of them and whether the
    customer waits on its waitlist: one query (the booking path's statement count is
    asserted by tests/models/test_statement_counts.py)."""
    live = col(Booking.status).in_(LIVE_STATUSES)
    waiting = (
        sa.exists()
        .where(
            col(WaitlistEntry.session_id) == session_id,
            col(WaitlistEntry.customer_id) == customer_id,
            col(WaitlistEntry.status) == WaitlistStatus.WAITING,
        )
        .correlate(None)
    )
    row = (
        await db.execute(
            sa.select(  # sqlmodel's select() stops its overloads at four columns
                func.count(),
                func.count().filter(col(Booking.status) == BookingStatus.CHECKED_IN),
                func.count().filter(col(Booking.source) == BookingSource.AGGREGATOR),
                func.count().filter(col(Booking.customer_id) == customer_id),
                waiting.label("waiting"),
            ).where(col(Booking.session_id) == session_id, live)
        )
    ).one()
    return BookingCounts(row[0], row[1], row[2]), row[3] > 0, bool(row[4])


async def _locked_session_with_activity(
    db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[ClassSession, Activity, Venue]:
    """The session under its row lock (as `session.lock_class_session` takes it) with its
    activity and venue (the booking history reads its time zone): one query."""
    row = (
        await db.execute(
            select(ClassSession, Activity, Venue)
            .join(Activity, col(Activity.id) == col(ClassSession.activity_id))
            .join(Venue, col(Venue.id) == col(ClassSession.venue_id))
            .where(col(ClassSession.id) == session_id)
            .with_for_update(of=ClassSession)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None or row[0].company_id != company_id:
        raise not_found("session")
    return row[0], row[1], row[2]


async def book(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    session_id: uuid.UUID,
    customer_id: uuid.UUID,
    source: BookingSource,
    product_id: uuid.UUID | None = None,
    aggregator: Aggregator | None = None,
    checked_in: bool = False,
    check_in_opens_before: timedelta = CHECK_IN_OPENS_BEFORE_START,
    retry: bool = False,
    member_id: str | None = None,
) -> Booking:
    """Book a customer into a session, enforcing every registration rule.

    Staff and customer bookings name a product; aggregator bookings always use the
    aggregator's built-in product (`product_id` may name it when the caller already
    holds it) and count against the aggregator limit. Booking `checked_in` also needs
    the session's check-in to be open. `retry`: a live booking of the same customer by
    the same aggregator is returned as it is, before any rule is checked (an aggregator
    retrying a request it sent before).
    """
    if (source is BookingSource.AGGREGATOR) != (aggregator is not None):
        raise ValueError("aggregator bookings, and only they, name an aggregator")
    # The customer's lock before the session's (models/customer.get_customer): a booking
    # and an erasure of the same customer cannot both go through.
    customer = await get_customer(
        db=db, company_id=company_id, customer_id=customer_id, lock="share"
    )
    session, activity, venue = await _locked_session_with_activity(db, company_id, session_id)
    refuse_erased(customer)
    product = await booking_product(db, company_id, product_id, aggregator)
    now = utcnow()
    rules = effective_rules(session, activity)
    counts, customer_booked, customer_waiting = await _counts_and_customer(
        db, session.id, customer.id
    )
    if customer_booked and retry:
        existing = await live_booking(db=db, session_id=session.id, customer_id=customer.id)
        if existing is not None and existing.aggregator is aggregator:
            return existing
    check_bookable(session, rules, now, aggregator=aggregator is not None)
    if checked_in:
        _check_in_open(session, now, check_in_opens_before)
    if customer_booked:
        raise DomainError(
            ErrorCode.ALREADY_BOOKED,
            f"{customer.first_name} {customer.last_name} is already booked into this session",
        )
    if rules.capacity is not None and counts.booked >= rules.capacity:
        raise DomainError(ErrorCode.SESSION_FULL, f"the session is full ({rules.capacity} spots)")
    if (
        aggregator is not None
        and rules.aggregator_limit is not None
        and counts.aggregator_booked >= rules.aggregator_limit
    ):
        raise DomainError(
            ErrorCode.AGGREGATOR_LIMIT_REACHED,
            f"all {rules.aggregator_limit} spots for aggregators are taken",
        )
    booking = Booking(
        company_id=company_id,
        session_id=session.id,
        customer_id=customer.id,
        product_id=product.id,
        source=source,
        aggregator=aggregator,
        status=BookingStatus.CHECKED_IN if checked_in else BookingStatus.BOOKED,
        checked_in_at=now if checked_in else None,
    )
    db.add(booking)
    # Both changes to the session row before the flush: one UPDATE, not two.
    await touch_session(db, session)
    record_sign_in_event(db, SignInChange.BOOKED, session, booking.id)
    await db.flush()
    if customer_waiting:
        # Booked directly while waiting (e.g. a staff spot freed): the entry has done its job.
        ended = await db.execute(
            update(WaitlistEntry)
            .where(
                col(WaitlistEntry.session_id) == session.id,
                col(WaitlistEntry.customer_id) == customer.id,
                col(WaitlistEntry.status) == WaitlistStatus.WAITING,
            )
            .values(status=WaitlistStatus.LEFT, ended_at=now, updated_at=now)
            .returning(
                col(WaitlistEntry.id), col(WaitlistEntry.company_id), col(WaitlistEntry.aggregator)
            )
            .execution_options(synchronize_session="fetch")
        )
        # An aggregator's member booked by someone else (the studio, another aggregator):
        # that aggregator is told its entry ended; its own booking needs no event.
        await note_waitlist_changes(
            db, [WaitlistRef(*row) for row in ended if row[2] is not aggregator]
        )
    await record_history(db, [booking], session, member_id=member_id, venue=venue)
    return booking


async def booking_product(
    db: AsyncSession,
    company_id: uuid.UUID,
    product_id: uuid.UUID | None,
    aggregator: Aggregator | None,
) -> Product:
    if aggregator is not None:
        if product_id is not None:  # the caller read it already: from the identity map
            held = await db.get(Product, product_id)
            if held is not None and held.company_id == company_id and held.aggregator is aggregator:
                return held
        return await aggregator_product(db=db, company_id=company_id, aggregator=aggregator)
    if product_id is None:
        raise DomainError(ErrorCode.VALIDATION, "choose a product", loc=("product_id",))
    product = await get_product(db=db, company_id=company_id, product_id=product_id)
    if is_built_in(product):
        raise DomainError(
            ErrorCode.BUILT_IN_PRODUCT,
            f"{product.name} is assigned only to bookings made through {product.name}",
            loc=("product_id",),
        )
    if product.archived:
        raise DomainError(
            ErrorCode.INVALID_STATE, f"{product.name} is archived", loc=("product_id",)
        )
    return product


async def cancel_live_bookings(
    db: AsyncSession,
    where: sa.ColumnElement[bool],
    cancellation_type: CancellationType,
    *,
    statuses: tuple[BookingStatus, ...] = LIVE_STATUSES,
) -> None:
    """Cancel every live booking that matches (only those in `statuses`), in one UPDATE
    (callers hold the sessions' locks and record the sign-in events). The studio side
    cancels them, so every aggregator reservation among them is owed a reservation event,
    and the booking history gets a row for each."""
    now = utcnow()
    result = await db.execute(
        update(Booking)
        .where(where, col(Booking.status).in_(statuses))
        .values(
            status=BookingStatus.CANCELLED,
            cancellation_type=cancellation_type,
            cancelled_at=now,
            updated_at=now,
        )
        .returning(col(Booking.id), col(Booking.company_id), col(Booking.aggregator))
        .execution_options(synchronize_session="fetch")
    )
    refs = [ReservationRef(*row) for row in result]
    await note_reservation_changes(db, refs)
    if not refs:
        return
    cancelled = [ref.booking_id for ref in refs]
    rows = list(
        await db.scalars(
            select(Booking)
            .where(col(Booking.id).in_(cancelled))
            .execution_options(populate_existing=True)
        )
    )
    for session_id in sorted({b.session_id for b in rows}):
        session = await db.get(ClassSession, session_id)
        assert session is not None
        await record_history(db, [b for b in rows if b.session_id == session_id], session)


async def get_booking(*, db: AsyncSession, company_id: uuid.UUID, booking_id: uuid.UUID) -> Booking:
    """A booking of this company; another company's is reported as not found."""
    booking = await db.get(Booking, booking_id)
    if booking is None or booking.company_id != company_id:
        raise not_found("booking")
    return booking


async def _locked_booking(
    db: AsyncSession, company_id: uuid.UUID, booking_id: uuid.UUID
) -> tuple[Booking, ClassSession, Activity, Venue]:
    booking = await get_booking(db=db, company_id=company_id, booking_id=booking_id)
    session, activity, venue = await _locked_session_with_activity(
        db, company_id, booking.session_id
    )
    await db.refresh(booking)  # read again under the session lock
    return booking, session, activity, venue


async def cancel_booking(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    booking_id: uuid.UUID,
    by_aggregator: Aggregator | None = None,
    late: bool | None = None,
) -> Booking:
    """Cancel a booking, EARLY or LATE by the free-cancellation rule (or as the aggregator
    says). Staff cannot cancel aggregator bookings; cancelling twice changes nothing."""
    booking, session, activity, venue = await _locked_booking(db, company_id, booking_id)
    if booking.source is BookingSource.AGGREGATOR and by_aggregator is None:
        name = booking.aggregator.display_name if booking.aggregator else "the aggregator"
        raise DomainError(
            ErrorCode.AGGREGATOR_BOOKING,
            f"this booking was made through {name}: the member cancels it in the {name} app",
        )
    if by_aggregator is not None and booking.aggregator is not by_aggregator:
        raise not_found("reservation")
    if booking.status is BookingStatus.CANCELLED:
        return booking
    if booking.status is not BookingStatus.BOOKED:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"a booking that is {booking.status.value} cannot be cancelled",
        )
    now = utcnow()
    if late is None:
        late = now > effective_rules(session, activity).free_cancellation_until
    booking.status = BookingStatus.CANCELLED
    booking.cancellation_type = CancellationType.LATE if late else CancellationType.EARLY
    booking.cancelled_at = now
    booking.updated_at = now
    await touch_session(db, session)
    await db.flush()
    await record_history(db, [booking], session, venue=venue)
    record_sign_in_event(db, SignInChange.CANCELLED, session, booking.id)
    # The freed spot goes to the waitlist in the same transaction, under the same lock.
    await fill_from_waitlist(db=db, session=session, activity=activity)
    return booking


async def _set_status(
    db: AsyncSession,
    company_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    allowed_from: tuple[BookingStatus, ...],
    to: BookingStatus,
    change: SignInChange,
    check_in_opens_before: timedelta | None = None,
) -> Booking:
    booking, session, _, venue = await _locked_booking(db, company_id, booking_id)
    if booking.status is to:
        return booking
    if booking.status not in allowed_from:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"a booking that is {booking.status.value} cannot become {to.value}",
        )
    now = utcnow()
    if check_in_opens_before is not None:
        _check_in_open(session, now, check_in_opens_before)
    if to is BookingStatus.NO_SHOW and now < session.starts_at:
        raise DomainError(ErrorCode.INVALID_STATE, "no-shows are marked once the session started")
    booking.status = to
    booking.checked_in_at = now if to is BookingStatus.CHECKED_IN else None
    booking.updated_at = now
    session.updated_at = now  # the sign-in list changed; spots did not
    await db.flush()
    await record_history(db, [booking], session, venue=venue)
    record_sign_in_event(db, change, session, booking.id)
    await db.flush()
    return booking


async def check_in(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    booking_id: uuid.UUID,
    opens_before: timedelta = CHECK_IN_OPENS_BEFORE_START,
) -> Booking:
    """Sign a booked (or no-show) customer in, from `opens_before` the start on (earlier:
    CHECK_IN_NOT_OPEN); signing in twice changes nothing."""
    return await _set_status(
        db,
        company_id,
        booking_id,
        allowed_from=(BookingStatus.BOOKED, BookingStatus.NO_SHOW),
        to=BookingStatus.CHECKED_IN,
        change=SignInChange.CHECKED_IN,
        check_in_opens_before=opens_before,
    )


async def undo_check_in(
    *, db: AsyncSession, company_id: uuid.UUID, booking_id: uuid.UUID
) -> Booking:
    """Take a check-in back: the booking holds its spot again."""
    return await _set_status(
        db,
        company_id,
        booking_id,
        allowed_from=(BookingStatus.CHECKED_IN,),
        to=BookingStatus.BOOKED,
        change=SignInChange.CHECK_IN_UNDONE,
    )


async def mark_no_show(
    *, db: AsyncSession, company_id: uuid.UUID, booking_id: uuid.UUID
) -> Booking:
    """Mark that a booked customer did not come (once the session has started)."""
    booking = await _set_status(
        db,
        company_id,
        booking_id,
        allowed_from=(BookingStatus.BOOKED,),
        to=BookingStatus.NO_SHOW,
        change=SignInChange.NO_SHOW,
    )
    if booking.aggregator is not None:
        await note_reservation_change(db, booking)  # aggregators bill by no-shows
    return booking


async def record_history(
    db: AsyncSession,
    bookings: list[Booking],
    session: ClassSession,
    *,
    member_id: str | None = None,
    venue: Venue | None = None,
) -> None:
    """Append one booking-history row per booking, as the booking stands now (after the
    change was flushed), with the session's venue, activity and venue-local date as they
    are now: a later edit of the session leaves these rows as they were. `member_id`: the
    aggregator's member id of a single booking when the caller knows it, `venue` the
    session's venue when the caller holds it (each saves a query)."""
    if not bookings:
        return
    venue = venue or await db.get(Venue, session.venue_id)
    assert venue is not None
    local_date = utc_to_local(session.starts_at, venue.zone).date()
    members: dict[tuple[uuid.UUID, Aggregator], str] = {}
    from_aggregators = [b for b in bookings if b.aggregator is not None]
    if member_id is not None and len(from_aggregators) == len(bookings) == 1:
        only = from_aggregators[0]
        assert only.aggregator is not None
        members[(only.customer_id, only.aggregator)] = member_id
    elif from_aggregators:
        rows = await db.execute(
            select(
                CustomerAggregatorId.customer_id,
                CustomerAggregatorId.aggregator,
                CustomerAggregatorId.external_id,
            )
            .where(
                any_of(db, col(CustomerAggregatorId.customer_id), {b.customer_id for b in bookings})
            )
            .order_by(col(CustomerAggregatorId.created_at).desc())
        )
        for customer_id, aggregator, external_id in rows:
            members.setdefault((customer_id, Aggregator(aggregator)), external_id)
    now = utcnow()
    db.add_all(
        BookingHistory(
            company_id=b.company_id,
            booking_id=b.id,
            session_id=session.id,
            venue_id=session.venue_id,
            activity_id=session.activity_id,
            customer_id=b.customer_id,
            source=b.source,
            aggregator=b.aggregator,
            member_id=members.get((b.customer_id, b.aggregator)) if b.aggregator else None,
            status=b.status,
            cancellation_type=b.cancellation_type,
            session_local_date=local_date,
            session_month=f"{local_date:%Y-%m}",
            occurred_at=now,
        )
        for b in bookings
    )


# -- waitlist promotion and expiry ---------------------------------------------------------
# Here rather than in models/waitlist.py: cancelling (this module) frees spots, and the
# promotion must happen in the same transaction under the same session lock.


async def waiting_entries(*, db: AsyncSession, session_id: uuid.UUID) -> list[WaitlistEntry]:
    """A session's waiting entries, in the order they joined."""
    return list(
        await db.scalars(
            select(WaitlistEntry)
            .where(
                WaitlistEntry.session_id == session_id,
                WaitlistEntry.status == WaitlistStatus.WAITING,
            )
            .order_by(col(WaitlistEntry.position))
        )
    )


async def fill_from_waitlist(
    *, db: AsyncSession, session: ClassSession, activity: Activity
) -> list[Booking]:
    """Turn waiting entries into bookings while spots are free, strictly in waitlist
    order; an aggregator's member whose aggregator has no spot left is passed over (and
    keeps their place). The caller holds the session's lock. Once the booking window has
    closed, the waiting entries expire instead. Returns the bookings made."""
    now = utcnow()
    rules = effective_rules(session, activity)
    if session.is_cancelled or now >= rules.booking_closes_at or session.ends_at <= now:
        await expire_waitlist(db=db, session=session, activity=activity)
        return []
    entries = await waiting_entries(db=db, session_id=session.id)
    if not entries:
        return []
    counts = (await booking_counts(db=db, session_ids=[session.id]))[session.id]
    # A member of an aggregator that may not book here now (extension deactivated, venue
    # withdrawn) is passed over and keeps their place, as when it has no spot left.
    taking = await aggregators_taking_bookings(
        db=db,
        company_id=session.company_id,
        venue_id=session.venue_id,
        among={e.aggregator for e in entries if e.aggregator is not None},
    )
    promoted: list[tuple[WaitlistEntry, Booking]] = []
    left: list[WaitlistEntry] = []
    for entry in entries:
        if available_spots(rules, counts, for_aggregator=False) == 0:
            break
        if entry.aggregator is not None and (
            entry.aggregator not in taking
            or not available_spots(rules, counts, for_aggregator=True)
        ):
            continue
        if await live_booking(db=db, session_id=session.id, customer_id=entry.customer_id):
            _end_entry(entry, WaitlistStatus.LEFT, now)  # booked meanwhile
            left.append(entry)
            continue
        booking = Booking(
            company_id=session.company_id,
            session_id=session.id,
            customer_id=entry.customer_id,
            product_id=entry.product_id,
            source=entry.source,
            aggregator=entry.aggregator,
            status=BookingStatus.BOOKED,
        )
        db.add(booking)
        await db.flush()
        _end_entry(entry, WaitlistStatus.PROMOTED, now)
        entry.booking_id = booking.id
        counts = BookingCounts(
            counts.booked + 1,
            counts.checked_in,
            counts.aggregator_booked + (entry.aggregator is not None),
        )
        promoted.append((entry, booking))
    # The aggregator hears of its members' entries that ended here (waitlist events).
    await note_waitlist_changes(db, left + [entry for entry, _ in promoted])
    if not promoted:
        return []
    await touch_session(db, session)
    await db.flush()
    await record_history(db, [booking for _, booking in promoted], session)
    for entry, booking in promoted:
        record_sign_in_event(db, SignInChange.PROMOTED, session, booking.id)
        await _tell_member(
            db, entry, session, activity, "You have a place", "a spot freed up: you are booked"
        )
        # The reservation the aggregator never made itself reaches it as an event.
        await note_reservation_change(db, booking)
    return [booking for _, booking in promoted]


async def expire_waitlist(*, db: AsyncSession, session: ClassSession, activity: Activity) -> int:
    """End every waiting entry of a session whose booking window has closed (or that was
    cancelled or is over) and tell each member. The caller holds the session's lock."""
    now = utcnow()
    rules = effective_rules(session, activity)
    if not (session.is_cancelled or now >= rules.booking_closes_at or session.ends_at <= now):
        return 0
    entries = await waiting_entries(db=db, session_id=session.id)
    for entry in entries:
        _end_entry(entry, WaitlistStatus.EXPIRED, now)
    if not entries:
        return 0
    await db.flush()
    record_sign_in_event(db, SignInChange.WAITLIST_CHANGED, session, None)
    for entry in entries:
        await _tell_member(
            db,
            entry,
            session,
            activity,
            "No place this time",
            "bookings have closed and no spot freed up: your waitlist place has expired",
        )
    # An aggregator's members' entries reach it as signed waitlist events.
    await note_waitlist_changes(db, entries)
    return len(entries)


def _end_entry(entry: WaitlistEntry, status: WaitlistStatus, now: datetime) -> None:
    entry.status = status
    entry.ended_at = now
    entry.updated_at = now


async def _tell_member(
    db: AsyncSession,
    entry: WaitlistEntry,
    session: ClassSession,
    activity: Activity,
    subject: str,
    what: str,
) -> None:
    """Email the customer (when there is an address) through the email outbox."""
    customer = await db.get(Customer, entry.customer_id)
    if customer is None or not customer.email:
        return
    venue = await db.get(Venue, session.venue_id)
    assert venue is not None
    local = utc_to_local(session.starts_at, venue.zone)
    queue_email(
        db=db,
        to=[customer.email],
        subject=f"{subject}: {activity.name} on {local:%Y-%m-%d %H:%M}",
        body=(
            f"Hello {customer.first_name},\n\n{activity.name} at {venue.name} on "
            f"{local:%A, %Y-%m-%d at %H:%M}: {what}.\n"
        ),
        company_id=session.company_id,
    )
