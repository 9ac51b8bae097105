"""Customers' data rights: everything stored about a customer (export), and erasure, which
anonymises the profile but keeps the bookings, so counts and reports stay right."""

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from classbridge.models import audit
from classbridge.models.base import utcnow
from classbridge.models.customer import aggregator_ids_of, get_customer
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.booking import Booking, BookingStatus
from classbridge.models.tables.company import Venue
from classbridge.models.tables.customer import Customer
from classbridge.models.tables.product import Product
from classbridge.models.tables.session import ClassSession
from classbridge.models.tables.waitlist import WaitlistEntry, WaitlistStatus
from classbridge.models.waitlist import leave_waitlist

ERASED_FIRST_NAME = "Erased"
ERASED_LAST_NAME = "Customer"
PROFILE_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birthday",
    "notes",
    "street",
    "zip",
    "city",
    "country",
)
"""What erasure anonymises (with the aggregator ids, which are deleted)."""


def _plain(value: Any) -> Any:
    """A JSON value: times and days in ISO 8601, UUIDs and enums as strings."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "value"):  # enums
        return value.value
    return value


async def export_customer(
    *, db: AsyncSession, company_id: uuid.UUID, customer_id: uuid.UUID
) -> dict[str, Any]:
    """Everything stored about a customer, as JSON-ready data: the profile, the member ids
    at aggregators, and every booking with its session, activity, venue and product."""
    customer = await get_customer(db=db, company_id=company_id, customer_id=customer_id)
    profile = {
        name: _plain(getattr(customer, name))
        for name in Customer.model_fields
        if name != "company_id"
    }
    ids = [
        {
            "aggregator": _plain(row.aggregator),
            "externalId": row.external_id,
            "addedAt": _plain(row.created_at),
        }
        for row in await aggregator_ids_of(db=db, customer_ids=[customer.id])
    ]
    rows = await db.execute(
        sa.select(Booking, ClassSession, Activity, Venue, Product)
        .join(ClassSession, col(ClassSession.id) == Booking.session_id)
        .join(Activity, col(Activity.id) == ClassSession.activity_id)
        .join(Venue, col(Venue.id) == ClassSession.venue_id)
        .join(Product, col(Product.id) == Booking.product_id)
        .where(col(Booking.customer_id) == customer.id, col(Booking.company_id) == company_id)
        .order_by(col(ClassSession.starts_at), col(Booking.booked_at), col(Booking.id))
    )
    bookings = [
        {
            "id": _plain(booking.id),
            "sessionId": _plain(session.id),
            "activity": activity.name,
            "venue": venue.name,
            "startsAt": _plain(session.starts_at),
            "endsAt": _plain(session.ends_at),
            "product": product.name,
            "source": _plain(booking.source),
            "aggregator": _plain(booking.aggregator),
            "status": _plain(booking.status),
            "cancellationType": _plain(booking.cancellation_type),
            "bookedAt": _plain(booking.booked_at),
            "cancelledAt": _plain(booking.cancelled_at),
            "checkedInAt": _plain(booking.checked_in_at),
        }
        for booking, session, activity, venue, product in rows
    ]
    return {
        "customer": {_camel(k): v for k, v in profile.items()},
        "aggregatorIds": ids,
        "bookings": bookings,
        "exportedAt": _plain(utcnow()),
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def upcoming_bookings(*, db: AsyncSession, customer_id: uuid.UUID) -> int:
    """The customer's live bookings in sessions that have not ended and are not cancelled."""
    return int(
        await db.scalar(
            select(func.count())
            .select_from(Booking)
            .join(ClassSession, col(ClassSession.id) == Booking.session_id)
            .where(
                Booking.customer_id == customer_id,
                col(Booking.status).in_((BookingStatus.BOOKED, BookingStatus.CHECKED_IN)),
                col(ClassSession.ends_at) > utcnow(),
                col(ClassSession.cancelled_at).is_(None),
            )
        )
        or 0
    )


async def erase_customer(
    *, db: AsyncSession, company_id: uuid.UUID, customer_id: uuid.UUID
) -> Customer:
    """Anonymise a customer: names become "Erased Customer"; contact, birthday, notes and
    address are cleared; member ids at aggregators are deleted. Bookings stay (anonymous)
    for counts and reports. Refused with CUSTOMER_HAS_UPCOMING_BOOKINGS while a booking
    lies ahead (cancel it first). Erasing again changes nothing."""
    # Under the lock a booking takes first (models/customer.get_customer): none can be
    # made meanwhile, and one in flight is counted below once it has committed.
    customer = await get_customer(
        db=db, company_id=company_id, customer_id=customer_id, lock="change"
    )
    if customer.erased_at is not None:
        return customer
    ahead = await upcoming_bookings(db=db, customer_id=customer.id)
    if ahead:
        raise DomainError(
            ErrorCode.CUSTOMER_HAS_UPCOMING_BOOKINGS,
            f"the customer has {ahead} upcoming booking(s): cancel them before erasing",
        )
    # Waiting entries end with the profile, as if left at the desk (each under its
    # session's lock, the aggregator told of its member's): an erased customer is never
    # promoted into a booking.
    waiting = await db.scalars(
        select(WaitlistEntry.id)
        .where(
            WaitlistEntry.customer_id == customer.id,
            WaitlistEntry.status == WaitlistStatus.WAITING,
        )
        .order_by(col(WaitlistEntry.session_id))  # sessions locked in one order
    )
    for entry_id in list(waiting):
        await leave_waitlist(db=db, company_id=company_id, entry_id=entry_id)
    # The audit log records the erasure as ERASE, naming the cleared fields without their
    # old values, and forgets the values of the customer's earlier entries.
    audit.name_change(db, customer, "ERASE")
    audit.hide_values(db, customer)
    customer.first_name = ERASED_FIRST_NAME
    customer.last_name = ERASED_LAST_NAME
    for name in PROFILE_FIELDS[2:]:
        setattr(customer, name, None)
    member_ids = await aggregator_ids_of(db=db, customer_ids=[customer.id])
    for member_id in member_ids:  # one by one, so each deletion is audited without values
        audit.hide_values(db, member_id)
        await db.delete(member_id)
    now = utcnow()
    customer.erased_at = now
    customer.updated_at = now
    await db.flush()
    await audit.forget_values(db, entity_type="customer", entity_id=customer.id)
    for member_id in member_ids:
        await audit.forget_values(db, entity_type="customer_aggregator_id", entity_id=member_id.id)
    return customer
