"""Reservations: an aggregator's member books, cancels and checks in.

Every rule lives in models.booking; this module only finds (or creates) the member's
customer profile, makes retries idempotent and scopes everything to the aggregator.
"""

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models import booking as booking_model
from classbridge.models import waitlist as waitlist_model
from classbridge.models.aggregator import extension_active, venue_offered
from classbridge.models.customer import find_by_aggregator_id, held_in_transaction
from classbridge.models.db import any_of, is_unique_violation
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.inputs.customer import Member
from classbridge.models.session import lock_class_session
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.booking import Booking, BookingSource
from classbridge.models.tables.customer import Customer, CustomerAggregatorId
from classbridge.models.tables.product import Product
from classbridge.models.tables.session import ClassSession
from classbridge.models.tables.waitlist import WaitlistEntry


async def _offered_session(
    db: AsyncSession, aggregator: Aggregator, session_id: uuid.UUID
) -> tuple[ClassSession, Product | None]:
    """The session and the aggregator's built-in product at its studio (None before the
    first booking), in one query; sessions of studios not connected to this aggregator
    are reported as not found, exactly like unknown ones, and sessions of a venue not
    offered to it are refused."""
    row = (
        await db.execute(
            select(
                ClassSession,
                extension_active(col(ClassSession.company_id), aggregator).label("connected"),
                Product,
                venue_offered(col(ClassSession.venue_id), aggregator).label("offered"),
            )
            .outerjoin(
                Product,
                sa.and_(
                    col(Product.company_id) == col(ClassSession.company_id),
                    col(Product.aggregator) == aggregator,
                ),
            )
            .where(col(ClassSession.id) == session_id)
        )
    ).first()
    if row is None or not row[1]:
        raise not_found("session")
    if not row[3]:
        raise DomainError(
            ErrorCode.NOT_BOOKABLE_BY_AGGREGATOR, "this session's venue is not offered to you"
        )
    return row[0], row[2]


async def member_customer(
    *, db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator, member: Member
) -> Customer:
    """The studio's customer for this member: matched by the aggregator's member id
    (also one staff added by hand, or one that survived a merge), else created."""
    external_id = member.id
    # Under the lock a booking takes on its customer (models/customer.get_customer).
    found = await find_by_aggregator_id(
        db=db, company_id=company_id, aggregator=aggregator, external_id=external_id, lock=True
    )
    if found is not None:
        return found
    customer = Customer(company_id=company_id, **member.as_customer().model_dump())
    link = CustomerAggregatorId(
        company_id=company_id,
        customer_id=customer.id,
        aggregator=aggregator,
        external_id=external_id,
    )
    if db.get_bind().dialect.name == "sqlite":
        # A write transaction holds SQLite's write lock from its BEGIN IMMEDIATE: no
        # other transaction can have created this member since the lookup above, so
        # no savepoint is needed (it would cost two statements).
        db.add_all([customer, link])
        await db.flush()
        held_in_transaction(db, customer.id)
        return customer
    try:
        # A savepoint: if the same member's first two bookings race, the unique
        # (company, aggregator, member id) constraint lets one profile win and the
        # other transaction uses it instead of creating a duplicate.
        async with db.begin_nested():
            db.add(customer)
            await db.flush()
            db.add(link)
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        found = await find_by_aggregator_id(
            db=db, company_id=company_id, aggregator=aggregator, external_id=external_id, lock=True
        )
        assert found is not None
        return found
    held_in_transaction(db, customer.id)
    return customer


async def make_reservation(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    session_id: uuid.UUID,
    member: Member,
    checked_in: bool = False,
    check_in_opens_before: timedelta = booking_model.CHECK_IN_OPENS_BEFORE_START,
) -> Booking:
    """Book a member into a session through models.booking.book. A retry (same member,
    same session, booking still live) returns the existing booking instead of a second."""
    session, product = await _offered_session(db, aggregator, session_id)
    # The profile first, outside the session lock: other members need not wait for it.
    customer = await member_customer(
        db=db, company_id=session.company_id, aggregator=aggregator, member=member
    )
    # book() takes the session lock; under it the retry check and the booking cannot
    # interleave with a concurrent retry of the same member.
    return await booking_model.book(
        db=db,
        company_id=session.company_id,
        session_id=session.id,
        customer_id=customer.id,
        source=BookingSource.AGGREGATOR,
        product_id=product.id if product is not None else None,
        aggregator=aggregator,
        checked_in=checked_in,
        check_in_opens_before=check_in_opens_before,
        retry=True,
        member_id=member.id,
    )


async def get_reservation(
    *, db: AsyncSession, aggregator: Aggregator, reservation_id: uuid.UUID
) -> Booking:
    """One of this aggregator's bookings; anything else is reported as not found."""
    booking = await db.get(Booking, reservation_id)
    if booking is None or booking.aggregator is not aggregator:
        raise not_found("reservation")
    return booking


async def cancel_reservation(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    reservation_id: uuid.UUID,
    late: bool | None = None,
) -> Booking:
    """Cancel early or late (as the aggregator says, else by the studio's rule);
    cancelling again is a no-op success."""
    booking = await get_reservation(db=db, aggregator=aggregator, reservation_id=reservation_id)
    return await booking_model.cancel_booking(
        db=db,
        company_id=booking.company_id,
        booking_id=booking.id,
        by_aggregator=aggregator,
        late=late,
    )


async def check_in_reservation(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    reservation_id: uuid.UUID,
    opens_before: timedelta = booking_model.CHECK_IN_OPENS_BEFORE_START,
) -> Booking:
    """The member checked in (e.g. scanned at the door with the aggregator's app)."""
    booking = await get_reservation(db=db, aggregator=aggregator, reservation_id=reservation_id)
    return await booking_model.check_in(
        db=db, company_id=booking.company_id, booking_id=booking.id, opens_before=opens_before
    )


async def member_ids(
    *, db: AsyncSession, aggregator: Aggregator, customer_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The aggregator's member id of each customer (the partner API shows it on reservations)."""
    if not customer_ids:
        return {}
    rows = await db.execute(
        select(CustomerAggregatorId.customer_id, CustomerAggregatorId.external_id)
        .where(
            CustomerAggregatorId.aggregator == aggregator,
            any_of(db, col(CustomerAggregatorId.customer_id), customer_ids),
        )
        .order_by(col(CustomerAggregatorId.created_at).desc())
    )
    found: dict[uuid.UUID, str] = {}
    for customer_id, external_id in rows:
        found.setdefault(customer_id, external_id)
    return found


async def join_waitlist(
    *, db: AsyncSession, aggregator: Aggregator, session_id: uuid.UUID, member: Member
) -> WaitlistEntry:
    """Put a member on a full session's waitlist through models.waitlist (same rules as
    staff; the member waits for a spot within the aggregator's limit). A retry while the
    member is still waiting returns the existing entry."""
    session, _ = await _offered_session(db, aggregator, session_id)
    customer = await member_customer(
        db=db, company_id=session.company_id, aggregator=aggregator, member=member
    )
    await lock_class_session(db=db, session_id=session.id)
    for entry in await booking_model.waiting_entries(db=db, session_id=session.id):
        if entry.customer_id == customer.id and entry.aggregator is aggregator:
            return entry
    return await waitlist_model.join_waitlist(
        db=db,
        company_id=session.company_id,
        session_id=session.id,
        customer_id=customer.id,
        source=BookingSource.AGGREGATOR,
        aggregator=aggregator,
    )


async def get_waitlist_entry(
    *, db: AsyncSession, aggregator: Aggregator, entry_id: uuid.UUID
) -> WaitlistEntry:
    """One of this aggregator's waitlist entries; anything else is reported as not found."""
    entry = await db.get(WaitlistEntry, entry_id)
    if entry is None or entry.aggregator is not aggregator:
        raise not_found("waitlist entry")
    return entry


async def leave_waitlist(
    *, db: AsyncSession, aggregator: Aggregator, entry_id: uuid.UUID
) -> WaitlistEntry:
    entry = await get_waitlist_entry(db=db, aggregator=aggregator, entry_id=entry_id)
    return await waitlist_model.leave_waitlist(
        db=db, company_id=entry.company_id, entry_id=entry.id, by_aggregator=aggregator
    )


async def waitlist_entries(
    *, db: AsyncSession, aggregator: Aggregator, session_id: uuid.UUID
) -> list[WaitlistEntry]:
    """This aggregator's members' entries of a session, in waitlist order."""
    session, _ = await _offered_session(db, aggregator, session_id)
    return await waitlist_model.list_entries(db=db, session_ids=[session.id], aggregator=aggregator)
