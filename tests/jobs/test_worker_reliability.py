"""Reliability with real Redis, real `classbridge worker` processes and the simulator as a
real process over real HTTP. The test process plays the API server: after each commit it
enqueues a push job, exactly as `classbridge serve` does with Redis."""

import math
import time
from collections.abc import AsyncIterator

import pytest
from arq.connections import RedisSettings, create_pool

from classbridge.jobs.embedded import push_lifespan
from classbridge.jobs.enqueue import enqueue_reconcile
from classbridge.models import session as session_model
from classbridge.models.db import Database
from classbridge.models.inputs.session import SessionEdit
from tests.jobs.conftest import Workers, all_arrived, connect, push_settings, settled, versions
from tests.jobs.processes import Receiver, eventually
from tests.services import REDIS_URL
from tests.studio import Studio


@pytest.fixture
async def api(
    database: Database, database_url: str, receiver: Receiver, queue: str
) -> AsyncIterator[None]:
    """This process enqueues after commit, like the API process with Redis."""
    async with push_lifespan(database, push_settings(database_url, receiver, queue)):
        yield


async def arrived(receiver: Receiver, database: Database, ids: list) -> bool:  # type: ignore[type-arg]
    return all_arrived(await receiver.state(), await versions(database, ids))


async def edit_room(studio: Studio, sid, room: str) -> None:  # type: ignore[no-untyped-def]
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=sid, changes=SessionEdit(room=room)
        )


async def test_receiver_down_then_back_gets_every_change_newest_wins(
    studio: Studio, receiver: Receiver, workers: Workers, api: None
) -> None:
    await connect(studio)
    workers.start()
    await receiver.faults(down=True)
    ids = [await studio.session(days_ahead=d) for d in range(1, 6)]
    for round_ in range(3):
        for sid in ids:
            await edit_room(studio, sid, f"Room {round_}")

    async def refused_twice() -> bool:
        return (await receiver.state())["counters"].get("refusedDown", 0) >= 2

    await eventually(refused_twice, what="deliveries refused while down")
    await receiver.faults(down=False)

    await eventually(
        lambda: arrived(receiver, studio.database, ids), deadline=30, what=workers.logs()
    )
    state = await receiver.state()
    assert {s["room"] for s in state["sessions"].values()} == {"Room 2"}


async def test_worker_killed_mid_batch_restarted_worker_completes(
    studio: Studio, receiver: Receiver, workers: Workers, api: None
) -> None:
    await connect(studio)
    await receiver.faults(latencyMs=4000)
    ids = [await studio.session(days_ahead=d) for d in range(1, 4)]
    first = workers.start()  # its first batch holds all three

    async def in_flight() -> bool:
        return (await receiver.state())["inFlight"] > 0

    await eventually(in_flight, deadline=20, what="a batch in flight")
    first.kill()
    await receiver.faults(latencyMs=0)
    assert not await arrived(receiver, studio.database, ids)

    async def abandoned() -> bool:
        return (await receiver.state())["counters"].get("abandoned", 0) >= 1

    # The dead worker's request is dropped by the receiver: only a new worker can deliver.
    await eventually(abandoned, what="the dead worker's request dropped")
    assert not await arrived(receiver, studio.database, ids)

    workers.start()
    await eventually(
        lambda: arrived(receiver, studio.database, ids), deadline=30, what=workers.logs()
    )


async def test_reconciliation_restores_a_receiver_that_lost_its_state(
    studio: Studio, receiver: Receiver, workers: Workers, api: None, queue: str, database_url: str
) -> None:
    await connect(studio)
    workers.start(reconcile_interval_seconds=2)
    ids = [await studio.session(days_ahead=d) for d in (1, 2, 3)]
    await eventually(lambda: arrived(receiver, studio.database, ids), what=workers.logs())
    # Acknowledged too: a delivery still in flight (slow under load) could otherwise be
    # sent again after the reset and restore the receiver without the reconciliation.
    await eventually(lambda: settled(studio.database, ids), what=workers.logs())

    await receiver.reset()

    await eventually(
        lambda: arrived(receiver, studio.database, ids), deadline=30, what=workers.logs()
    )
    assert (await receiver.state())["counters"]["manifests"] >= 1


async def test_reconciliation_can_be_enqueued_by_an_operator(
    studio: Studio, receiver: Receiver, workers: Workers, queue: str, database_url: str
) -> None:
    await connect(studio)
    ids = [await studio.session(days_ahead=d) for d in (1, 2)]  # no enqueue: no api fixture
    workers.start()
    redis = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    try:
        await enqueue_reconcile(
            redis, settings=push_settings(database_url, receiver, queue), key="manual"
        )
    finally:
        await redis.aclose()
    await eventually(lambda: arrived(receiver, studio.database, ids), what=workers.logs())


async def test_two_workers_never_send_one_item_concurrently(
    studio: Studio, receiver: Receiver, workers: Workers, api: None
) -> None:
    await connect(studio)
    await receiver.faults(latencyMs=150, errorRate=0.2)
    workers.start(push_batch_size=3)
    workers.start(push_batch_size=3)
    ids = [await studio.session(days_ahead=1 + d % 10, hour=8 + d % 12) for d in range(24)]
    for sid in ids[::3]:
        await edit_room(studio, sid, "Loft")

    await eventually(
        lambda: arrived(receiver, studio.database, ids), deadline=60, what=workers.logs()
    )
    counters = (await receiver.state())["counters"]
    assert counters.get("concurrentDeliveries", 0) == 0
    assert all(w.alive() for w in workers.started)


BURST = 1000


@pytest.mark.timeout(600)  # a thousand commits, one by one, on a loaded machine
async def test_a_burst_on_one_session_coalesces_into_its_newest_state(
    studio: Studio,
    receiver: Receiver,
    workers: Workers,
    database: Database,
    database_url: str,
    queue: str,
) -> None:
    await connect(studio)
    sid = await studio.session()
    window, lease = 1.0, 30.0
    workers.start(push_coalesce_seconds=window, push_lease_seconds=lease)
    settings = push_settings(database_url, receiver, queue, push_coalesce_seconds=window)
    async with push_lifespan(database, settings):
        started = time.monotonic()
        for i in range(BURST):
            await edit_room(studio, sid, f"Room {i}")
        lasted = time.monotonic() - started
        await eventually(lambda: arrived(receiver, studio.database, [sid]), what=workers.logs())
    state = await receiver.state()
    assert state["sessions"][str(sid)]["room"] == f"Room {BURST - 1}"
    # The first change leaves at once, then one run per window while the burst goes on
    # (plus the worker's start-up push, and a run when a lease held by a run still in
    # flight would run out, in case its holder died): a handful of requests per window at
    # most, not one per commit.
    bound = math.ceil(lasted / window) + math.ceil(lasted / lease) + 2
    assert state["counters"]["requests"] <= bound
