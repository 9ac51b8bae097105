"""Booking limits hold when many staff bookings race over real HTTP (a real server)."""

import asyncio

import httpx
from sqlalchemy import func, select

from classbridge.models.booking import Booking, BookingStatus
from tests.live import running_server
from tests.studio import Studio

BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { __typename status }
}
"""


async def test_40_concurrent_bookings_for_10_spots_book_exactly_10(
    database_url: str, studio: Studio
) -> None:
    session_id = await studio.session(capacity=10)
    customers = [await studio.customer(f"C{i}", "Racer") for i in range(40)]
    async with (
        running_server(database_url) as server,
        httpx.AsyncClient(base_url=server.url, headers=studio.headers(), timeout=60) as client,
    ):

        async def book(customer_id: object) -> httpx.Response:
            variables = {"s": str(session_id), "c": str(customer_id), "p": str(studio.product_id)}
            return await client.post("/graphql", json={"query": BOOK, "variables": variables})

        responses = await asyncio.gather(*(book(c) for c in customers))
    assert [r.status_code for r in responses] == [200] * 40
    bodies = [r.json() for r in responses]
    booked = [b for b in bodies if b.get("data")]
    refused = [e["extensions"]["code"] for b in bodies for e in b.get("errors", [])]
    assert len(booked) == 10
    assert all(
        b["data"]["bookCustomer"] == {"__typename": "Booking", "status": "BOOKED"} for b in booked
    )
    assert refused == ["SESSION_FULL"] * 30
    async with studio.database.session() as db:
        live = await db.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.session_id == session_id, Booking.status != BookingStatus.CANCELLED)
        )
    assert live == 10
