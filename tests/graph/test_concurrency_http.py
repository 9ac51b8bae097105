"""Booking limits hold when many staff bookings race over real HTTP (a real server)."""

import asyncio

import httpx
from sqlalchemy import func, select

from classbridge.models.tables import Booking, BookingStatus
from tests.processes import running_server
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
    async with studio.database.read() as db:
        live = await db.scalar(
            select(func.count())
            .select_from(Booking)
            .where(Booking.session_id == session_id, Booking.status != BookingStatus.CANCELLED)
        )
    assert live == 10


ADD_ID = """
mutation($id: ID!) {
  addCustomerAggregatorId(customerId: $id, aggregator: EGYM_WELLPASS, externalId: "RACE-1") {
    __typename id
  }
}
"""


async def test_racing_to_claim_one_aggregator_id_gives_it_to_one_customer(
    database_url: str, studio: Studio
) -> None:
    customers = [await studio.customer(f"C{i}", "Claimer") for i in range(10)]
    async with (
        running_server(database_url) as server,
        httpx.AsyncClient(base_url=server.url, headers=studio.headers(), timeout=60) as client,
    ):

        async def claim(customer_id: object) -> httpx.Response:
            return await client.post(
                "/graphql", json={"query": ADD_ID, "variables": {"id": str(customer_id)}}
            )

        responses = await asyncio.gather(*(claim(c) for c in customers))
    assert [r.status_code for r in responses] == [200] * 10
    bodies = [r.json() for r in responses]
    winners = [b["data"]["addCustomerAggregatorId"]["id"] for b in bodies if b.get("data")]
    assert len(winners) == 1
    errors = [e for b in bodies for e in b.get("errors", [])]
    assert [e["extensions"]["code"] for e in errors] == ["AGGREGATOR_ID_TAKEN"] * 9
    assert all(winners[0] in e["message"] for e in errors), errors  # names who has it
