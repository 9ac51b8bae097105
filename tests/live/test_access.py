"""Who may listen: a valid staff token (connection_init or upgrade header), own company only;
and the venue day board."""

import uuid
from datetime import date, timedelta

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from classbridge.models import staff as staff_model
from classbridge.models.db import Database
from tests.live.conftest import ServerFactory
from tests.live.test_sign_in_events import book
from tests.live.wsclient import (
    LEGACY_WS,
    PROTOCOLS,
    SESSION_UPDATES,
    TRANSPORT_WS,
    VENUE_UPDATES,
    GqlSocket,
)
from tests.studio import Studio


async def assert_refused(socket: GqlSocket, answer: dict[str, object]) -> None:
    """graphql-transport-ws closes with 4403; graphql-ws sends connection_error, then closes."""
    if socket.protocol == LEGACY_WS:
        assert answer["type"] == "connection_error", answer
        assert answer["payload"]["extensions"]["code"] == "UNAUTHENTICATED"  # type: ignore[index]
    with pytest.raises(ConnectionClosed) as closed:
        await socket.receive()
    if socket.protocol == TRANSPORT_WS:
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_socket_without_valid_token_is_refused(
    live_server: ServerFactory, studio: Studio, protocol: str
) -> None:
    async with live_server() as server:
        for payload in (None, {}, {"Authorization": "Bearer not-a-token"}, {"Authorization": ""}):
            socket = await GqlSocket.open(server.ws_url, protocol)
            if protocol == TRANSPORT_WS:
                await socket.send(
                    {
                        "type": "connection_init",
                        **({"payload": payload} if payload is not None else {}),
                    }
                )
                with pytest.raises(ConnectionClosed) as closed:
                    await socket.receive()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
            else:
                await assert_refused(socket, await socket.init(payload))

        # A bad header is not rescued by nothing in connection_init.
        socket = await GqlSocket.open(server.ws_url, protocol, header_token="forged")
        if protocol == TRANSPORT_WS:
            await socket.send({"type": "connection_init"})
            with pytest.raises(ConnectionClosed):
                await socket.receive()
        else:
            await assert_refused(socket, await socket.init())

        # Subscribing without connection_init is refused too (4401 Unauthorized).
        socket = await GqlSocket.open(server.ws_url, protocol)
        await socket.subscribe("1", SESSION_UPDATES, {"id": str(uuid.uuid4())})
        with pytest.raises(ConnectionClosed) as closed:
            await socket.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("key", ["Authorization", "authorization", "AUTHORIZATION", "header"])
async def test_token_in_connection_init_any_case_or_in_header(
    live_server: ServerFactory, studio: Studio, protocol: str, key: str
) -> None:
    session_id = await studio.session()
    async with live_server() as server:
        if key == "header":
            socket = await GqlSocket.open(server.ws_url, protocol, header_token=studio.token)
            ack = await socket.init()
        else:
            socket = await GqlSocket.open(server.ws_url, protocol)
            ack = await socket.init({key: f"Bearer {studio.token}"})
        assert ack["type"] == "connection_ack", ack
        await socket.subscribe("s1", SESSION_UPDATES, {"id": str(session_id)})
        assert (await socket.event())["signInUpdates"]["change"] == "SNAPSHOT"
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_other_company_is_refused_like_an_unknown_id(
    live_server: ServerFactory, studio: Studio, other_studio: Studio, protocol: str
) -> None:
    theirs = await other_studio.session()
    async with live_server() as server:
        socket = await GqlSocket.open(server.ws_url, protocol)
        await socket.init({"Authorization": f"Bearer {studio.token}"})
        answers = []
        for n, (query, variables) in enumerate(
            [
                (SESSION_UPDATES, {"id": str(theirs)}),
                (SESSION_UPDATES, {"id": str(uuid.uuid4())}),
                (VENUE_UPDATES, {"venue": str(other_studio.venue_id), "date": "2030-01-01"}),
                (VENUE_UPDATES, {"venue": str(uuid.uuid4()), "date": "2030-01-01"}),
            ]
        ):
            await socket.subscribe(str(n), query, variables)
            frame = await socket.frame()
            assert (frame.kind, frame.id) == ("error", str(n)), frame
            errors = frame.payload if isinstance(frame.payload, list) else [frame.payload]
            answers.append((errors[0]["extensions"]["code"], errors[0]["message"]))
        assert answers[0] == answers[1] == ("NOT_FOUND", "session not found")
        assert answers[2] == answers[3] == ("NOT_FOUND", "venue not found")
        await socket.close()


async def test_revoked_token_cannot_start_new_subscriptions(
    live_server: ServerFactory, studio: Studio, database: Database
) -> None:
    session_id = await studio.session()
    async with live_server() as server:
        socket = await GqlSocket.open(server.ws_url, TRANSPORT_WS)
        await socket.init({"Authorization": f"Bearer {studio.token}"})
        async with database.transaction() as db:
            await staff_model.logout(db=db, token=studio.token)
        await socket.subscribe("1", SESSION_UPDATES, {"id": str(session_id)})
        frame = await socket.frame()
        assert frame.kind == "error"
        assert frame.payload[0]["extensions"]["code"] == "UNAUTHENTICATED"
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_venue_day_board(live_server: ServerFactory, studio: Studio, protocol: str) -> None:
    morning = await studio.session(days_ahead=2, hour=9)
    evening = await studio.session(days_ahead=2, hour=19)
    next_day = await studio.session(days_ahead=3, hour=9)
    bob = await studio.customer("Bob", "Brown")
    async with live_server() as server:
        await book(server.http_url, studio, evening, bob)
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            local = (
                await client.post(
                    "/graphql",
                    json={
                        "query": "query($id: ID!) { session(id: $id) { localStart } }",
                        "variables": {"id": str(morning)},
                    },
                    headers=studio.headers(),
                )
            ).json()["data"]["session"]["localStart"]
        socket = await GqlSocket.open(server.ws_url, protocol)
        await socket.init({"Authorization": f"Bearer {studio.token}"})
        await socket.subscribe(
            "board", VENUE_UPDATES, {"venue": str(studio.venue_id), "date": local[:10]}
        )
        snapshot = (await socket.event())["venueSignInUpdates"]
        assert snapshot["change"] == "SNAPSHOT"
        assert snapshot["session"] is None
        assert [s["session"]["id"] for s in snapshot["sessions"]] == [str(morning), str(evening)]
        assert [len(s["bookings"]) for s in snapshot["sessions"]] == [0, 1]

        await book(server.http_url, studio, next_day, studio.customer_id)  # another day
        first = await book(server.http_url, studio, morning, studio.customer_id)
        second = await book(server.http_url, studio, evening, studio.customer_id)
        events = [(await socket.event())["venueSignInUpdates"] for _ in range(2)]
        assert [(e["session"]["id"], e["booking"]["id"]) for e in events] == [
            (str(morning), first),
            (str(evening), second),
        ]
        assert [e["session"]["sequence"] for e in events] == [1, 2]
        assert events[1]["session"]["counts"]["booked"] == 2
        await socket.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_queries_and_mutations_belong_on_http(
    live_server: ServerFactory, studio: Studio, protocol: str
) -> None:
    async with live_server() as server:
        socket = await GqlSocket.open(server.ws_url, protocol)
        await socket.init({"Authorization": f"Bearer {studio.token}"})
        await socket.subscribe("q", "{ me { id } }", {})
        frame = await socket.frame()
        assert frame.kind == "error", frame
        # graphql-transport-ws sends a list of errors, the legacy protocol a single one.
        errors = frame.payload if isinstance(frame.payload, list) else [frame.payload]
        assert errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION"
        assert "HTTP" in errors[0]["message"]
        await socket.close()


async def test_session_moved_to_another_day_leaves_one_board_and_joins_the_other(
    live_server: ServerFactory, studio: Studio
) -> None:
    session_id = await studio.session(days_ahead=2, hour=9)
    query = """query($id: ID!) { session(id: $id) { localStart } }"""
    board = """subscription($venue: ID!, $date: Date!) {
      venueSignInUpdates(venueId: $venue, date: $date) {
        change movedFromDate session { id sequence localDate } sessions { session { id } } } }"""
    # A long gap wait: the joining board must not hold the moved session back.
    async with live_server(live_gap_wait_seconds=60) as server:
        await book(server.http_url, studio, session_id, studio.customer_id)  # sequence 1
        async with httpx.AsyncClient(base_url=server.http_url) as client:
            body = await client.post(
                "/graphql",
                json={"query": query, "variables": {"id": str(session_id)}},
                headers=studio.headers(),
            )
        day = body.json()["data"]["session"]["localStart"][:10]
        next_day = str(date.fromisoformat(day) + timedelta(days=1))
        boards = {}
        for when in (day, next_day):
            socket = await GqlSocket.open(server.ws_url, TRANSPORT_WS)
            await socket.init({"Authorization": f"Bearer {studio.token}"})
            await socket.subscribe("b", board, {"venue": str(studio.venue_id), "date": when})
            boards[when] = socket
        first = (await boards[day].event())["venueSignInUpdates"]
        assert [s["session"]["id"] for s in first["sessions"]] == [str(session_id)]
        assert (await boards[next_day].event())["venueSignInUpdates"]["sessions"] == []

        async with httpx.AsyncClient(base_url=server.http_url) as client:
            moved = await client.post(
                "/graphql",
                json={
                    "query": "mutation($id: ID!, $start: LocalDateTime!) { editSession(id: $id, "
                    "input: {start: $start}) { id } }",
                    "variables": {"id": str(session_id), "start": f"{next_day}T10:00"},
                },
                headers=studio.headers(),
            )
        assert not moved.json().get("errors"), moved.json()
        for when in (day, next_day):
            event = (await boards[when].event())["venueSignInUpdates"]
            assert event["change"] == "SESSION_UPDATED"
            assert event["movedFromDate"] == day
            assert event["session"]["localDate"] == next_day
            assert event["session"]["sequence"] == 2
            await boards[when].close()
