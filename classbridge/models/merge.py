"""Merging duplicate customers: bookings and member ids move to the survivor."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select, update

from classbridge.models.base import utcnow
from classbridge.models.booking import cancel_live_bookings
from classbridge.models.customer import get_customer
from classbridge.models.errors import invalid
from classbridge.models.fields import TEXT_LENGTH
from classbridge.models.outbox import touch_session
from classbridge.models.session import lock_class_session
from classbridge.models.sign_in_events import SignInChange, record_sign_in_event
from classbridge.models.tables.booking import Booking, BookingStatus, CancellationType
from classbridge.models.tables.customer import Customer, CustomerAggregatorId

# Details the survivor takes over from the duplicate where it has none of its own.
_FILLED_FROM_DUPLICATE = ("email", "phone", "birthday", "street", "zip", "city", "country")


async def merge_customers(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
) -> Customer:
    """Fold `merged_id` into `survivor_id`: bookings and aggregator IDs move, the duplicate
    is deleted. Where both were booked into the same session, the survivor's booking stays
    and the duplicate's is cancelled."""
    if survivor_id == merged_id:
        raise invalid("a customer cannot be merged into itself", loc=("merged_id",))
    survivor = await get_customer(db=db, company_id=company_id, customer_id=survivor_id)
    merged = await get_customer(db=db, company_id=company_id, customer_id=merged_id)
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
    """Move bookings; a duplicate live booking in one session is cancelled, and that session
    (one booking fewer) is touched for the aggregators."""
    survivor_sessions = select(Booking.session_id).where(
        Booking.customer_id == to_customer.id, Booking.status != BookingStatus.CANCELLED
    )
    doubled = await db.scalars(
        select(Booking.session_id).where(
            Booking.customer_id == from_customer.id,
            Booking.status != BookingStatus.CANCELLED,
            col(Booking.session_id).in_(survivor_sessions),
        )
    )
    # Lock the sessions before their bookings change (as `book` does), in id order, so
    # neither a concurrent booking nor another merge can deadlock with us.
    sessions = [await lock_class_session(db=db, session_id=sid) for sid in sorted(set(doubled))]
    await cancel_live_bookings(
        db,
        (col(Booking.customer_id) == from_customer.id)
        & col(Booking.session_id).in_(survivor_sessions),
        CancellationType.EARLY,
    )
    await db.execute(
        update(Booking)
        .where(col(Booking.customer_id) == from_customer.id)
        .values(customer_id=to_customer.id, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    for session in sessions:
        assert session is not None
        # A cancelled duplicate frees a spot: aggregators must see the new availableSpots.
        touch_session(db, session)
        record_sign_in_event(db, SignInChange.CANCELLED, session, None)
