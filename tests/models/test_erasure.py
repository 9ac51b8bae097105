"""An erased customer is never booked or waitlisted again, and an erasure racing a booking
of the same customer (PostgreSQL; SQLite's write transactions never overlap) ends one way
or the other: erased without the booking, or refused because of it."""

import asyncio
import time
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import col, select, update

from classbridge.models import merge as merge_model
from classbridge.models import privacy
from classbridge.models.db import Database
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.tables import Activity, Booking, Customer
from tests.studio import Studio


async def _erase(studio: Studio, customer_id: uuid.UUID) -> str:
    try:
        async with studio.database.transaction() as db:
            await privacy.erase_customer(
                db=db, company_id=studio.company_id, customer_id=customer_id
            )
        return "erased"
    except DomainError as exc:
        return exc.code


async def _until_one_waits_for_a_lock(database: Database, task: asyncio.Task[str]) -> None:
    """PostgreSQL: until another connection of this database waits for a row lock (the
    task got as far as the lock it needs). SQLite: the task waits for the write lock
    (BEGIN IMMEDIATE) inside the driver's thread, where it cannot be observed; the outcome
    the tests assert is the same."""
    if database.is_sqlite:
        return
    deadline = time.monotonic() + 10
    while True:
        assert not task.done(), f"finished without waiting for the lock: {task.result()}"
        async with database.read() as db:
            waiting = await db.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        assert time.monotonic() < deadline, "nobody waited for a lock"
        await asyncio.sleep(0.01)


async def _bookings_of(studio: Studio, customer_id: uuid.UUID) -> list[Booking]:
    async with studio.database.read() as db:
        return list(await db.scalars(select(Booking).where(Booking.customer_id == customer_id)))


async def test_an_erased_customer_is_neither_booked_nor_waitlisted(studio: Studio) -> None:
    session_id = await studio.session()
    assert await _erase(studio, studio.customer_id) == "erased"
    assert await studio.try_to_book(session_id) == ErrorCode.CUSTOMER_ERASED

    async with studio.database.transaction() as db:
        await db.execute(
            update(Activity).where(col(Activity.id) == studio.activity_id).values(waitlist_size=3)
        )
    full = await studio.session(capacity=1, days_ahead=3)
    await studio.book(full, await studio.customer("Bea", "B"))
    with pytest.raises(DomainError) as refused:
        await studio.join_waitlist(full)
    assert refused.value.code == ErrorCode.CUSTOMER_ERASED
    assert await _bookings_of(studio, studio.customer_id) == []


async def test_a_merge_into_an_erased_customer_is_refused(studio: Studio) -> None:
    duplicate = await studio.customer("Ada", "Lovelace")
    assert await _erase(studio, studio.customer_id) == "erased"
    with pytest.raises(DomainError) as refused:
        async with studio.database.transaction() as db:
            await merge_model.merge_customers(
                db=db,
                company_id=studio.company_id,
                survivor_id=studio.customer_id,
                merged_id=duplicate,
            )
    assert refused.value.code == ErrorCode.CUSTOMER_ERASED
    async with studio.database.read() as db:
        assert await db.get(Customer, duplicate) is not None


async def test_a_booking_waits_for_an_erasure_in_flight_then_is_refused(studio: Studio) -> None:
    session_id = await studio.session()
    async with studio.database.transaction() as db:
        await privacy.erase_customer(
            db=db, company_id=studio.company_id, customer_id=studio.customer_id
        )
        booking = asyncio.create_task(studio.try_to_book(session_id))
        await _until_one_waits_for_a_lock(studio.database, booking)
    assert await booking == ErrorCode.CUSTOMER_ERASED
    assert await _bookings_of(studio, studio.customer_id) == []


async def test_an_erasure_waits_for_a_booking_in_flight_then_is_refused(studio: Studio) -> None:
    session_id = await studio.session()
    async with studio.database.transaction() as db:
        await studio.book(session_id, db=db)
        erasing = asyncio.create_task(_erase(studio, studio.customer_id))
        await _until_one_waits_for_a_lock(studio.database, erasing)
    assert await erasing == ErrorCode.CUSTOMER_HAS_UPCOMING_BOOKINGS
    async with studio.database.read() as db:
        customer = await db.get(Customer, studio.customer_id)
    assert customer is not None and customer.erased_at is None
    assert len(await _bookings_of(studio, studio.customer_id)) == 1
