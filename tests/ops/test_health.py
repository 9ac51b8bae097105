"""/healthz is liveness (the process answers); /readyz is readiness (database and, when
configured, Redis answer), with real databases and a real Redis, up and down."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from classbridge.graph.app import create_app
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.jobs.processes import ClosedPort
from tests.services import REDIS_URL, pg_url, require_redis


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    database = Database(settings.database_url)
    app = create_app(settings, database)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://classbridge.test"
        ) as client:
            yield client
    finally:
        await app.state.bus.close()
        await database.dispose()


def _unreachable_database(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":  # a directory that does not exist: the file cannot be opened
        return f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}"
    return pg_url("cb_no_such_database")


async def test_ready_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_ready_with_redis_when_both_answer(settings: Settings) -> None:
    require_redis()
    async with _client(settings.model_copy(update={"redis_url": REDIS_URL})) as client:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


async def test_not_ready_without_redis_but_alive(settings: Settings) -> None:
    closed = ClosedPort()
    down = f"redis://127.0.0.1:{closed.port}/0"  # nothing listens there
    with closed:
        async with _client(settings.model_copy(update={"redis_url": down})) as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json() == {
                "status": "unavailable",
                "checks": {"database": "ok", "redis": "unavailable"},
            }
            assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_not_ready_without_the_database_but_alive(backend: str, tmp_path: Path) -> None:
    if backend == "postgres":
        from tests.services import require_postgres

        require_postgres()
    settings = Settings(database_url=_unreachable_database(backend, tmp_path))
    async with _client(settings) as client:
        response = await client.get("/readyz")
        assert response.status_code == 503
        # Which check failed, and nothing more: the reason is in the server's log.
        assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}
        assert (await client.get("/healthz")).status_code == 200
