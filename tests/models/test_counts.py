"""A session's counts: `booking_counts` (one query for many sessions) and `counts_of` (the
bookings a sign-in list or a schedule page already holds) count the same things."""

from sqlalchemy import update
from sqlmodel import col, select

from classbridge.models.booking import BookingCounts, booking_counts, counts_of
from classbridge.models.tables import Booking, BookingSource, BookingStatus
from tests.studio import Studio


async def test_counts_of_the_listed_bookings_equal_the_counting_query(studio: Studio) -> None:
    session_id = await studio.session(days_ahead=2)
    ids = [(await studio.book(session_id, await studio.customer(f"C{i}"))).id for i in range(6)]
    changes = [
        (ids[0], BookingStatus.CHECKED_IN, BookingSource.AGGREGATOR),
        (ids[1], BookingStatus.NO_SHOW, BookingSource.STAFF),
        (ids[2], BookingStatus.CANCELLED, BookingSource.AGGREGATOR),
        (ids[3], BookingStatus.CANCELLED, BookingSource.STAFF),
        (ids[4], BookingStatus.BOOKED, BookingSource.AGGREGATOR),
    ]
    async with studio.database.transaction() as db:
        for booking_id, status, source in changes:
            await db.execute(
                update(Booking)
                .where(col(Booking.id) == booking_id)
                .values(status=status, source=source)
            )
    async with studio.database.read() as db:
        listed = list(await db.scalars(select(Booking).where(Booking.session_id == session_id)))
        counted = (await booking_counts(db=db, session_ids=[session_id]))[session_id]
    # Live: checked in, no-show and two booked; aggregators': the checked-in and one booked.
    assert counts_of(listed) == counted == BookingCounts(4, 1, 2)
    assert counts_of([]) == BookingCounts()
