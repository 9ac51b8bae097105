"""Live-sign-in fixtures: the app served by uvicorn on a real socket, in this process (so a
test can count the bus's tasks and subscribers), with the in-process or the Redis bus."""

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

import pytest
import uvicorn
from redis.asyncio import Redis
from starlette.applications import Starlette

from classbridge.graph.app import create_app
from classbridge.live.bus import EventBus
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.services import ADMIN_REDIS_URL, REDIS_URL, require_redis


@dataclass
class LiveServer:
    app: Starlette
    server: uvicorn.Server
    host: str

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}/graphql"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}"

    @property
    def bus(self) -> EventBus:  # type: ignore[type-arg]
        return self.app.state.bus  # type: ignore[no-any-return]


async def wait_for(predicate: Callable[[], object], *, within: float = 10.0) -> None:
    """Poll a condition with a deadline (for state that has no event to wait on, such as
    another process's Redis channels); `predicate` may return an awaitable."""
    async with asyncio.timeout(within):
        while True:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.02)


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[LiveServer]:
    """uvicorn on 127.0.0.1 and a port the OS picks; shut down (lifespan too) on exit."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started or task.done())
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield LiveServer(app=app, server=server, host=f"127.0.0.1:{port}")
    finally:
        server.should_exit = True
        await task


ServerFactory = Callable[..., AbstractAsyncContextManager[LiveServer]]


@pytest.fixture
def redis_prefix(redis_namespace: str) -> str:
    """A channel prefix of this test alone (others use the same Redis concurrently)."""
    return redis_namespace


@pytest.fixture
async def redis(redis_prefix: str) -> AsyncIterator[Redis]:
    """The test's own client, to watch channels and cut connections (CLIENT KILL needs more
    than the run's Redis user may do); the app under test gets `REDIS_URL`."""
    require_redis()
    client = Redis.from_url(ADMIN_REDIS_URL)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def live_server(settings: Settings, database: Database, redis_prefix: str) -> ServerFactory:
    """`async with live_server(redis=False, **settings) as server:`"""

    @asynccontextmanager
    async def start(*, redis: bool = False, **overrides: object) -> AsyncIterator[LiveServer]:
        # With Redis the app also enqueues push jobs and counts partner requests there.
        values: dict[str, object] = {
            "live_channel_prefix": redis_prefix,
            "queue_name": redis_prefix,
            "rate_limit_key_prefix": redis_prefix,
            **overrides,
        }
        if redis:
            require_redis()
            values["redis_url"] = REDIS_URL
        app = create_app(settings.model_copy(update=values), database)
        async with serve(app) as server:
            yield server

    return start
