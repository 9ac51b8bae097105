"""A database that is away or overloaded is a coded, retryable refusal — HTTP 503 with
Retry-After before GraphQL runs (the token lookup, the CSV report), SERVICE_UNAVAILABLE in
a GraphQL error during execution — never a bare 500, on SQLite and PostgreSQL."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from classbridge.graph.app import create_app
from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.aggregators.partner import PARTNER_PATH, make_partner
from tests.services import pg_url, require_postgres
from tests.studio import Studio

PARTNER_QUERY = {"query": "{ sessions(first: 1) { edges { node { id } } } }"}
LOGIN = {"query": 'mutation { login(email: "a@b.example", password: "x") { token } }'}


@asynccontextmanager
async def _client(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=str(database.url)), database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://classbridge.test"
    ) as client:
        yield client
    await app.state.bus.close()


def _refused_503(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"].isdigit()
    (error,) = response.json()["errors"]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE"}


def _unreachable(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":  # a directory that does not exist: the file cannot be opened
        return f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}"
    require_postgres()
    return pg_url("cb_no_such_database")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_an_unreachable_database_is_a_coded_503_or_error_not_a_500(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    database = Database(_unreachable(backend, tmp_path))
    try:
        async with _client(database) as client:
            bearer = {"Authorization": "Bearer cbp_whatever"}
            _refused_503(await client.post(PARTNER_PATH, json=PARTNER_QUERY, headers=bearer))
            staff = {"Authorization": "Bearer cbs_whatever"}
            _refused_503(
                await client.post("/graphql", json={"query": "{ me { id } }"}, headers=staff)
            )
            _refused_503(
                await client.get(
                    "/reports/aggregator-visits.csv?aggregator=EGYM_WELLPASS&from=2026-01-01&to=2026-01-31",
                    headers=staff,
                )
            )
            # No token: the resolver is the first to reach the database.
            login = await client.post("/graphql", json=LOGIN)
            assert login.status_code == 200
            (error,) = login.json()["errors"]
            assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        await database.dispose()
    assert "Traceback" not in caplog.text


async def test_a_request_that_finds_no_free_connection_is_told_to_retry(
    database_url: str, studio: Studio, caplog: pytest.LogCaptureFixture
) -> None:
    """The pool is exhausted (here: one connection, held): the request waits the pool's
    timeout, then is refused with 503 instead of a 500; once a connection is free the
    same request succeeds."""
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    bearer = {"Authorization": f"Bearer {partner.token}"}
    database = Database(database_url, pool_size=1, pool_timeout=0.2)
    try:
        async with _client(database) as client:
            async with database.read() as holder:
                await holder.execute(sa.text("SELECT 1"))  # the pool's one connection
                _refused_503(await client.post(PARTNER_PATH, json=PARTNER_QUERY, headers=bearer))
            answered = await client.post(PARTNER_PATH, json=PARTNER_QUERY, headers=bearer)
            assert answered.status_code == 200 and "errors" not in answered.json()
    finally:
        await database.dispose()
    assert "Traceback" not in caplog.text
