"""Leading-edge coalescing, with the embedded runner (no Redis) and with a real
`classbridge worker` on real Redis: an isolated change leaves at once, a change right after
it waits for one trailing run at the end of the window (docs/push-operations.md)."""

import time
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from classbridge.jobs.embedded import push_lifespan
from classbridge.jobs.enqueue import throttle_key
from classbridge.models import session as session_model
from classbridge.models.db import Database
from classbridge.models.inputs.session import SessionEdit
from classbridge.settings import Settings
from tests.jobs.conftest import Workers, connect, push_settings
from tests.jobs.processes import Receiver, eventually
from tests.services import REDIS_URL, TLS
from tests.studio import Studio

WINDOW = 5.0


async def _received(receiver: Receiver, sid: str) -> tuple[str | None, float | None]:
    """(room held, unix time the newest state was received) for one session."""
    async with httpx.AsyncClient(verify=TLS) as http:
        times = (await http.get(f"{receiver.url}/versions")).json()["sessions"]
    state = await receiver.state()
    held: dict[str, Any] | None = state["sessions"].get(sid)
    if held is None or sid not in times:
        return None, None
    return held.get("room"), times[sid][1]


# The worker's reconciliation period (the tests' workers keep the default).
RECONCILE_TICK: int = Settings.model_fields["reconcile_interval_seconds"].default


async def _clear_of_cron_tick() -> bool:
    """At least 3 s after the worker's last reconciliation tick (its run has begun) and
    35 s before the next: the timed part (a quiet window, then two windows) fits."""
    since = time.time() % RECONCILE_TICK
    return 3 < since < RECONCILE_TICK - 35


async def _edit(studio: Studio, sid: Any, room: str) -> None:
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=sid, changes=SessionEdit(room=room)
        )


@pytest.mark.parametrize("runner", ["embedded", "worker"])
async def test_an_isolated_change_leaves_on_the_leading_edge_and_the_next_trails(
    runner: str,
    studio: Studio,
    receiver: Receiver,
    workers: Workers,
    database: Database,
    database_url: str,
    queue: str,
) -> None:
    await connect(studio)
    sid = await studio.session()
    settings = push_settings(database_url, receiver, queue, push_coalesce_seconds=WINDOW)
    if runner == "embedded":
        settings = settings.model_copy(update={"redis_url": None})
    else:
        workers.start(push_coalesce_seconds=WINDOW)
    async with push_lifespan(database, settings):
        # The new session arrives by the start-up run (reconciliation or worker start-up).
        async def held() -> bool:
            return (await _received(receiver, str(sid)))[1] is not None

        await eventually(held, what="the new session")
        if runner == "worker":
            # The worker reconciles on the clock (arq cron, at :00 and :30 by default), and
            # a reconciliation within the timed part below sends the second change before
            # its window ends (seen at 16:00:00 UTC): start clear of a tick.
            await eventually(_clear_of_cron_tick, deadline=45, what="a moment clear of cron")
            # The worker's start-up push opened a window: wait until it is over (its key
            # expires), so the next change is isolated.
            redis = Redis.from_url(REDIS_URL)
            try:

                async def quiet() -> bool:
                    return not await redis.exists(throttle_key(settings))

                await eventually(quiet, what="a quiet window")
            finally:
                await redis.aclose()
        requests = (await receiver.state())["counters"].get("requests", 0)

        committed = time.time()
        await _edit(studio, sid, "Leading")

        async def leading() -> bool:
            return (await _received(receiver, str(sid)))[0] == "Leading"

        # Before its window has passed: only a run on the leading edge can have sent it.
        await eventually(leading, deadline=WINDOW, what="the isolated change")

        await _edit(studio, sid, "Trailing")  # within the window the first run opened

        async def trailing() -> bool:
            return (await _received(receiver, str(sid)))[0] == "Trailing"

        await eventually(trailing, deadline=30, what="the change in the window")
        _, received = await _received(receiver, str(sid))
    assert received is not None
    # The second change waited for the end of the first run's window (one trailing run),
    # instead of starting a run of its own on the spot.
    assert received >= committed + WINDOW
    assert (await receiver.state())["counters"]["requests"] == requests + 2
