"""Waitlist events: when the studio side changes an aggregator member's waitlist entry
(promotion, expiry, ended by staff), the aggregator receives a signed event through the
push contract (`POST {base}/v1/waitlist-entries`; the simulator over real HTTP). Entries of
the studio's own customers, and changes the aggregator made itself, send nothing."""

import uuid

from sqlalchemy import select, update

from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.jobs.reconcile import reconcile
from classbridge.models import booking as booking_model
from classbridge.models import reservation as reservation_model
from classbridge.models import waitlist as waitlist_model
from classbridge.models.inputs.customer import Member
from classbridge.models.tables import (
    Activity,
    Booking,
    BookingSource,
    WaitlistDelivery,
    WaitlistEntry,
)
from tests.jobs.conftest import WELLPASS, connect
from tests.jobs.processes import Receiver
from tests.studio import Studio


async def _full_session_with_waitlist(studio: Studio) -> tuple[uuid.UUID, Booking]:
    """A connected studio's session of one spot, taken by a staff booking; waitlist of 5."""
    await connect(studio)
    async with studio.database.transaction() as db:
        await db.execute(
            update(Activity).where(Activity.id == studio.activity_id).values(waitlist_size=5)
        )
    sid = await studio.session(days_ahead=1, capacity=1)
    async with studio.database.transaction() as db:
        booking = await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=sid,
            customer_id=studio.customer_id,
            source=BookingSource.STAFF,
            product_id=studio.product_id,
        )
    return sid, booking


async def _member_waits(studio: Studio, sid: uuid.UUID, member_id: str) -> WaitlistEntry:
    async with studio.database.transaction() as db:
        return await reservation_model.join_waitlist(
            db=db,
            aggregator=WELLPASS,
            session_id=sid,
            member=Member(id=member_id, first_name="Mia", last_name="Member"),
        )


async def _customer_waits(studio: Studio, sid: uuid.UUID) -> WaitlistEntry:
    return await studio.join_waitlist(sid, await studio.customer("Grace", "Hopper"))


async def _cancel(studio: Studio, booking: Booking) -> None:
    async with studio.database.transaction() as db:
        await booking_model.cancel_booking(
            db=db, company_id=studio.company_id, booking_id=booking.id
        )


async def _close_bookings(studio: Studio, sid: uuid.UUID) -> None:
    """Bookings close 60 minutes before the start, which is 30 minutes away."""
    async with studio.database.transaction() as db:
        await db.execute(
            update(Activity)
            .where(Activity.id == studio.activity_id)
            .values(booking_closes_minutes=60)
        )
    await studio.starts_in(sid, 30)


async def _deliveries(studio: Studio) -> list[WaitlistDelivery]:
    async with studio.database.read() as db:
        return list(await db.scalars(select(WaitlistDelivery)))


async def test_an_expired_member_entry_sends_one_signed_event_and_a_customer_entry_none(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    sid, _ = await _full_session_with_waitlist(studio)
    entry = await _member_waits(studio, sid, "m-42")
    await _customer_waits(studio, sid)
    await push_changes(runtime)
    # The member joined through the partner API: nothing to tell the aggregator.
    assert (await receiver.state())["waitlistEntries"] == {}

    await _close_bookings(studio, sid)
    async with studio.database.transaction() as db:
        assert await waitlist_model.expire_due(db=db) == 2
    await push_changes(runtime)
    await push_changes(runtime)  # nothing owed twice

    state = await receiver.state()
    assert state["counters"].get("badSignatures", 0) == 0
    assert state["counters"]["waitlistEventRequests"] == 1
    assert list(state["waitlistEntries"]) == [str(entry.id)]  # not the studio's customer
    event = state["waitlistEntries"][str(entry.id)]
    assert event["version"] == 1
    assert event["memberId"] == "m-42"
    assert event["sessionId"] == str(sid)
    assert event["companyId"] == str(studio.company_id)
    assert event["status"] == "WAITLIST_ENTRY_STATUS_EXPIRED"
    assert event["reservationId"] is None
    assert event["endedAt"] is not None
    (row,) = await _deliveries(studio)
    assert (row.entry_id, row.acked_version, row.pending) == (entry.id, 1, False)


async def test_a_promotion_sends_the_reservation_event_and_the_waitlist_event(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    sid, booking = await _full_session_with_waitlist(studio)
    entry = await _member_waits(studio, sid, "m-7")
    await push_changes(runtime)

    await _cancel(studio, booking)
    await push_changes(runtime)

    async with studio.database.read() as db:
        promoted = await db.get(WaitlistEntry, entry.id)
    assert promoted is not None and promoted.booking_id is not None
    state = await receiver.state()
    reservation = state["reservations"][str(promoted.booking_id)]
    assert (reservation["memberId"], reservation["status"]) == (
        "m-7",
        "RESERVATION_STATUS_ENROLLED",
    )
    event = state["waitlistEntries"][str(entry.id)]
    assert (event["memberId"], event["status"], event["reservationId"]) == (
        "m-7",
        "WAITLIST_ENTRY_STATUS_PROMOTED",
        str(promoted.booking_id),
    )
    assert list(state["waitlistEntries"]) == [str(entry.id)]


async def test_a_studio_customers_entry_sends_nothing(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    sid, booking = await _full_session_with_waitlist(studio)
    entry = await _customer_waits(studio, sid)
    await _cancel(studio, booking)  # the customer is promoted
    await push_changes(runtime)

    async with studio.database.read() as db:
        promoted = await db.get(WaitlistEntry, entry.id)
    assert promoted is not None and promoted.booking_id is not None
    state = await receiver.state()
    assert state["waitlistEntries"] == {} and state["reservations"] == {}
    assert "waitlistEventRequests" not in state["counters"]
    assert await _deliveries(studio) == []


async def test_staff_ending_a_member_entry_is_told_the_members_own_leaving_is_not(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    sid, _ = await _full_session_with_waitlist(studio)
    by_staff = await _member_waits(studio, sid, "m-1")
    by_member = await _member_waits(studio, sid, "m-2")
    async with studio.database.transaction() as db:
        await waitlist_model.leave_waitlist(
            db=db, company_id=studio.company_id, entry_id=by_staff.id
        )
    async with studio.database.transaction() as db:
        await reservation_model.leave_waitlist(db=db, aggregator=WELLPASS, entry_id=by_member.id)
    await push_changes(runtime)

    held = (await receiver.state())["waitlistEntries"]
    assert list(held) == [str(by_staff.id)]
    assert held[str(by_staff.id)]["status"] == "WAITLIST_ENTRY_STATUS_LEFT"


async def test_a_refused_event_is_repaired_by_the_reconciliation(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    sid, _ = await _full_session_with_waitlist(studio)
    entry = await _member_waits(studio, sid, "m-9")
    await push_changes(runtime)
    await receiver.faults(failStatus=422, failCount=1)
    await _close_bookings(studio, sid)
    async with studio.database.transaction() as db:
        await waitlist_model.expire_due(db=db)
    await push_changes(runtime)
    (row,) = await _deliveries(studio)
    assert row.failed_at is not None and row.acked_version is None

    await reconcile(runtime)
    assert str(entry.id) in (await receiver.state())["waitlistEntries"]
    (row,) = await _deliveries(studio)
    assert (row.acked_version, row.failed_at) == (1, None)
