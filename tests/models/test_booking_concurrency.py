"""Booking limits hold when many bookings race for the last spots."""

import asyncio

from classbridge.models import booking as booking_model
from classbridge.models.errors import ErrorCode
from tests.studio import Studio


async def test_concurrent_staff_bookings_never_overbook(studio: Studio) -> None:
    session_id = await studio.session(capacity=5)
    customers = [await studio.customer(f"C{i}", "Racer") for i in range(30)]

    results = await asyncio.gather(*(studio.try_to_book(session_id, c) for c in customers))
    assert results.count("booked") == 5
    assert results.count(ErrorCode.SESSION_FULL) == 25
    async with studio.database.read() as db:
        counts = await booking_model.booking_counts(db=db, session_ids=[session_id])
    assert counts[session_id].booked == 5


async def test_same_customer_racing_books_once(studio: Studio) -> None:
    session_id = await studio.session()

    results = await asyncio.gather(*(studio.try_to_book(session_id) for _ in range(10)))
    assert results.count("booked") == 1
    assert results.count(ErrorCode.ALREADY_BOOKED) == 9
