"""The push run in-process against the simulator over real HTTP: what is sent, when, and
what is recorded. No Redis here; the worker tests run the same functions in processes."""

from sqlalchemy import select

from classbridge.jobs.client import AggregatorClient
from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.jobs.reconcile import reconcile
from classbridge.models import booking as booking_model
from classbridge.models import extension as extension_model
from classbridge.models import session as session_model
from classbridge.models import session_cancellation
from classbridge.models.db import Database
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.inputs.session import SessionEdit
from classbridge.models.tables import (
    Aggregator,
    AggregatorMode,
    BookingSource,
    OutboxItem,
    PushDelivery,
    PushState,
)
from tests.aggregators.partner import owner_actor
from tests.jobs.conftest import all_arrived, connect, push_settings, versions
from tests.jobs.processes import Receiver
from tests.studio import Studio


async def test_changes_arrive_signed_and_newest_version_wins(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    first = await studio.session(days_ahead=1)
    second = await studio.session(days_ahead=3)
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db,
            company_id=studio.company_id,
            session_id=first,
            changes=SessionEdit(room="Studio 2"),
        )
    async with studio.database.transaction() as db:
        await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=first,
            customer_id=studio.customer_id,
            source=BookingSource.STAFF,
            product_id=studio.product_id,
        )

    assert await push_changes(runtime) == 2

    state = await receiver.state()
    expected = await versions(studio.database, [first, second])
    assert all_arrived(state, expected)
    pushed = state["sessions"][str(first)]
    assert pushed["state"] == "OFFERED"
    assert pushed["room"] == "Studio 2"
    assert pushed["availableSpots"] == 9
    assert pushed["aggregatorVenueId"] == "wp-4711"
    assert state["counters"]["requests"] == 1  # both sessions in one batch
    assert state["counters"].get("badSignatures", 0) == 0
    async with studio.database.read() as db:
        rows = list(await db.scalars(select(PushDelivery)))
        assert {r.acked_version for r in rows} == set(expected.values())
        assert all(not r.pending and r.acked_at is not None for r in rows)
        assert not list(
            await db.scalars(select(OutboxItem).where(OutboxItem.processed_at.is_(None)))  # type: ignore[union-attr]
        )


async def test_cancellation_and_removal_are_sent_only_for_known_sessions(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    known = await studio.session(days_ahead=1)
    withdrawn = await studio.session(days_ahead=2)
    await push_changes(runtime)
    async with studio.database.transaction() as db:
        await session_cancellation.cancel_session(
            db=db, company_id=studio.company_id, session_id=known, reason="teacher ill"
        )
    not_allowed = SessionEdit(aggregator_mode=AggregatorMode.INDIVIDUAL, aggregator_allowed=False)
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=withdrawn, changes=not_allowed
        )
    # Scheduled and withdrawn before any push: the bursts coalesce, nothing is sent.
    never_sent = await studio.session(days_ahead=3)
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=never_sent, changes=not_allowed
        )

    await push_changes(runtime)

    held = (await receiver.state())["sessions"]
    assert held[str(known)]["state"] == "CANCELLED"
    assert held[str(known)]["cancelledAt"] is not None
    assert held[str(known)]["availableSpots"] == 0
    assert held[str(withdrawn)]["state"] == "REMOVED"
    assert "name" not in held[str(withdrawn)]
    assert str(never_sent) not in held


async def test_session_not_offered_is_never_sent(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    async with studio.database.transaction() as db:
        from classbridge.models import activity as activity_model

        await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(allow_aggregator_bookings=False),
        )
    hidden = await studio.session(days_ahead=1)

    await push_changes(runtime)

    assert str(hidden) not in (await receiver.state())["sessions"]
    async with studio.database.read() as db:
        row = await db.scalar(select(PushDelivery).where(PushDelivery.session_id == hidden))
    assert row is not None and row.acked_state is PushState.NOT_OFFERED and not row.pending


async def test_sessions_beyond_the_window_wait_for_the_reconciliation(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    far = await studio.session(days_ahead=20)

    await push_changes(runtime)
    assert str(far) not in (await receiver.state())["sessions"]

    runtime.settings.reconcile_window_days = 30
    await reconcile(runtime)
    assert str(far) in (await receiver.state())["sessions"]


async def test_reconciliation_restores_a_receiver_that_lost_its_state(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    ids = [await studio.session(days_ahead=d) for d in (1, 2, 3)]
    await push_changes(runtime)
    await receiver.reset()
    assert (await receiver.state())["sessions"] == {}

    await reconcile(runtime)

    assert all_arrived(await receiver.state(), await versions(studio.database, ids))


async def test_rejected_payload_is_marked_failed_and_retried_by_the_reconciliation(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    good = runtime.settings.egym_wellpass_push_secret
    from pydantic import SecretStr

    runtime.settings.egym_wellpass_push_secret = SecretStr(
        "whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="
    )
    await push_changes(runtime)
    async with studio.database.read() as db:
        row = await db.scalar(select(PushDelivery).where(PushDelivery.session_id == sid))
    assert row is not None and row.failed_at is not None
    assert row.last_error is not None and "401" in row.last_error
    assert (await receiver.state())["counters"]["badSignatures"] == 1

    await push_changes(runtime)  # a failed item is not hammered by ordinary runs
    assert (await receiver.state())["counters"]["badSignatures"] == 1

    runtime.settings.egym_wellpass_push_secret = good
    await reconcile(runtime)
    assert all_arrived(await receiver.state(), await versions(studio.database, [sid]))


async def test_rate_limit_is_retried_after_the_time_the_receiver_asked_for(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    await receiver.faults(rateLimitCount=1, retryAfterSeconds=30)
    scheduled: list = []

    async def schedule(at):  # type: ignore[no-untyped-def]
        scheduled.append(at)

    runtime.schedule = schedule
    await push_changes(runtime)

    async with studio.database.read() as db:
        row = await db.scalar(select(PushDelivery).where(PushDelivery.session_id == sid))
    assert row is not None and row.pending and row.failed_at is None and row.attempts == 1
    assert row.next_attempt_at is not None and row.last_attempt_at is not None
    assert (row.next_attempt_at - row.last_attempt_at).total_seconds() >= 29
    assert scheduled == [row.next_attempt_at]


async def test_deactivated_extension_withdraws_every_known_session(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    ids = [await studio.session(days_ahead=d) for d in (1, 2)]
    await push_changes(runtime)
    before = await versions(studio.database, ids)
    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.deactivate_extension(
            db=db, actor=actor, aggregator=Aggregator.EGYM_WELLPASS
        )

    await push_changes(runtime)

    held = (await receiver.state())["sessions"]
    after = await versions(studio.database, ids)
    for sid in ids:
        assert held[str(sid)]["state"] == "REMOVED"
        # The version grew, so a receiver applies the removal over the older offer.
        assert held[str(sid)]["version"] == after[str(sid)] > before[str(sid)]


async def test_one_rejected_session_does_not_hold_back_its_batch(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    ids = [await studio.session(days_ahead=d) for d in (1, 2, 3)]
    await receiver.faults(rejectSessionIds=[str(ids[1])])

    await push_changes(runtime)

    held = (await receiver.state())["sessions"]
    assert set(held) == {str(ids[0]), str(ids[2])}
    async with studio.database.read() as db:
        row = await db.scalar(select(PushDelivery).where(PushDelivery.session_id == ids[1]))
    assert row is not None and row.failed_at is not None
    assert row.last_error is not None and "422" in row.last_error


async def test_batches_overlap_but_never_more_requests_in_flight_than_the_setting(
    studio: Studio, receiver: Receiver, database: Database, database_url: str
) -> None:
    """Two claims' batches overlap (`_drain`); the requests in flight to one aggregator stay
    within `push_parallel_requests` (the receiver records its highest concurrency)."""
    await connect(studio)
    sessions = [await studio.session(days_ahead=1 + i % 12, hour=8 + i // 12) for i in range(36)]
    settings = push_settings(
        database_url, receiver, "unused", push_batch_size=3, push_parallel_requests=2
    )

    async def schedule(_at: object) -> None:
        pass

    rt = PushRuntime(
        database=database, client=AggregatorClient(settings), settings=settings, schedule=schedule
    )
    await receiver.faults(latencyMs=50)  # answers take long enough for requests to meet
    try:
        assert await push_changes(rt) == 36
    finally:
        await rt.client.aclose()

    state = await receiver.state()
    assert all_arrived(state, await versions(database, sessions))
    assert state["counters"]["requests"] == 12
    assert state["counters"]["maxConcurrentRequests"] == 2
    assert state["counters"].get("concurrentDeliveries", 0) == 0
