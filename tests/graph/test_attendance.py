"""Attendance stays (issue 13.5): cancelling a session never rewrites check-ins and no-shows,
and check-in opens a configurable time before the start."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from classbridge.graph.app import create_app
from classbridge.models import booking as booking_model
from classbridge.models.db import Database
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.tables import BookingSource
from classbridge.settings import Settings
from tests.studio import Studio, error_codes, gql

BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id }
}
"""
CHECK_IN = "mutation($id: ID!) { checkIn(bookingId: $id) { status } }"
NO_SHOW = "mutation($id: ID!) { markNoShow(bookingId: $id) { status } }"
CANCEL_SESSION = """
mutation($id: ID!) { cancelSession(id: $id, reason: "Teacher ill") { isCancelled } }
"""
SIGN_IN = """
query($id: ID!) {
  session(id: $id) { version bookings { id status cancellationType } }
}
"""


async def _ok(client: httpx.AsyncClient, studio: Studio, query: str, **variables: Any) -> Any:
    body = await gql(client, query, variables, token=studio.token)
    assert "errors" not in body, body
    return body["data"]


async def _book(client: httpx.AsyncClient, studio: Studio, session_id: str, customer: str) -> str:
    data = await _ok(client, studio, BOOK, s=session_id, c=customer, p=str(studio.product_id))
    return str(data["bookCustomer"]["id"])


async def test_cancelling_a_started_session_keeps_check_ins_and_no_shows(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = str(await studio.session())
    names = [("Bea", "Checked"), ("Cem", "Absent"), ("Dana", "Booked")]
    customers = [str(await studio.customer(first, last)) for first, last in names]
    checked, absent, booked = [await _book(client, studio, session_id, c) for c in customers]
    await studio.starts_in(session_id, -10)  # the class started ten minutes ago
    await _ok(client, studio, CHECK_IN, id=checked)
    await _ok(client, studio, NO_SHOW, id=absent)
    before = (await _ok(client, studio, SIGN_IN, id=session_id))["session"]

    await _ok(client, studio, CANCEL_SESSION, id=session_id)

    after = (await _ok(client, studio, SIGN_IN, id=session_id))["session"]
    rows = {b["id"]: (b["status"], b["cancellationType"]) for b in after["bookings"]}
    assert rows == {
        checked: ("CHECKED_IN", "NONE"),
        absent: ("NO_SHOW", "NONE"),
        booked: ("CANCELLED", "SESSION"),
    }
    assert after["version"] > before["version"]  # aggregators learn of the cancellation


async def test_check_in_opens_sixty_minutes_before_the_start_by_default(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = str(await studio.session())
    booking = await _book(client, studio, session_id, str(studio.customer_id))
    body = await gql(client, CHECK_IN, {"id": booking}, token=studio.token)
    assert error_codes(body) == ["CHECK_IN_NOT_OPEN"] and body["data"] is None
    assert "check-in opens at" in body["errors"][0]["message"]
    await studio.starts_in(session_id, 61)
    body = await gql(client, CHECK_IN, {"id": booking}, token=studio.token)
    assert error_codes(body) == ["CHECK_IN_NOT_OPEN"]
    status = (await _ok(client, studio, SIGN_IN, id=session_id))["session"]["bookings"]
    assert [b["status"] for b in status] == ["BOOKED"]  # the refusal changed nothing
    await studio.starts_in(session_id, 59)
    assert (await _ok(client, studio, CHECK_IN, id=booking))["checkIn"]["status"] == "CHECKED_IN"


@pytest.fixture
async def two_hour_client(
    database_url: str, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, check_in_opens_minutes=120)
    transport = httpx.ASGITransport(app=create_app(settings, database))
    async with httpx.AsyncClient(transport=transport, base_url="http://classbridge.test") as c:
        yield c


async def test_the_check_in_window_follows_the_setting(
    two_hour_client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = str(await studio.session())
    booking = await _book(two_hour_client, studio, session_id, str(studio.customer_id))
    await studio.starts_in(session_id, 121)
    body = await gql(two_hour_client, CHECK_IN, {"id": booking}, token=studio.token)
    assert error_codes(body) == ["CHECK_IN_NOT_OPEN"]
    await studio.starts_in(session_id, 90)
    data = await _ok(two_hour_client, studio, CHECK_IN, id=booking)
    assert data["checkIn"]["status"] == "CHECKED_IN"


async def test_booking_checked_in_at_once_needs_the_window_too(studio: Studio) -> None:
    """The domain function (partner `makeReservation(checkedIn: true)` goes through it)."""
    session_id = await studio.session()
    with pytest.raises(DomainError) as refused:
        async with studio.database.transaction() as db:
            await booking_model.book(
                db=db,
                company_id=studio.company_id,
                session_id=session_id,
                customer_id=studio.customer_id,
                product_id=studio.product_id,
                source=BookingSource.STAFF,
                checked_in=True,
            )
    assert refused.value.code is ErrorCode.CHECK_IN_NOT_OPEN
