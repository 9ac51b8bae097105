"""Bookings: the one place where anyone (staff, customer, aggregator) books, cancels and
signs in. The staff API and the partner API both call these functions."""

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.activity import Activity
from classbridge.models.aggregator import Aggregator
from classbridge.models.base import created_at_field, enum_type, timestamp_field, utcnow, uuid_pk
from classbridge.models.customer import Customer, get_customer
from classbridge.models.db import notify
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.product import Product, aggregator_product, get_product
from classbridge.models.session import (
    ClassSession,
    SessionRules,
    effective_rules,
    get_session,
    lock_session,
    touch_session,
)


class BookingSource(enum.StrEnum):
    STAFF = "STAFF"
    """Booked by staff at the desk or on the phone."""
    CUSTOMER = "CUSTOMER"
    """Booked by the customer in the studio's own app."""
    AGGREGATOR = "AGGREGATOR"
    """Booked by an aggregator's member through the partner API."""


class BookingStatus(enum.StrEnum):
    BOOKED = "BOOKED"
    """Holds a spot."""
    CANCELLED = "CANCELLED"
    """Gave its spot back."""
    CHECKED_IN = "CHECKED_IN"
    """Signed in at the door."""
    NO_SHOW = "NO_SHOW"
    """Held a spot but did not come."""


class CancellationType(enum.StrEnum):
    NONE = "NONE"
    """Not cancelled."""
    SESSION = "SESSION"
    """The studio cancelled the session."""
    EARLY = "EARLY"
    """Cancelled within the free cancellation period."""
    LATE = "LATE"
    """Cancelled after the free cancellation period."""


LIVE_STATUSES = (BookingStatus.BOOKED, BookingStatus.CHECKED_IN, BookingStatus.NO_SHOW)


class Booking(SQLModel, table=True):
    """A customer's place in a session."""

    __table_args__ = (
        # One live booking per customer and session; cancelled ones may repeat. This
        # constraint is the last line of defence behind the check in `book`.
        sa.Index(
            "uq_booking_live_customer",
            "session_id",
            "customer_id",
            unique=True,
            sqlite_where=sa.text("status != 'CANCELLED'"),
            postgresql_where=sa.text("status != 'CANCELLED'"),
        ),
    )

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    session_id: uuid.UUID = Field(foreign_key="class_session.id", index=True, ondelete="CASCADE")
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True)
    product_id: uuid.UUID = Field(foreign_key="product.id")
    source: BookingSource = Field(sa_type=enum_type(BookingSource))
    aggregator: Aggregator | None = Field(default=None, sa_type=enum_type(Aggregator))
    status: BookingStatus = Field(default=BookingStatus.BOOKED, sa_type=enum_type(BookingStatus))
    cancellation_type: CancellationType = Field(
        default=CancellationType.NONE, sa_type=enum_type(CancellationType)
    )
    booked_at: datetime = created_at_field()
    cancelled_at: datetime | None = timestamp_field()
    checked_in_at: datetime | None = timestamp_field()
    updated_at: datetime = timestamp_field(nullable=False)


class SignInChange(enum.StrEnum):
    BOOKED = "BOOKED"
    CANCELLED = "CANCELLED"
    CHECKED_IN = "CHECKED_IN"
    CHECK_IN_UNDONE = "CHECK_IN_UNDONE"
    NO_SHOW = "NO_SHOW"
    SESSION_UPDATED = "SESSION_UPDATED"
    SESSION_CANCELLED = "SESSION_CANCELLED"


@dataclass(frozen=True)
class SignInEvent:
    """Notice after commit: a sign-in list changed (for live dashboards)."""

    change: SignInChange
    company_id: uuid.UUID
    venue_id: uuid.UUID
    session_id: uuid.UUID
    booking_id: uuid.UUID | None
    sequence: int = 0
    """The session's `sign_in_seq` after this change: 1, 2, 3, ... in commit order."""
    moved_from: datetime | None = None
    """SESSION_UPDATED that moved the session: its previous start (UTC)."""


def record_sign_in_event(
    db: AsyncSession,
    change: SignInChange,
    session: ClassSession,
    booking_id: uuid.UUID | None,
    *,
    moved_from: datetime | None = None,
) -> None:
    """Number the event under the session's row lock (every caller holds it), so the
    numbers follow commit order, then record it for after the commit."""
    session.sign_in_seq += 1
    notify(
        db,
        SignInEvent(
            change=change,
            company_id=session.company_id,
            venue_id=session.venue_id,
            session_id=session.id,
            booking_id=booking_id,
            sequence=session.sign_in_seq,
            moved_from=moved_from,
        ),
    )


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
            func.count().filter(Booking.status == BookingStatus.CHECKED_IN),
            func.count().filter(Booking.source == BookingSource.AGGREGATOR),
        )
        .where(
            Booking.session_id.in_(session_ids),  # type: ignore[attr-defined]
            Booking.status.in_(LIVE_STATUSES),  # type: ignore[attr-defined]
        )
        .group_by(Booking.session_id)
    )
    counts = {sid: BookingCounts() for sid in session_ids}
    for sid, booked, checked_in, aggregator_booked in rows:
        counts[sid] = BookingCounts(booked, checked_in, aggregator_booked)
    return counts


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


def _check_bookable(
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


async def _locked_session_with_activity(
    db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[ClassSession, Activity]:
    session = await lock_session(db=db, session_id=session_id)
    if session is None or session.company_id != company_id:
        raise not_found("session")
    activity = await db.get(Activity, session.activity_id)
    assert activity is not None
    return session, activity


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
) -> Booking:
    """Book a customer into a session, enforcing every registration rule.

    Staff and customer bookings name a product; aggregator bookings always use the
    aggregator's built-in product and count against the aggregator limit.
    """
    if (source is BookingSource.AGGREGATOR) != (aggregator is not None):
        raise ValueError("aggregator bookings, and only they, name an aggregator")
    session, activity = await _locked_session_with_activity(db, company_id, session_id)
    customer = await get_customer(db=db, company_id=company_id, customer_id=customer_id)
    product = await _booking_product(db, company_id, product_id, aggregator)
    now = utcnow()
    rules = effective_rules(session, activity)
    _check_bookable(session, rules, now, aggregator=aggregator is not None)
    if await live_booking(db=db, session_id=session.id, customer_id=customer.id) is not None:
        raise DomainError(
            ErrorCode.ALREADY_BOOKED,
            f"{customer.first_name} {customer.last_name} is already booked into this session",
        )
    counts = (await booking_counts(db=db, session_ids=[session.id]))[session.id]
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
    touch_session(db, session)
    await db.flush()
    record_sign_in_event(db, SignInChange.BOOKED, session, booking.id)
    return booking


async def _booking_product(
    db: AsyncSession,
    company_id: uuid.UUID,
    product_id: uuid.UUID | None,
    aggregator: Aggregator | None,
) -> Product:
    if aggregator is not None:
        return await aggregator_product(db=db, company_id=company_id, aggregator=aggregator)
    if product_id is None:
        raise DomainError(ErrorCode.VALIDATION, "choose a product", field="productId")
    product = await get_product(db=db, company_id=company_id, product_id=product_id)
    if product.built_in:
        raise DomainError(
            ErrorCode.BUILT_IN_PRODUCT,
            f"{product.name} is assigned only to bookings made through {product.name}",
            field="productId",
        )
    if product.archived:
        raise DomainError(ErrorCode.INVALID_STATE, f"{product.name} is archived", field="productId")
    return product


async def get_booking(*, db: AsyncSession, company_id: uuid.UUID, booking_id: uuid.UUID) -> Booking:
    """A booking of this company; another company's is reported as not found."""
    booking = await db.get(Booking, booking_id)
    if booking is None or booking.company_id != company_id:
        raise not_found("booking")
    return booking


async def _locked_booking(
    db: AsyncSession, company_id: uuid.UUID, booking_id: uuid.UUID
) -> tuple[Booking, ClassSession, Activity]:
    booking = await get_booking(db=db, company_id=company_id, booking_id=booking_id)
    session, activity = await _locked_session_with_activity(db, company_id, booking.session_id)
    await db.refresh(booking)  # read again under the session lock
    return booking, session, activity


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
    booking, session, activity = await _locked_booking(db, company_id, booking_id)
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
    touch_session(db, session)
    await db.flush()
    record_sign_in_event(db, SignInChange.CANCELLED, session, booking.id)
    return booking


async def _set_status(
    db: AsyncSession,
    company_id: uuid.UUID,
    booking_id: uuid.UUID,
    *,
    allowed_from: tuple[BookingStatus, ...],
    to: BookingStatus,
    change: SignInChange,
    only_aggregator: Aggregator | None = None,
) -> Booking:
    booking, session, _ = await _locked_booking(db, company_id, booking_id)
    if only_aggregator is not None and booking.aggregator is not only_aggregator:
        raise not_found("reservation")
    if booking.status is to:
        return booking
    if booking.status not in allowed_from:
        raise DomainError(
            ErrorCode.INVALID_STATE,
            f"a booking that is {booking.status.value} cannot become {to.value}",
        )
    now = utcnow()
    if to is BookingStatus.NO_SHOW and now < session.starts_at:
        raise DomainError(ErrorCode.INVALID_STATE, "no-shows are marked once the session started")
    booking.status = to
    booking.checked_in_at = now if to is BookingStatus.CHECKED_IN else None
    booking.updated_at = now
    session.updated_at = now  # the sign-in list changed; spots did not
    await db.flush()
    record_sign_in_event(db, change, session, booking.id)
    return booking


async def check_in(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    booking_id: uuid.UUID,
    only_aggregator: Aggregator | None = None,
) -> Booking:
    """Sign a booked (or no-show) customer in; signing in twice changes nothing."""
    return await _set_status(
        db,
        company_id,
        booking_id,
        allowed_from=(BookingStatus.BOOKED, BookingStatus.NO_SHOW),
        to=BookingStatus.CHECKED_IN,
        change=SignInChange.CHECKED_IN,
        only_aggregator=only_aggregator,
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
    return await _set_status(
        db,
        company_id,
        booking_id,
        allowed_from=(BookingStatus.BOOKED,),
        to=BookingStatus.NO_SHOW,
        change=SignInChange.NO_SHOW,
    )


async def cancel_all_for_session(*, db: AsyncSession, session: ClassSession) -> None:
    """The studio cancelled the session: every live booking is cancelled with type SESSION."""
    now = utcnow()
    await db.execute(
        update(Booking)
        .where(Booking.session_id == session.id, Booking.status != BookingStatus.CANCELLED)
        .values(
            status=BookingStatus.CANCELLED,
            cancellation_type=CancellationType.SESSION,
            cancelled_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session="fetch")
    )
    record_sign_in_event(db, SignInChange.SESSION_CANCELLED, session, None)


async def move_bookings(
    *, db: AsyncSession, from_customer: Customer, to_customer: Customer
) -> None:
    """Move bookings for a customer merge; a duplicate live booking in one session is
    cancelled, and that session (one booking fewer) is touched for the aggregators."""
    survivor_sessions = select(Booking.session_id).where(
        Booking.customer_id == to_customer.id, Booking.status != BookingStatus.CANCELLED
    )
    doubled = await db.scalars(
        select(Booking.session_id).where(
            Booking.customer_id == from_customer.id,
            Booking.status != BookingStatus.CANCELLED,
            Booking.session_id.in_(survivor_sessions),  # type: ignore[attr-defined]
        )
    )
    # Lock the sessions before their bookings change (as `book` does), in id order, so
    # neither a concurrent booking nor another merge can deadlock with us.
    sessions = [await lock_session(db=db, session_id=sid) for sid in sorted(set(doubled))]
    now = utcnow()
    await db.execute(
        update(Booking)
        .where(
            Booking.customer_id == from_customer.id,
            Booking.status != BookingStatus.CANCELLED,
            Booking.session_id.in_(survivor_sessions),  # type: ignore[attr-defined]
        )
        .values(
            status=BookingStatus.CANCELLED,
            cancellation_type=CancellationType.EARLY,
            cancelled_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session="fetch")
    )
    await db.execute(
        update(Booking)
        .where(Booking.customer_id == from_customer.id)
        .values(customer_id=to_customer.id, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    for session in sessions:
        assert session is not None
        # A cancelled duplicate frees a spot: aggregators must see the new availableSpots.
        touch_session(db, session)
        record_sign_in_event(db, SignInChange.CANCELLED, session, None)


async def sign_in_list(
    *, db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID
) -> list[Booking]:
    """A session's bookings (all statuses) ordered by customer name."""
    session = await get_session(db=db, company_id=company_id, session_id=session_id)
    rows = await db.scalars(
        select(Booking)
        .join(Customer, Customer.id == Booking.customer_id)
        .where(Booking.session_id == session.id)
        .order_by(Customer.last_name, Customer.first_name, Booking.booked_at, Booking.id)
    )
    return list(rows)
