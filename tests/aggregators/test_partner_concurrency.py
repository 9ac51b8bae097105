"""200 members reserving at once, while the desk books too: capacity and the aggregator
limit hold exactly, over real HTTP, on SQLite and PostgreSQL."""

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from classbridge.graph.app import create_app
from classbridge.models.db import Database
from classbridge.models.tables import Aggregator, Booking, BookingSource, BookingStatus
from classbridge.settings import Settings
from tests.aggregators.partner import PARTNER_PATH, connect, make_partner, member
from tests.studio import Studio

MEMBERS = 200
DESK_BOOKINGS = 40
CAPACITY = 20
AGGREGATOR_LIMIT = 8

MAKE = """
mutation M($s: ID!, $u: UserInput!) { makeReservation(sessionId: $s, user: $u) { id } }
"""
BOOK = """
mutation B($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id }
}
"""


@pytest.fixture
async def server_url(settings: Settings, database: Database) -> AsyncIterator[str]:
    """The app under uvicorn on a port the OS picked, stopped after the test."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, database), lifespan="off", log_level="warning")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(20):
            # uvicorn exposes no "started" event: poll its flag with a deadline.
            while not server.started:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.mark.timeout(300)
async def test_capacity_and_aggregator_limit_hold_under_a_rush(
    server_url: str, studio: Studio
) -> None:
    await connect(studio, limit=AGGREGATOR_LIMIT)
    session_id = str(await studio.session(capacity=CAPACITY))
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    customers = [str(await studio.customer("Desk", f"Guest{i:02d}")) for i in range(DESK_BOOKINGS)]

    async def call(c: httpx.AsyncClient, path: str, query: str, variables: dict, headers: dict):  # type: ignore[no-untyped-def,type-arg]
        response = await c.post(
            path, json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code < 500, response.text
        body = response.json()
        return "ok" if not body.get("errors") else body["errors"][0]["extensions"]["code"]

    async with httpx.AsyncClient(base_url=server_url, timeout=120) as c:
        calls = [
            call(c, PARTNER_PATH, MAKE, {"s": session_id, "u": member(n)}, partner.headers())
            for n in range(MEMBERS)
        ]
        desk = [
            call(
                c,
                "/graphql",
                BOOK,
                {"s": session_id, "c": customer, "p": str(studio.product_id)},
                studio.headers(),
            )
            for customer in customers
        ]
        # Interleave: one desk booking after every five member reservations.
        mixed = []
        for i, coro in enumerate(calls):
            mixed.append(coro)
            if i % 5 == 4 and desk:
                mixed.append(desk.pop())
        mixed.extend(desk)
        outcomes = Counter(await asyncio.gather(*mixed))

    async with studio.database.read() as db:
        rows = (
            await db.execute(
                select(Booking.source, func.count())
                .where(Booking.status == BookingStatus.BOOKED)
                .group_by(Booking.source)
            )
        ).all()
    booked = dict(rows)
    assert sum(booked.values()) == CAPACITY, (booked, outcomes)
    assert booked.get(BookingSource.AGGREGATOR, 0) <= AGGREGATOR_LIMIT
    assert outcomes["ok"] == CAPACITY
    assert set(outcomes) <= {"ok", "SESSION_FULL", "AGGREGATOR_LIMIT_REACHED"}, outcomes
