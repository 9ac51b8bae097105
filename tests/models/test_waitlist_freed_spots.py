"""Every way a spot frees promotes the first eligible waiting entry in the same
transaction: besides a cancellation and a session's capacity or the activity's aggregator
limit (tests/models/test_waitlist.py), the activity's capacity, a session's own aggregator
limit, allowing aggregator bookings again, a series edit, and a customer merge that
cancels a duplicate booking."""

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import extension as extension_model
from classbridge.models import merge as merge_model
from classbridge.models import reservation as reservation_model
from classbridge.models import series as series_model
from classbridge.models import waitlist as waitlist_model
from classbridge.models.base import utcnow
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.inputs.customer import Member
from classbridge.models.inputs.session import (
    SeriesEdit,
    SessionEdit,
    SessionSchedule,
    WeeklyRepeat,
)
from classbridge.models.localtime import utc_to_local
from classbridge.models.session import schedule_sessions
from classbridge.models.tables import (
    Activity,
    Aggregator,
    Booking,
    BookingSource,
    BookingStatus,
    Venue,
    WaitlistEntry,
    WaitlistStatus,
)
from tests.aggregators.partner import connect, owner_actor
from tests.studio import Studio

WELLPASS = Aggregator.EGYM_WELLPASS


async def _waitlist(studio: Studio, size: int = 5) -> None:
    async with studio.database.transaction() as db:
        await db.execute(
            update(Activity).where(Activity.id == studio.activity_id).values(waitlist_size=size)
        )


async def _reserve(studio: Studio, sid: uuid.UUID, n: int) -> Booking:
    async with studio.database.transaction() as db:
        return await reservation_model.make_reservation(
            db=db, aggregator=WELLPASS, session_id=sid, member=_member(n)
        )


async def _member_waits(studio: Studio, sid: uuid.UUID, n: int) -> WaitlistEntry:
    async with studio.database.transaction() as db:
        return await reservation_model.join_waitlist(
            db=db, aggregator=WELLPASS, session_id=sid, member=_member(n)
        )


def _member(n: int) -> Member:
    return Member(id=f"member-{n}", first_name="Mia", last_name=f"Member{n}")


async def _entry(studio: Studio, entry_id: uuid.UUID) -> WaitlistEntry:
    async with studio.database.read() as db:
        entry = await db.get(WaitlistEntry, entry_id)
    assert entry is not None
    return entry


async def _rules(studio: Studio, **rules: object) -> None:
    async with studio.database.transaction() as db:
        await waitlist_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(**rules),  # type: ignore[arg-type]
        )


async def test_raising_the_activitys_capacity_promotes(studio: Studio) -> None:
    await _waitlist(studio)
    async with studio.database.transaction() as db:
        await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(max_participants=1),
        )
    sid = await studio.session()
    await studio.book(sid, studio.customer_id)
    first = await studio.join_waitlist(sid, await studio.customer("Ada", "A"))
    second = await studio.join_waitlist(sid, await studio.customer("Bea", "B"))

    await _rules(studio, max_participants=2)

    assert (await _entry(studio, first.id)).status is WaitlistStatus.PROMOTED
    assert (await _entry(studio, second.id)).status is WaitlistStatus.WAITING


async def test_raising_a_sessions_own_aggregator_limit_promotes_the_member(
    studio: Studio,
) -> None:
    await connect(studio, limit=1)
    await _waitlist(studio)
    sid = await studio.session(capacity=5)
    await _reserve(studio, sid, 1)
    entry = await _member_waits(studio, sid, 2)

    async with studio.database.transaction() as db:
        await waitlist_model.edit_session(
            db=db,
            company_id=studio.company_id,
            session_id=sid,
            changes=SessionEdit(
                aggregator_mode="INDIVIDUAL",  # type: ignore[arg-type]
                aggregator_allowed=True,
                aggregator_limit=2,
            ),
        )

    promoted = await _entry(studio, entry.id)
    assert promoted.status is WaitlistStatus.PROMOTED
    async with studio.database.read() as db:
        booking = await db.get(Booking, promoted.booking_id)
    assert booking is not None
    assert (booking.source, booking.aggregator) == (BookingSource.AGGREGATOR, WELLPASS)


async def test_allowing_aggregator_bookings_again_promotes_a_waiting_member(
    studio: Studio,
) -> None:
    await connect(studio, limit=1)
    await _waitlist(studio)
    sid = await studio.session(capacity=5)
    await _reserve(studio, sid, 1)
    entry = await _member_waits(studio, sid, 2)

    # While aggregators may not book, a raised limit frees nothing for members.
    await _rules(studio, allow_aggregator_bookings=False)
    await _rules(studio, aggregator_limit=2)
    assert (await _entry(studio, entry.id)).status is WaitlistStatus.WAITING

    await _rules(studio, allow_aggregator_bookings=True)
    assert (await _entry(studio, entry.id)).status is WaitlistStatus.PROMOTED


async def test_a_member_of_an_aggregator_switched_off_is_passed_over_and_keeps_the_place(
    studio: Studio,
) -> None:
    """Only an eligible entry is promoted: once the studio deactivated the aggregator, its
    member is not booked into a freed spot (nobody of that aggregator could book it); the
    studio's customer behind them is."""
    await connect(studio, limit=3)
    await _waitlist(studio)
    sid = await studio.session(capacity=1)
    taken = await studio.book(sid, studio.customer_id)
    member = await _member_waits(studio, sid, 1)
    customer = await studio.join_waitlist(sid, await studio.customer("Ada", "A"))
    async with studio.database.transaction() as db:
        await extension_model.deactivate_extension(
            db=db, actor=await owner_actor(studio), aggregator=WELLPASS
        )

    async with studio.database.transaction() as db:
        await booking_model.cancel_booking(db=db, company_id=studio.company_id, booking_id=taken.id)

    assert (await _entry(studio, member.id)).status is WaitlistStatus.WAITING
    assert (await _entry(studio, customer.id)).status is WaitlistStatus.PROMOTED


async def test_a_series_edit_raising_capacity_promotes_in_each_session(studio: Studio) -> None:
    await _waitlist(studio)
    async with studio.database.transaction() as db:
        venue = await db.get(Venue, studio.venue_id)
        assert venue is not None
        tomorrow = utc_to_local(utcnow(), venue.zone).date() + timedelta(days=1)
        sessions = await schedule_sessions(
            db=db,
            company_id=studio.company_id,
            schedule=SessionSchedule(
                activity_id=studio.activity_id,
                venue_id=studio.venue_id,
                start=f"{tomorrow.isoformat()}T18:00",  # type: ignore[arg-type]
                capacity_override=1,
                repeat=WeeklyRepeat(
                    weekdays=[tomorrow.isoweekday()],
                    until=tomorrow + timedelta(weeks=1),
                ),
            ),
        )
    assert len(sessions) == 2 and sessions[0].series_id is not None
    waiting = []
    for session in sessions:
        await studio.book(session.id, studio.customer_id)
        waiting.append(await studio.join_waitlist(session.id, await studio.customer("Ada", "A")))

    async with studio.database.transaction() as db:
        await series_model.edit_series(
            db=db,
            company_id=studio.company_id,
            series_id=sessions[0].series_id,
            from_date=tomorrow,
            changes=SeriesEdit(capacity_override=2),
        )

    for entry in waiting:
        assert (await _entry(studio, entry.id)).status is WaitlistStatus.PROMOTED


async def test_a_merge_that_cancels_a_duplicate_booking_promotes_and_moves_entries(
    studio: Studio,
) -> None:
    await _waitlist(studio)
    full = await studio.session(capacity=2)
    other = await studio.session(days_ahead=3, capacity=1)
    survivor, duplicate = studio.customer_id, await studio.customer("Kim", "Meyer")
    await studio.book(full, survivor)
    await studio.book(full, duplicate)
    waiting = await studio.join_waitlist(full, await studio.customer("Ada", "A"))
    await studio.book(other, await studio.customer("Bea", "B"))
    moved = await studio.join_waitlist(other, duplicate)

    async with studio.database.transaction() as db:
        await merge_model.merge_customers(
            db=db, company_id=studio.company_id, survivor_id=survivor, merged_id=duplicate
        )

    # The duplicate booking is cancelled; its spot goes to the first in line.
    assert (await _entry(studio, waiting.id)).status is WaitlistStatus.PROMOTED
    async with studio.database.read() as db:
        live = list(
            await db.scalars(
                select(Booking.customer_id).where(
                    Booking.session_id == full, Booking.status != BookingStatus.CANCELLED
                )
            )
        )
    assert len(live) == 2 and survivor in live
    # The duplicate's waiting entry is the survivor's now, in its place.
    entry = await _entry(studio, moved.id)
    assert (entry.customer_id, entry.status, entry.position) == (
        survivor,
        WaitlistStatus.WAITING,
        moved.position,
    )


async def test_a_merge_keeps_one_entry_where_both_wait(studio: Studio) -> None:
    await _waitlist(studio)
    sid = await studio.session(capacity=1)
    await studio.book(sid, await studio.customer("Bea", "B"))
    survivor, duplicate = studio.customer_id, await studio.customer("Kim", "Meyer")
    earlier = await studio.join_waitlist(sid, duplicate)
    later = await studio.join_waitlist(sid, survivor)

    async with studio.database.transaction() as db:
        await merge_model.merge_customers(
            db=db, company_id=studio.company_id, survivor_id=survivor, merged_id=duplicate
        )

    kept, ended = await _entry(studio, earlier.id), await _entry(studio, later.id)
    assert (kept.customer_id, kept.status) == (survivor, WaitlistStatus.WAITING)
    assert ended.status is WaitlistStatus.LEFT
