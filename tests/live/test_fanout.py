"""Live fan-out executes each event once per render group — (document, operation name,
variables, company, role) — and sends every member the same payload (live/fanout.py).

The executions are counted by the bus's multiplexer; the clients are real WebSockets of
both protocols against uvicorn."""

import asyncio
import uuid
from typing import Any

import pytest
from sqlmodel import select
from websockets.exceptions import ConnectionClosed

from classbridge.graph.staff.sockets import UNAUTHORIZED
from classbridge.models import staff as staff_model
from classbridge.models.db import Database
from classbridge.models.tables import StaffUser
from tests.live.conftest import LiveServer, ServerFactory
from tests.live.test_hygiene import wait_until_clean
from tests.live.test_sign_in_events import CANCEL, book, staff
from tests.live.wsclient import LEGACY_WS, SESSION_UPDATES, TRANSPORT_WS, GqlSocket
from tests.studio import Studio

# The booking only when $full: two variable sets, two different payloads.
WITH_OR_WITHOUT_BOOKING = """
subscription Desk($id: ID!, $full: Boolean!) {
  signInUpdates(sessionId: $id) {
    change
    session { id sequence counts { booked } }
    booking @include(if: $full) { id status customer { firstName lastName } }
  }
}
"""


async def open_subscriptions(
    server: LiveServer,
    token: str,
    query: str,
    variables: list[dict[str, Any]],
) -> list[GqlSocket]:
    """One socket per variable set, alternating the two protocols; each has its SNAPSHOT."""

    async def one(n: int, values: dict[str, Any]) -> GqlSocket:
        socket = await GqlSocket.open(server.ws_url, (TRANSPORT_WS, LEGACY_WS)[n % 2])
        ack = await socket.init({"Authorization": f"Bearer {token}"})
        assert ack["type"] == "connection_ack", ack
        await socket.subscribe("op", query, values)
        assert (await socket.event())["signInUpdates"]["change"] == "SNAPSHOT"
        return socket

    return list(await asyncio.gather(*(one(n, v) for n, v in enumerate(variables))))


async def next_events(sockets: list[GqlSocket]) -> list[dict[str, Any]]:
    return [e["signInUpdates"] for e in await asyncio.gather(*(s.event() for s in sockets))]


async def close_all(sockets: list[GqlSocket]) -> None:
    await asyncio.gather(*(s.close() for s in sockets))


@pytest.mark.parametrize("redis", [False, True], ids=["in-process", "redis"])
async def test_fifty_identical_subscriptions_cost_one_execution_per_event(
    live_server: ServerFactory, studio: Studio, redis: bool
) -> None:
    session_id = await studio.session()
    async with live_server(redis=redis) as server:
        sockets = await open_subscriptions(
            server, studio.token, SESSION_UPDATES, [{"id": str(session_id)}] * 50
        )
        mux = server.bus.multiplexer
        assert mux.group_count() == 1  # both protocols share it: only the envelope differs

        before = mux.executions
        booking_id = await book(server.http_url, studio, session_id, studio.customer_id)
        booked = await next_events(sockets)
        assert mux.executions - before == 1
        assert all(event == booked[0] for event in booked)
        assert booked[0]["change"] == "BOOKED"
        assert booked[0]["booking"]["id"] == booking_id

        body = await staff(server.http_url, studio, CANCEL, id=booking_id)
        assert not body.get("errors"), body
        cancelled = await next_events(sockets)
        assert mux.executions - before == 2  # one more event, one more execution
        assert all(event == cancelled[0] for event in cancelled)
        assert cancelled[0]["change"] == "CANCELLED"
        assert cancelled[0]["session"]["sequence"] == booked[0]["session"]["sequence"] + 1

        await close_all(sockets)
        await wait_until_clean(server, None, "")


async def test_two_variable_sets_cost_two_executions(
    live_server: ServerFactory, studio: Studio
) -> None:
    session_id = await studio.session()
    full = {"id": str(session_id), "full": True}
    brief = {"id": str(session_id), "full": False}
    async with live_server() as server:
        sockets = await open_subscriptions(
            server, studio.token, WITH_OR_WITHOUT_BOOKING, [full, brief] * 3
        )
        mux = server.bus.multiplexer
        assert mux.group_count() == 2

        before = mux.executions
        booking_id = await book(server.http_url, studio, session_id, studio.customer_id)
        events = await next_events(sockets)
        assert mux.executions - before == 2
        for n, event in enumerate(events):
            if n % 2 == 0:
                assert event["booking"]["id"] == booking_id
            else:
                assert "booking" not in event
            assert event["session"]["counts"]["booked"] == 1
        await close_all(sockets)


async def test_companies_execute_apart_and_never_see_each_other(
    live_server: ServerFactory, studio: Studio, other_studio: Studio
) -> None:
    ours = await studio.session()
    theirs = await other_studio.session()
    async with live_server() as server:
        our_sockets = await open_subscriptions(
            server, studio.token, SESSION_UPDATES, [{"id": str(ours)}] * 3
        )
        their_sockets = await open_subscriptions(
            server, other_studio.token, SESSION_UPDATES, [{"id": str(theirs)}] * 3
        )
        mux = server.bus.multiplexer
        assert mux.group_count() == 2

        # Same document and variables as ours, other company: refused, no group joined.
        intruder = await GqlSocket.open(server.ws_url, TRANSPORT_WS)
        await intruder.init({"Authorization": f"Bearer {other_studio.token}"})
        await intruder.subscribe("op", SESSION_UPDATES, {"id": str(ours)})
        frame = await intruder.frame()
        assert frame.kind == "error"
        assert frame.payload[0]["extensions"]["code"] == "NOT_FOUND"
        assert mux.group_count() == 2

        before = mux.executions
        await book(server.http_url, studio, ours, studio.customer_id)
        assert {e["session"]["id"] for e in await next_events(our_sockets)} == {str(ours)}
        await book(server.http_url, other_studio, theirs, other_studio.customer_id)
        # Their next event is their own booking: nothing of ours came in between.
        theirs_seen = await next_events(their_sockets)
        assert {e["session"]["id"] for e in theirs_seen} == {str(theirs)}
        assert {e["booking"]["customer"]["lastName"] for e in theirs_seen} == {"Lovelace"}
        assert mux.executions - before == 2
        await close_all([*our_sockets, *their_sockets, intruder])


async def test_a_revoked_token_closes_only_its_socket_and_the_group_goes_on(
    live_server: ServerFactory, studio: Studio, database: Database
) -> None:
    session_id = await studio.session()
    async with database.transaction() as db:
        owner = (
            await db.scalars(select(StaffUser).where(StaffUser.email == studio.owner_email))
        ).one()
        second_token = await staff_model.issue_token(db=db, user=owner, ttl_days=1)
    async with live_server() as server:
        (doomed,) = await open_subscriptions(
            server, studio.token, SESSION_UPDATES, [{"id": str(session_id)}]
        )
        (kept,) = await open_subscriptions(
            server, second_token, SESSION_UPDATES, [{"id": str(session_id)}]
        )
        mux = server.bus.multiplexer
        assert mux.group_count() == 1  # same company, role, document and variables

        async with database.transaction() as db:
            await staff_model.logout(db=db, token=studio.token)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await doomed.frame(within=10)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == UNAUTHORIZED

        before = mux.executions
        second = uuid.UUID(
            await book(
                server.http_url, studio_with(studio, second_token), session_id, studio.customer_id
            )
        )
        (event,) = await next_events([kept])
        assert event["booking"]["id"] == str(second)
        assert mux.executions - before == 1
        await kept.close()


def studio_with(studio: Studio, token: str) -> Studio:
    """The same studio, acting with another token."""
    return Studio(**{**studio.__dict__, "token": token})
