"""Live sign-in over a real WebSocket against uvicorn: every kind of change arrives as one
event, in commit order, after a snapshot; rolled-back changes send nothing."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from classbridge.live.payload import SignInMessage, build_messages, session_topic
from classbridge.models import booking as booking_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.sign_in_events import SignInChange, SignInEvent
from classbridge.models.tables import BookingSource, ClassSession
from tests.live.conftest import ServerFactory
from tests.live.wsclient import PROTOCOLS, SESSION_UPDATES, TRANSPORT_WS, GqlSocket
from tests.services import TLS
from tests.studio import Studio, error_codes

BOOK = """mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id } }"""
CANCEL = "mutation($id: ID!) { cancelBooking(id: $id) { id } }"
CHECK_IN = "mutation($id: ID!) { checkIn(bookingId: $id) { id } }"
UNDO = "mutation($id: ID!) { undoCheckIn(bookingId: $id) { id } }"
NO_SHOW = "mutation($id: ID!) { markNoShow(bookingId: $id) { id } }"
EDIT = 'mutation($id: ID!) { editSession(id: $id, input: {room: "Studio 2"}) { id } }'
CANCEL_SESSION = 'mutation($id: ID!) { cancelSession(id: $id, reason: "teacher ill") { id } }'


async def staff(http: str, studio: Studio, query: str, **variables: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=http, timeout=15, verify=TLS) as client:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=studio.headers()
        )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def book(http: str, studio: Studio, session_id: uuid.UUID, customer_id: uuid.UUID) -> str:
    body = await staff(
        http, studio, BOOK, s=str(session_id), c=str(customer_id), p=str(studio.product_id)
    )
    assert not body.get("errors"), body
    return body["data"]["bookCustomer"]["id"]  # type: ignore[no-any-return]


async def subscribe(url: str, protocol: str, studio: Studio, session_id: uuid.UUID) -> GqlSocket:
    socket = await GqlSocket.open(url, protocol)
    ack = await socket.init({"Authorization": f"Bearer {studio.token}"})
    assert ack["type"] == "connection_ack", ack
    await socket.subscribe("1", SESSION_UPDATES, {"id": str(session_id)})
    return socket


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_every_change_arrives_as_one_event_in_order(
    live_server: ServerFactory, studio: Studio, database: Database, protocol: str
) -> None:
    session_id = await studio.session(capacity=10)
    await studio.starts_in(session_id, 30)  # check-in is open
    bob = await studio.customer("Bob", "Brown")
    async with live_server() as server:
        socket = await subscribe(server.ws_url, protocol, studio, session_id)
        snapshot = (await socket.event())["signInUpdates"]
        assert snapshot["change"] == "SNAPSHOT"
        assert snapshot["session"]["sequence"] == 0
        assert snapshot["sessions"][0]["bookings"] == []

        ada_booking = await book(server.http_url, studio, session_id, studio.customer_id)
        booked = (await socket.event())["signInUpdates"]
        assert booked["change"] == "BOOKED"
        assert booked["booking"]["id"] == ada_booking
        assert booked["booking"]["status"] == "BOOKED"
        assert booked["booking"]["source"] == "STAFF"
        assert booked["booking"]["customer"]["lastName"] == "Lovelace"
        assert booked["booking"]["product"] == {
            "id": str(studio.product_id),
            "name": "Drop-in",
            "kind": "DROP_IN",
        }
        assert booked["session"]["counts"] == {
            "booked": 1,
            "capacity": 10,
            "available": 9,
            "checkedIn": 0,
            "aggregatorBooked": 0,
            "aggregatorLimit": None,
        }
        assert booked["sessions"] == []

        await staff(server.http_url, studio, CHECK_IN, id=ada_booking)
        checked_in = (await socket.event())["signInUpdates"]
        assert (checked_in["change"], checked_in["booking"]["status"]) == (
            "CHECKED_IN",
            "CHECKED_IN",
        )
        assert checked_in["session"]["counts"]["checkedIn"] == 1

        await staff(server.http_url, studio, UNDO, id=ada_booking)
        undone = (await socket.event())["signInUpdates"]
        assert (undone["change"], undone["booking"]["status"]) == ("CHECK_IN_UNDONE", "BOOKED")
        assert undone["session"]["counts"]["checkedIn"] == 0

        bob_booking = await book(server.http_url, studio, session_id, bob)
        assert (await socket.event())["signInUpdates"]["booking"]["id"] == bob_booking
        await staff(server.http_url, studio, CANCEL, id=bob_booking)
        cancelled = (await socket.event())["signInUpdates"]
        assert cancelled["change"] == "CANCELLED"
        assert cancelled["booking"]["cancellationType"] == "EARLY"
        assert cancelled["session"]["counts"]["booked"] == 1

        # No-shows are marked once the session has started: move its start behind us.
        async with database.transaction() as db:
            await db.execute(
                update(ClassSession)
                .where(ClassSession.id == session_id)
                .values(starts_at=utcnow() - timedelta(minutes=5))
            )
        await staff(server.http_url, studio, NO_SHOW, id=ada_booking)
        no_show = (await socket.event())["signInUpdates"]
        assert (no_show["change"], no_show["booking"]["status"]) == ("NO_SHOW", "NO_SHOW")

        await staff(server.http_url, studio, EDIT, id=str(session_id))
        edited = (await socket.event())["signInUpdates"]
        assert edited["change"] == "SESSION_UPDATED"
        assert edited["booking"] is None
        assert edited["session"]["room"] == "Studio 2"

        await staff(server.http_url, studio, CANCEL_SESSION, id=str(session_id))
        gone = (await socket.event())["signInUpdates"]
        assert gone["change"] == "SESSION_CANCELLED"
        assert gone["session"]["isCancelled"] is True
        assert gone["session"]["counts"]["booked"] == 1  # attendance stays: Ada's no-show

        sequences = [
            e["session"]["sequence"]
            for e in (booked, checked_in, undone, cancelled, no_show, edited, gone)
        ]
        assert sequences == [1, 2, 3, 5, 6, 7, 8]  # 4: Bob's booking
        await socket.close()


async def test_refused_and_rolled_back_changes_send_nothing(
    live_server: ServerFactory, studio: Studio, database: Database
) -> None:
    session_id = await studio.session(capacity=1)
    bob = await studio.customer("Bob", "Brown")
    async with live_server() as server:
        socket = await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id)
        assert (await socket.event())["signInUpdates"]["change"] == "SNAPSHOT"

        # A booking that a later step of the same transaction undoes is never announced.
        with pytest.raises(RuntimeError):
            async with database.transaction() as db:
                await booking_model.book(
                    db=db,
                    company_id=studio.company_id,
                    session_id=session_id,
                    customer_id=bob,
                    product_id=studio.product_id,
                    source=BookingSource.STAFF,
                )
                raise RuntimeError("something after the booking failed")

        first = await book(server.http_url, studio, session_id, studio.customer_id)
        refused = await staff(
            server.http_url, studio, BOOK, s=str(session_id), c=str(bob), p=str(studio.product_id)
        )
        assert error_codes(refused) == ["SESSION_FULL"]
        await staff(server.http_url, studio, EDIT, id=str(session_id))

        event = (await socket.event())["signInUpdates"]
        assert (event["change"], event["booking"]["id"]) == ("BOOKED", first)
        assert event["session"]["sequence"] == 1  # the rolled-back one took no number
        following = (await socket.event())["signInUpdates"]
        assert (following["change"], following["session"]["sequence"]) == ("SESSION_UPDATED", 2)
        await socket.close()


async def test_late_subscriber_gets_snapshot_then_misses_nothing(
    live_server: ServerFactory, studio: Studio
) -> None:
    """Bookings keep coming while the dashboard connects: snapshot + events = all, once."""
    session_id = await studio.session(capacity=50)
    customers = [await studio.customer("Guest", f"No{i:02d}") for i in range(12)]
    async with live_server() as server:
        await book(server.http_url, studio, session_id, customers[0])
        await book(server.http_url, studio, session_id, customers[1])

        async def keep_booking() -> list[str]:
            return [await book(server.http_url, studio, session_id, c) for c in customers[2:]]

        booking_task = asyncio.create_task(keep_booking())
        socket = await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id)
        snapshot = (await socket.event())["signInUpdates"]
        assert snapshot["change"] == "SNAPSHOT"
        seen = [b["id"] for b in snapshot["sessions"][0]["bookings"]]
        sequence = snapshot["session"]["sequence"]
        assert sequence == len(seen) >= 2
        await booking_task
        while len(seen) < len(customers):
            event = (await socket.event())["signInUpdates"]
            assert event["change"] == "BOOKED"
            assert event["session"]["sequence"] == sequence + 1
            sequence += 1
            seen.append(event["booking"]["id"])
        assert len(set(seen)) == len(customers)
        await socket.close()


async def test_concurrent_changes_arrive_in_commit_order(
    live_server: ServerFactory, studio: Studio
) -> None:
    session_id = await studio.session(capacity=50)
    customers = [await studio.customer("Guest", f"No{i:02d}") for i in range(10)]
    async with live_server() as server:
        socket = await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id)
        await socket.event()
        await asyncio.gather(*(book(server.http_url, studio, session_id, c) for c in customers))
        events = [(await socket.event())["signInUpdates"] for _ in customers]
        assert [e["session"]["sequence"] for e in events] == list(range(1, 11))
        assert len({e["booking"]["id"] for e in events}) == 10
        await socket.close()


async def test_events_published_out_of_order_are_delivered_in_order(
    live_server: ServerFactory, studio: Studio, database: Database
) -> None:
    """Two publishers may overtake each other; the subscriber puts events back in order."""
    session_id = await studio.session()
    async with live_server() as server:
        socket = await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id)
        await socket.event()
        async with database.read() as db:
            (template,) = await build_messages(
                db=db,
                events=[
                    SignInEvent(
                        SignInChange.SESSION_UPDATED,
                        studio.company_id,
                        studio.venue_id,
                        session_id,
                        None,
                    )
                ],
            )

        def numbered(n: int) -> SignInMessage:
            return template.model_copy(
                update={"session": template.session.model_copy(update={"sequence": n})}
            )

        topic = [session_topic(session_id)]
        for n in (3, 1, 1, 2, 4):  # 1 twice: a duplicate is dropped
            await server.bus.publish(topic, numbered(n))
        received = [
            (await socket.event())["signInUpdates"]["session"]["sequence"] for _ in range(4)
        ]
        assert received == [1, 2, 3, 4]
        await socket.close()
