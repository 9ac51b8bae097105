"""A customer merge never cancels an aggregator's reservation: where the two customers
share a session, the studio's own booking goes; two reservations refuse the merge."""

import uuid

import pytest
from sqlalchemy import select

from classbridge.models import booking as booking_model
from classbridge.models import merge
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.tables import (
    Booking,
    BookingSource,
    BookingStatus,
    CancellationType,
    Customer,
    ReservationDelivery,
)
from tests.aggregators.partner import connect
from tests.aggregators.test_reservation import mia, reserve
from tests.studio import Studio


async def _staff_booking(studio: Studio, session_id: uuid.UUID, customer_id: uuid.UUID) -> Booking:
    async with studio.database.transaction() as db:
        return await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=session_id,
            customer_id=customer_id,
            source=BookingSource.STAFF,
            product_id=studio.product_id,
        )


async def _merge(studio: Studio, survivor: uuid.UUID, merged: uuid.UUID) -> None:
    async with studio.database.transaction() as db:
        await merge.merge_customers(
            db=db, company_id=studio.company_id, survivor_id=survivor, merged_id=merged
        )


async def _booking(studio: Studio, booking_id: uuid.UUID) -> Booking:
    async with studio.database.read() as db:
        booking = await db.get(Booking, booking_id)
    assert booking is not None
    return booking


async def _events(studio: Studio) -> list[ReservationDelivery]:
    async with studio.database.read() as db:
        return list(await db.scalars(select(ReservationDelivery)))


@pytest.mark.parametrize("survivor_holds", ["reservation", "studio booking"])
async def test_the_aggregator_reservation_is_kept_and_the_studio_booking_cancelled(
    studio: Studio, survivor_holds: str
) -> None:
    await connect(studio)
    sid = await studio.session()
    reservation = await reserve(studio, sid, mia(1))
    own = await _staff_booking(studio, sid, studio.customer_id)
    if survivor_holds == "reservation":
        survivor, merged = reservation.customer_id, studio.customer_id
    else:
        survivor, merged = studio.customer_id, reservation.customer_id

    await _merge(studio, survivor, merged)

    kept = await _booking(studio, reservation.id)
    assert kept.status is BookingStatus.BOOKED and kept.customer_id == survivor
    gone = await _booking(studio, own.id)
    assert gone.status is BookingStatus.CANCELLED
    assert gone.cancellation_type is CancellationType.EARLY
    # The member did nothing and the aggregator's booking did not change: no event.
    assert await _events(studio) == []


async def test_two_reservations_in_one_session_refuse_the_merge_naming_the_session(
    studio: Studio,
) -> None:
    await connect(studio)
    sid = await studio.session()
    first = await reserve(studio, sid, mia(1))
    second = await reserve(studio, sid, mia(2))

    with pytest.raises(DomainError) as refused:
        await _merge(studio, first.customer_id, second.customer_id)

    assert refused.value.code is ErrorCode.MERGE_CONFLICT
    assert str(sid) in refused.value.message
    # Nothing half-written: both bookings and both customers are as they were.
    for booking in (first, second):
        again = await _booking(studio, booking.id)
        assert again.status is BookingStatus.BOOKED and again.customer_id == booking.customer_id
    async with studio.database.read() as db:
        assert await db.get(Customer, second.customer_id) is not None


async def test_two_studio_bookings_keep_the_survivors(studio: Studio) -> None:
    await connect(studio)
    sid = await studio.session()
    twin = await studio.customer("Kim", "Twin")
    survivor_booking = await _staff_booking(studio, sid, studio.customer_id)
    duplicate_booking = await _staff_booking(studio, sid, twin)

    await _merge(studio, studio.customer_id, twin)

    assert (await _booking(studio, survivor_booking.id)).status is BookingStatus.BOOKED
    assert (await _booking(studio, duplicate_booking.id)).status is BookingStatus.CANCELLED
