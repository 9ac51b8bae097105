"""WebSocket hygiene on both protocols: connection_init within 10 seconds; a token that is
revoked or expires ends the socket's subscriptions within 5 seconds (4401); a malformed
message closes the socket (4400) without an exception in the server."""

import dataclasses
import json
import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from starlette.routing import WebSocketRoute
from websockets.exceptions import ConnectionClosed

from classbridge.graph.app import StaffGraphQL
from classbridge.models import staff as staff_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.tokens import token_digest
from tests.live.conftest import LiveServer, ServerFactory
from tests.live.test_sign_in_events import book, subscribe
from tests.live.wsclient import LEGACY_WS, PROTOCOLS, SESSION_UPDATES, VENUE_UPDATES, GqlSocket
from tests.studio import Studio, gql


def staff_view(server: LiveServer) -> StaffGraphQL:
    (route,) = [
        r for r in server.app.routes if isinstance(r, WebSocketRoute) and r.path == "/graphql"
    ]
    view = route.app.app  # inside its BodyLimit
    assert isinstance(view, StaffGraphQL)
    return view


async def closed_with(socket: GqlSocket, within: float) -> int | None:
    """The close code the server sends, waiting at most `within` seconds."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await socket.receive(within=within)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_the_documented_connection_init_timeout_is_ten_seconds(
    live_server: ServerFactory,
) -> None:
    async with live_server() as server:
        assert staff_view(server).connection_init_wait_timeout == timedelta(seconds=10)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_socket_that_never_initialises_is_closed(
    live_server: ServerFactory, protocol: str
) -> None:
    async with live_server() as server:
        staff_view(server).connection_init_wait_timeout = timedelta(seconds=0.3)
        socket = await GqlSocket.open(server.ws_url, protocol)
        assert await closed_with(socket, within=5) == 4408


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("ending", ["logout", "expiry"])
async def test_a_token_that_ends_ends_its_subscriptions_within_five_seconds(
    live_server: ServerFactory, studio: Studio, database: Database, protocol: str, ending: str
) -> None:
    session_id = await studio.session()
    async with database.transaction() as db:
        owner = await db.get(staff_model.StaffUser, (await _actor(database, studio)).user_id)
        assert owner is not None
        front_desk_token = await staff_model.issue_token(db=db, user=owner, ttl_days=1)
    front_desk = dataclasses.replace(studio, token=front_desk_token)
    async with live_server() as server:
        device = await subscribe(server.ws_url, protocol, front_desk, session_id)
        other = await subscribe(server.ws_url, protocol, studio, session_id)
        assert (await device.event())["signInUpdates"]["change"] == "SNAPSHOT"
        assert (await other.event())["signInUpdates"]["change"] == "SNAPSHOT"

        if ending == "logout":
            async with _http(server) as http:
                body = await gql(http, "mutation { logout }", token=front_desk_token)
                assert body["data"] == {"logout": True}
        else:
            async with database.transaction() as db:
                await db.execute(
                    update(staff_model.StaffToken)
                    .where(staff_model.StaffToken.token_digest == token_digest(front_desk_token))  # type: ignore[arg-type]
                    .values(expires_at=utcnow())
                )

        # graphql-ws ends each operation ("complete") before the socket closes.
        assert await closed_with(device, within=5) == 4401

        # The other device, with its own token, goes on receiving.
        booking = await book(server.http_url, studio, session_id, studio.customer_id)
        assert (await other.event())["signInUpdates"]["booking"]["id"] == booking
        assert staff_view(server).token_watch.watching() == 1
        await other.close()


async def _actor(database: Database, studio: Studio) -> staff_model.StaffActor:
    async with database.read() as db:
        actor = await staff_model.authenticate(db=db, token=studio.token)
    assert actor is not None
    return actor


def _http(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.http_url)


# Written with graphql-transport-ws's names; graphql-ws calls them start and stop.
MALFORMED = [
    [1, 2],
    "connection_init",
    {"type": 5},
    {"payload": {}},
    {"id": "1", "type": "subscribe"},
    {"id": "1", "type": "subscribe", "payload": "x"},
    {"id": ["x"], "type": "subscribe", "payload": {"query": "{ __typename }"}},
    {"id": "1", "type": "subscribe", "payload": {"query": 5}},
    {"id": "1", "type": "subscribe", "payload": {"query": "subscription { x }", "variables": 3}},
    {"id": 1, "type": "complete"},
    {"type": "complete"},
]


def in_protocol(message: object, protocol: str) -> object:
    if protocol == LEGACY_WS and isinstance(message, dict) and "type" in message:
        names = {"subscribe": "start", "complete": "stop"}
        return {**message, "type": names.get(message["type"], message["type"])}
    return message


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_malformed_messages_close_the_socket_without_a_server_error(
    live_server: ServerFactory,
    studio: Studio,
    protocol: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    async with live_server() as server:
        for message in MALFORMED:
            socket = await GqlSocket.open(server.ws_url, protocol)
            assert (await socket.init({"Authorization": f"Bearer {studio.token}"}))[
                "type"
            ] == "connection_ack"
            await socket.ws.send(json.dumps(in_protocol(message, protocol)))
            code = await closed_with(socket, within=5)
            assert code == 4400, (message, code)
        # The server still serves a good subscription afterwards.
        socket = await GqlSocket.open(server.ws_url, protocol)
        await socket.init({"Authorization": f"Bearer {studio.token}"})
        await socket.subscribe("ok", SESSION_UPDATES, {"id": str(await studio.session())})
        assert (await socket.event())["signInUpdates"]["change"] == "SNAPSHOT"
        await socket.close()
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert problems == [], [r.getMessage() for r in problems]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_day_board_at_the_ends_of_the_calendar_is_refused_with_a_code(
    live_server: ServerFactory, studio: Studio, protocol: str
) -> None:
    async with live_server() as server:
        socket = await GqlSocket.open(server.ws_url, protocol)
        await socket.init({"Authorization": f"Bearer {studio.token}"})
        for day in ("9999-12-31", "0001-01-01"):
            await socket.subscribe(day, VENUE_UPDATES, {"venue": str(studio.venue_id), "date": day})
            frame = await socket.frame()
            if frame.kind == "error":  # graphql-ws sends one error, graphql-transport-ws a list
                errors = frame.payload if isinstance(frame.payload, list) else [frame.payload]
            else:
                errors = frame.payload["errors"]
            assert [e["extensions"]["code"] for e in errors] == ["VALIDATION"], frame
        await socket.close()
