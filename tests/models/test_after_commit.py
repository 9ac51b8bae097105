"""After-commit work can neither turn a committed change into an error nor hold it up;
each listener gets its notices in commit order."""

import asyncio
import logging
import uuid

import httpx
import pytest

from classbridge.models.db import Database
from classbridge.models.outbox import OutboxWritten
from classbridge.models.tables import Booking, Company
from tests.studio import Studio, gql


async def test_a_failing_listener_harms_neither_the_change_nor_other_listeners(
    studio: Studio, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[object] = []

    async def broken(notices: list[object]) -> None:
        raise RuntimeError("the bus is down")

    async def working(notices: list[object]) -> None:
        heard.extend(notices)

    studio.database.after_commit.add(broken)
    studio.database.after_commit.add(working)
    session_id = await studio.session()  # writes outbox rows: a notice for the listeners
    await studio.database.after_commit.drain()
    async with studio.database.read() as db:
        assert await db.get(Company, studio.company_id) is not None
    assert any(isinstance(n, OutboxWritten) for n in heard), session_id
    assert "after-commit listener" in caplog.text and "the bus is down" in caplog.text


async def test_a_slow_listener_does_not_hold_the_transaction(studio: Studio) -> None:
    release = asyncio.Event()
    started = asyncio.Event()
    finished: list[bool] = []

    async def slow(notices: list[object]) -> None:
        started.set()
        await release.wait()
        finished.append(True)

    studio.database.after_commit.add(slow)
    await studio.session()  # returns although the listener is still waiting
    await started.wait()
    assert finished == []
    release.set()
    await studio.database.after_commit.drain()
    assert finished == [True]


async def test_each_listener_sees_commits_in_order(studio: Studio) -> None:
    seen: list[str] = []
    gate = asyncio.Event()

    async def record(notices: list[object]) -> None:
        await gate.wait()  # busy: later commits queue up behind this call
        seen.extend(type(n).__name__ for n in notices)

    studio.database.after_commit.add(record)
    first = await studio.session(days_ahead=2)
    second = await studio.session(days_ahead=3)
    third = await studio.session(days_ahead=4)
    gate.set()
    await studio.database.after_commit.drain()
    assert seen == ["OutboxWritten"] * 3, (first, second, third)


async def test_a_committed_mutation_answers_although_a_listener_fails(
    client: httpx.AsyncClient, studio: Studio, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(notices: list[object]) -> None:
        raise RuntimeError("listener exploded")

    session_id = await studio.session()
    database.after_commit.add(broken)
    body = await gql(
        client,
        "mutation($s: ID!, $c: ID!, $p: ID!) {"
        " bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id status } }",
        {"s": str(session_id), "c": str(studio.customer_id), "p": str(studio.product_id)},
        token=studio.token,
    )
    assert "errors" not in body, body
    assert body["data"]["bookCustomer"]["status"] == "BOOKED"
    await database.after_commit.drain()
    async with database.read() as db:
        assert await db.get(Booking, uuid.UUID(body["data"]["bookCustomer"]["id"]))
    assert "listener exploded" in caplog.text


@pytest.fixture(autouse=True)
def _log_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="classbridge.after_commit")
