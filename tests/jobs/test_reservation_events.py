"""Reservation events: when the studio side ends an aggregator's reservation, the
aggregator receives a signed event through the push contract (the simulator over real
HTTP; a real worker for "within seconds")."""

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from classbridge.jobs.embedded import push_lifespan
from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.jobs.reconcile import reconcile
from classbridge.models import booking as booking_model
from classbridge.models.db import Database
from classbridge.models.tables import BookingSource, ReservationDelivery
from tests.jobs.conftest import Workers, cancel, connect, push_settings, reserve
from tests.jobs.processes import Receiver, eventually
from tests.studio import Studio


async def _row(studio: Studio, booking_id: uuid.UUID) -> ReservationDelivery:
    async with studio.database.read() as db:
        row = await db.scalar(
            select(ReservationDelivery).where(ReservationDelivery.booking_id == booking_id)
        )
    assert row is not None
    return row


async def test_a_cancelled_session_sends_each_reservation_a_signed_event(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    reservation = await reserve(studio, sid, "m-77")
    async with studio.database.transaction() as db:
        await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=sid,
            customer_id=studio.customer_id,
            source=BookingSource.STAFF,
            product_id=studio.product_id,
        )
    await push_changes(runtime)
    # The member booked it: nothing to tell the aggregator about its own reservation.
    assert (await receiver.state())["reservations"] == {}

    await cancel(studio, sid)
    await push_changes(runtime)

    state = await receiver.state()
    assert state["counters"].get("badSignatures", 0) == 0
    assert list(state["reservations"]) == [str(reservation.id)]  # the staff booking is not theirs
    event = state["reservations"][str(reservation.id)]
    assert event["version"] == 1
    assert event["memberId"] == "m-77"
    assert event["sessionId"] == str(sid)
    assert event["status"] == "RESERVATION_STATUS_CANCELLED"
    assert event["cancellationType"] == "CANCELLATION_TYPE_SESSION"
    assert event["cancelledAt"] is not None
    assert state["sessions"][str(sid)]["state"] == "CANCELLED"
    row = await _row(studio, reservation.id)
    assert row.acked_version == 1 and not row.pending


async def test_a_no_show_marked_by_staff_reaches_the_aggregator(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    """Aggregators bill by no-shows: the studio's mark is an event with `noShow: true`."""
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    reservation = await reserve(studio, sid, "m-5")
    await push_changes(runtime)
    assert (await receiver.state())["reservations"] == {}

    await studio.starts_in(sid, -10)
    async with studio.database.transaction() as db:
        await booking_model.mark_no_show(
            db=db, company_id=studio.company_id, booking_id=reservation.id
        )
    await push_changes(runtime)

    event = (await receiver.state())["reservations"][str(reservation.id)]
    assert (event["memberId"], event["status"], event["noShow"]) == (
        "m-5",
        "RESERVATION_STATUS_ENROLLED",
        True,
    )


async def test_an_event_is_retried_and_a_rejected_one_repaired_by_the_reconciliation(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    first = await reserve(studio, await studio.session(days_ahead=1), "m-1")
    second = await reserve(studio, await studio.session(days_ahead=2), "m-2")
    await push_changes(runtime)
    # A retried item waits out the test.
    runtime.settings.retry_backoff_base_seconds = runtime.settings.retry_backoff_max_seconds = 600

    # Each cancellation sends the session's new state, then the event: both are refused.
    await receiver.faults(failStatus=503, failCount=2)
    await cancel(studio, first.session_id)
    await push_changes(runtime)
    row = await _row(studio, first.id)
    assert row.pending and row.attempts == 1 and row.next_attempt_at is not None

    await receiver.faults(failStatus=422, failCount=2)
    await cancel(studio, second.session_id)
    await push_changes(runtime)
    assert (await _row(studio, second.id)).failed_at is not None

    await reconcile(runtime)
    held = (await receiver.state())["reservations"]
    assert str(second.id) in held


@pytest.fixture
async def api(
    database: Database, database_url: str, receiver: Receiver, queue: str
) -> AsyncIterator[None]:
    """This process enqueues after commit, like the API process with Redis."""
    async with push_lifespan(database, push_settings(database_url, receiver, queue)):
        yield


async def test_a_worker_delivers_the_event_within_seconds(
    studio: Studio, receiver: Receiver, workers: Workers, api: None
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    reservation = await reserve(studio, sid, "m-5")
    workers.start()
    await cancel(studio, sid)

    async def told() -> bool:
        event = (await receiver.state())["reservations"].get(str(reservation.id))
        return bool(event) and event["cancellationType"] == "CANCELLATION_TYPE_SESSION"

    await eventually(told, deadline=20, what=workers.logs())
