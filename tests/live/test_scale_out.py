"""Scale-out: two `classbridge serve` processes on one PostgreSQL database and one Redis.
A dashboard on the first hears of bookings made through the second process, by staff and by
an aggregator through the partner API."""

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from classbridge.models import session as session_model
from classbridge.models.inputs.session import SessionEdit
from classbridge.models.tables import Aggregator, AggregatorMode
from tests import zygote
from tests.aggregators.partner import activate, link, make_partner, member, pgql
from tests.live.test_sign_in_events import book, subscribe
from tests.live.wsclient import TRANSPORT_WS
from tests.services import REDIS_URL, require_redis
from tests.studio import Studio

ROOT = Path(__file__).resolve().parents[2]
_STARTED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def _environment(database_url: str, prefix: str) -> dict[str, str]:
    return {
        **os.environ,
        "CLASSBRIDGE_DATABASE_URL": database_url,
        "CLASSBRIDGE_REDIS_URL": REDIS_URL,
        "CLASSBRIDGE_LIVE_CHANNEL_PREFIX": prefix,
        "CLASSBRIDGE_QUEUE_NAME": prefix,  # the servers enqueue push jobs (no worker takes them)
        "CLASSBRIDGE_RATE_LIMIT_KEY_PREFIX": prefix,  # the partner API counts requests in Redis
    }


@asynccontextmanager
async def classbridge_serve(env: dict[str, str]) -> AsyncIterator[str]:
    """`classbridge serve` on a port the OS picks; yields host:port; always terminated."""
    process = await zygote.create_process(
        zygote.CLASSBRIDGE, "serve", "--port", "0", env=env, cwd=ROOT, stdout=zygote.DEVNULL
    )
    started: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    log: list[str] = []

    async def drain() -> None:  # keep reading, so the pipe never blocks the server
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace")
            log.append(line)
            match = _STARTED.search(line)
            if match and not started.done():
                started.set_result(f"127.0.0.1:{match.group(1)}")
        if not started.done():
            started.set_exception(RuntimeError("classbridge serve exited:\n" + "".join(log)))

    drainer = asyncio.create_task(drain())
    try:
        async with asyncio.timeout(60):
            yield await started
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()
        await drainer


MAKE_RESERVATION = """
mutation Reserve($sessionId: ID!, $user: UserInput!) {
  makeReservation(sessionId: $sessionId, user: $user) { id status }
}
"""

ServeFactory = Callable[[], AbstractAsyncContextManager[str]]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_dashboard_on_one_process_hears_changes_from_others(
    database_url: str, studio: Studio, redis_prefix: str
) -> None:
    require_redis()
    await activate(studio)
    await link(studio)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    session_id = await studio.session(capacity=10)
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db,
            company_id=studio.company_id,
            session_id=session_id,
            changes=SessionEdit(aggregator_mode=AggregatorMode.INDIVIDUAL, aggregator_allowed=True),
        )
    env = _environment(database_url, redis_prefix)
    async with classbridge_serve(env) as first, classbridge_serve(env) as second:
        socket = await subscribe(f"ws://{first}/graphql", TRANSPORT_WS, studio, session_id)
        snapshot = (await socket.event())["signInUpdates"]
        assert snapshot["change"] == "SNAPSHOT"
        assert snapshot["session"]["sequence"] == 1  # the edit above

        # Staff API on the second process.
        booking = await book(f"http://{second}", studio, session_id, studio.customer_id)
        event = (await socket.event())["signInUpdates"]
        assert (event["change"], event["booking"]["id"]) == ("BOOKED", booking)
        assert event["booking"]["source"] == "STAFF"
        assert event["session"]["sequence"] == 2

        # The partner API on the second process.
        async with httpx.AsyncClient(base_url=f"http://{second}") as client:
            body = await pgql(
                client,
                partner,
                MAKE_RESERVATION,
                {"sessionId": str(session_id), "user": member("scale-out")},
            )
        assert "errors" not in body, body
        aggregator_booking = body["data"]["makeReservation"]["id"]
        event = (await socket.event())["signInUpdates"]
        assert (event["change"], event["booking"]["id"]) == ("BOOKED", aggregator_booking)
        assert event["booking"]["source"] == "AGGREGATOR"
        assert event["booking"]["aggregator"] == "EGYM_WELLPASS"
        assert event["session"]["counts"]["aggregatorBooked"] == 1
        assert event["session"]["counts"]["booked"] == 2
        assert event["session"]["sequence"] == 3
        await socket.close()
