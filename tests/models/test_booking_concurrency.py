"""Booking limits hold when many bookings race for the last spots."""

import asyncio

from classbridge.models import booking as booking_model
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.tables import BookingSource
from tests.studio import Studio


async def test_concurrent_staff_bookings_never_overbook(studio: Studio) -> None:
    session_id = await studio.session(capacity=5)
    customers = [await studio.customer(f"C{i}", "Racer") for i in range(30)]

    async def attempt(customer_id):  # type: ignore[no-untyped-def]
        try:
            async with studio.database.transaction() as db:
                await booking_model.book(
                    db=db,
                    company_id=studio.company_id,
                    session_id=session_id,
                    customer_id=customer_id,
                    product_id=studio.product_id,
                    source=BookingSource.STAFF,
                )
            return "ok"
        except DomainError as exc:
            return exc.code

    results = await asyncio.gather(*(attempt(c) for c in customers))
    assert results.count("ok") == 5
    assert results.count(ErrorCode.SESSION_FULL) == 25
    async with studio.database.read() as db:
        counts = await booking_model.booking_counts(db=db, session_ids=[session_id])
    assert counts[session_id].booked == 5


async def test_same_customer_racing_books_once(studio: Studio) -> None:
    session_id = await studio.session()

    async def attempt():  # type: ignore[no-untyped-def]
        try:
            async with studio.database.transaction() as db:
                await booking_model.book(
                    db=db,
                    company_id=studio.company_id,
                    session_id=session_id,
                    customer_id=studio.customer_id,
                    product_id=studio.product_id,
                    source=BookingSource.STAFF,
                )
            return "ok"
        except DomainError as exc:
            return exc.code

    results = await asyncio.gather(*(attempt() for _ in range(10)))
    assert results.count("ok") == 1
    assert results.count(ErrorCode.ALREADY_BOOKED) == 9
