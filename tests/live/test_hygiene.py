"""Nothing is left behind: after a disconnect, a stopped operation or a server shutdown the
bus has no tasks and no subscribers, and Redis has no channels of ours. A client that does
not read is disconnected (close 4008, SLOW_CONSUMER) without holding up the others."""

import asyncio
import socket as sockets
from contextlib import suppress

import pytest
from redis.asyncio import Redis
from websockets.exceptions import ConnectionClosed

from classbridge.graph.staff.live import SLOW_CONSUMER_CLOSE
from classbridge.live.bus import READER_TASK_NAME
from classbridge.live.payload import SignInMessage, build_messages, encode
from classbridge.models.db import Database
from classbridge.models.sign_in_events import SignInChange, SignInEvent
from tests.live.conftest import LiveServer, ServerFactory, wait_for
from tests.live.test_sign_in_events import book, subscribe
from tests.live.wsclient import PROTOCOLS, SESSION_UPDATES, TRANSPORT_WS, VENUE_UPDATES, GqlSocket
from tests.studio import Studio


def reader_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == READER_TASK_NAME and not t.done()]


async def our_channels(redis: Redis, prefix: str) -> list[bytes]:
    return await redis.pubsub_channels(prefix + ":*")  # type: ignore[no-any-return]


async def channel_count(redis: Redis, prefix: str, count: int) -> bool:
    return len(await our_channels(redis, prefix)) == count


async def no_channels(redis: Redis, prefix: str) -> bool:
    return await channel_count(redis, prefix, 0)


async def wait_until_clean(server: LiveServer, redis: Redis | None, prefix: str) -> None:
    await wait_for(
        lambda: (
            server.bus.subscriber_count() == 0
            and not server.bus.tasks()
            and server.bus.multiplexer.group_count() == 0
        )  # render groups leave with subscribers
    )
    if redis is not None:
        await wait_for(lambda: no_channels(redis, prefix))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_disconnect_and_stop_leave_nothing_behind(
    live_server: ServerFactory,
    studio: Studio,
    redis: Redis,
    redis_prefix: str,
    protocol: str,
) -> None:
    session_id = await studio.session()
    async with live_server(redis=True) as server:
        first = await subscribe(server.ws_url, protocol, studio, session_id)
        await first.event()
        second = await GqlSocket.open(server.ws_url, protocol)
        await second.init({"Authorization": f"Bearer {studio.token}"})
        await second.subscribe("a", SESSION_UPDATES, {"id": str(session_id)})
        await second.subscribe(
            "b", VENUE_UPDATES, {"venue": str(studio.venue_id), "date": "2030-01-01"}
        )
        await second.event()
        await second.event()

        assert server.bus.subscriber_count() == 3
        assert len(server.bus.tasks()) == 1 and len(reader_tasks()) == 1
        channel = f"{redis_prefix}:session:{session_id}".encode()
        assert dict(await redis.pubsub_numsub(channel)) == {channel: 1}  # one per process
        assert len(await our_channels(redis, redis_prefix)) == 2

        # Stopping one operation releases its subscription, the socket stays.
        await second.stop("b")
        await wait_for(lambda: server.bus.subscriber_count() == 2)
        await wait_for(lambda: channel_count(redis, redis_prefix, 1))

        # Events still flow to the rest.
        booking = await book(server.http_url, studio, session_id, studio.customer_id)
        assert (await first.event())["signInUpdates"]["booking"]["id"] == booking

        # A client that vanishes without a goodbye (TCP closed) is cleaned up too.
        first.ws.transport.abort()  # type: ignore[attr-defined]
        await second.close()
        await wait_until_clean(server, redis, redis_prefix)
        assert reader_tasks() == []


async def test_server_shutdown_leaves_nothing_behind(
    live_server: ServerFactory, studio: Studio, redis: Redis, redis_prefix: str
) -> None:
    session_id = await studio.session()
    async with live_server(redis=True) as server:
        socket = await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id)
        await socket.event()
        assert server.bus.subscriber_count() == 1
        bus = server.bus
    # The server is down (lifespan shut down) while the client was still subscribed.
    with pytest.raises(ConnectionClosed):
        while True:
            await socket.receive()
    assert bus.subscriber_count() == 0
    assert bus.tasks() == [] and reader_tasks() == []
    await wait_for(lambda: no_channels(redis, redis_prefix))


async def test_in_process_bus_leaves_nothing_behind(
    live_server: ServerFactory, studio: Studio
) -> None:
    session_id = await studio.session()
    async with live_server() as server:
        sockets_ = [
            await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id) for _ in range(3)
        ]
        for s in sockets_:
            await s.event()
        assert server.bus.subscriber_count() == 3
        for s in sockets_:
            await s.close()
        await wait_until_clean(server, None, "")


def _slow_socket() -> sockets.socket:
    """A client socket with a tiny receive buffer, so a client that does not read
    quickly pushes back on the server."""
    sock = sockets.socket(sockets.AF_INET, sockets.SOCK_STREAM)
    sock.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 4096)
    return sock


async def test_slow_consumer_is_disconnected_without_stalling_others(
    live_server: ServerFactory,
    studio: Studio,
    database: Database,
    redis: Redis,
    redis_prefix: str,
) -> None:
    session_id = await studio.session()
    async with live_server(redis=True, live_queue_size=4) as server:
        host, port = server.host.split(":")
        raw = _slow_socket()
        raw.connect((host, int(port)))
        raw.setblocking(False)
        # No compression: the padded events must really take room in the buffers.
        slow = await GqlSocket.open(
            server.ws_url, TRANSPORT_WS, sock=raw, max_queue=1, compression=None
        )
        await slow.init({"Authorization": f"Bearer {studio.token}"})
        await slow.subscribe("slow", SESSION_UPDATES, {"id": str(session_id)})
        await slow.event()
        fast = await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id)
        await fast.event()
        assert server.bus.subscriber_count() == 2

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

        def big(n: int) -> SignInMessage:
            state = template.session.model_copy(
                update={"sequence": n, "teacher": "x" * 64_000}  # 64 kB per event
            )
            return template.model_copy(update={"session": state})

        channel = f"{redis_prefix}:session:{session_id}"
        received: list[int] = []
        published = 0

        async def read_fast() -> None:  # the healthy dashboard reads all the while
            while True:
                event = await fast.event()
                received.append(event["signInUpdates"]["session"]["sequence"])

        reader = asyncio.create_task(read_fast())
        # 64 kB events until the slow one is dropped: its socket buffers, however large the
        # kernel makes them, fill up and then its queue of 4 (bounded, at most 2,000 events).
        while published < 2000:
            published += 1
            await redis.publish(channel, encode(big(published)))
            if published % 50 == 0 and server.bus.subscriber_count() == 1:
                break
        await wait_for(lambda: len(received) >= published or reader.done(), within=30)
        reader.cancel()
        with suppress(asyncio.CancelledError):
            await reader  # re-raises what went wrong in it, if anything
        assert received == list(range(1, published + 1))  # never stalled, all in order

        # The slow one was dropped from the bus (its queue freed) ...
        await wait_for(lambda: server.bus.subscriber_count() == 1)
        # ... and disconnected with a clear close code (not left holding memory): once it
        # reads again it gets what was already on its way, then the close (4008).
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                assert (await slow.frame(within=30)).kind == "next"
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == SLOW_CONSUMER_CLOSE
        assert closed.value.rcvd.reason.startswith("SLOW_CONSUMER")
        await slow.close()
        await fast.close()
        await wait_until_clean(server, redis, redis_prefix)


async def test_events_travel_through_redis(live_server: ServerFactory, studio: Studio) -> None:
    session_id = await studio.session()
    async with live_server(redis=True) as server:
        socket = await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id)
        await socket.event()
        booking = await book(server.http_url, studio, session_id, studio.customer_id)
        event = (await socket.event())["signInUpdates"]
        assert (event["change"], event["booking"]["id"]) == ("BOOKED", booking)
        await socket.close()


async def test_lost_redis_connection_tells_subscribers_and_recovers(
    live_server: ServerFactory, studio: Studio, redis: Redis, redis_prefix: str
) -> None:
    """Events published while the pub/sub connection is down would be lost, so every
    subscriber is told LIVE_UNAVAILABLE (and resubscribes for a fresh snapshot)."""
    session_id = await studio.session()
    async with live_server(redis=True) as server:
        socket = await subscribe(server.ws_url, TRANSPORT_WS, studio, session_id)
        await socket.event()
        connection = server.bus._pubsub.connection  # type: ignore[attr-defined]
        host, port = connection._writer.get_extra_info("sockname")[:2]
        # Kill exactly our pub/sub connection (others share this Redis).
        assert await redis.client_kill(f"{host}:{port}")

        frame = await socket.frame()
        assert frame.kind == "next"
        assert frame.payload["errors"][0]["extensions"]["code"] == "LIVE_UNAVAILABLE"
        assert (await socket.frame()).kind == "complete"
        await wait_until_clean(server, redis, redis_prefix)

        await socket.subscribe("again", SESSION_UPDATES, {"id": str(session_id)})
        assert (await socket.event())["signInUpdates"]["change"] == "SNAPSHOT"
        booking = await book(server.http_url, studio, session_id, studio.customer_id)
        assert (await socket.event())["signInUpdates"]["booking"]["id"] == booking
        await socket.close()
        await wait_until_clean(server, redis, redis_prefix)
