"""Each partner token has a request budget (CLASSBRIDGE_PARTNER_RATE_LIMIT); over it,
HTTP 429 with Retry-After and RATE_LIMITED. With Redis the budget is shared by every
server process; without, each process counts in memory."""

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from classbridge.graph.app import create_app
from classbridge.graph.partner import rate_limit
from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.aggregators.partner import PARTNER_PATH, Partner, make_partner
from tests.processes import running_server
from tests.services import ADMIN_REDIS_URL, REDIS_URL, require_redis
from tests.studio import Studio

QUERY = {"query": "{ venues { edges { cursor } } }"}


@pytest.fixture
async def limited_client(database_url: str, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, partner_rate_limit="3/minute")
    transport = httpx.ASGITransport(app=create_app(settings, database))
    async with httpx.AsyncClient(transport=transport, base_url="http://classbridge.test") as c:
        yield c


async def _ask(client: httpx.AsyncClient, partner: Partner) -> httpx.Response:
    return await client.post(PARTNER_PATH, json=QUERY, headers=partner.headers())


async def test_over_the_budget_a_token_gets_429_with_retry_after(
    limited_client: httpx.AsyncClient, database: Database, studio: Studio
) -> None:
    wellpass = await make_partner(database, Aggregator.EGYM_WELLPASS)
    classpass = await make_partner(database, Aggregator.CLASSPASS)
    for _ in range(3):
        assert (await _ask(limited_client, wellpass)).status_code == 200
    refused = await _ask(limited_client, wellpass)
    assert refused.status_code == 429
    # The token was looked up in a read session of the request; refused, it is returned.
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    body = refused.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["RATE_LIMITED"]
    assert "3 per 1 minute" in body["errors"][0]["message"]
    # Another token has a budget of its own; the staff API has none.
    assert (await _ask(limited_client, classpass)).status_code == 200
    staff = await limited_client.post(
        "/graphql", json={"query": "{ me { id } }"}, headers=studio.headers()
    )
    assert staff.status_code == 200


async def test_the_default_budget_is_600_a_minute() -> None:
    assert Settings().partner_rate_limit == "600/minute"
    with pytest.raises(ValueError):
        Settings(partner_rate_limit="lots")


async def test_with_redis_the_budget_is_shared_by_every_server_process(
    database_url: str, database: Database, redis_namespace: str
) -> None:
    require_redis()
    prefix = redis_namespace
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    env = {
        "CLASSBRIDGE_REDIS_URL": REDIS_URL,
        "CLASSBRIDGE_PARTNER_RATE_LIMIT": "4/minute",
        "CLASSBRIDGE_RATE_LIMIT_KEY_PREFIX": prefix,
        # The push and live sign-in need nothing from these tests.
        "CLASSBRIDGE_QUEUE_NAME": f"{prefix}:push",
        "CLASSBRIDGE_LIVE_CHANNEL_PREFIX": f"{prefix}:live",
    }
    redis = Redis.from_url(ADMIN_REDIS_URL)  # the test's own client (KEYS is an admin's)
    try:
        async with (
            running_server(database_url, extra_env=env) as first,
            running_server(database_url, extra_env=env) as second,
        ):
            statuses = []
            for i in range(5):
                server = (first, second)[i % 2]
                async with httpx.AsyncClient(base_url=server.url) as http:
                    statuses.append((await _ask(http, partner)).status_code)
            assert statuses == [200, 200, 200, 200, 429]
            assert await redis.keys(f"{prefix}*")  # counted in Redis, not in either process
    finally:
        keys = await redis.keys(f"{prefix}*")
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_a_rate_limit_store_that_never_answers_costs_a_bounded_wait(
    database_url: str,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Redis accepting connections but answering nothing (a hung server): the request is
    served uncounted after the bounded wait, not held (with its database session)."""
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # until the client gives up and closes
        writer.close()

    hung = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = hung.sockets[0].getsockname()[1]
    monkeypatch.setattr(rate_limit, "STORE_WAIT_SECONDS", 0.2)
    settings = Settings(
        database_url=database_url,
        redis_url=f"redis://127.0.0.1:{port}/0",
        partner_rate_limit="3/minute",
    )
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    transport = httpx.ASGITransport(app=create_app(settings, database))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://cb.test") as client:
            with caplog.at_level(logging.WARNING, logger="classbridge.ratelimit"):
                answers = [await _ask(client, partner) for _ in range(4)]
    finally:
        hung.close()
        await hung.wait_closed()
    assert accepted.is_set()  # the store was asked
    assert [a.status_code for a in answers] == [200] * 4  # uncounted: no 429 either
    assert "rate limit not counted (TimeoutError" in caplog.text
