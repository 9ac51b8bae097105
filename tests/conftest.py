"""Fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL."""

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import event

from classbridge.graph.app import create_app
from classbridge.migrate import upgrade
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.services import IN_CI, PG_HOST, PG_PORT, PG_USER, pg_url, port_open, require_postgres
from tests.studio import Studio, make_studio

BACKENDS = ["sqlite", "postgres"]
_TEMPLATE_PG = f"cb_template_{uuid.uuid4().hex[:8]}"


def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run blocking set-up (alembic runs its own event loop) off the test's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test copies it instead of migrating anew."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    """A migrated PostgreSQL database that each test clones (CREATE DATABASE ... TEMPLATE)."""
    require_postgres()
    _in_thread(asyncio.run, _pg_admin(f'CREATE DATABASE "{_TEMPLATE_PG}"'))
    _in_thread(upgrade, pg_url(_TEMPLATE_PG))
    yield _TEMPLATE_PG
    _in_thread(asyncio.run, _pg_admin(f'DROP DATABASE IF EXISTS "{_TEMPLATE_PG}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("pg_template")
    name = f"cb_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield pg_url(name)
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://classbridge.test") as c:
        yield c


@pytest.fixture
async def studio(database: Database) -> Studio:
    return await make_studio(database, name="Yoga Loft")


@pytest.fixture
async def other_studio(database: Database) -> Studio:
    return await make_studio(database, name="Rival Gym")


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, *_args: object) -> None:
        self.count += 1


@pytest.fixture
def query_counter(database: Database) -> Iterator[QueryCounter]:
    counter = QueryCounter()
    event.listen(database.engine.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(database.engine.sync_engine, "before_cursor_execute", counter)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skipped test is a failure: nothing may pass by skipping."""
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"CI=true: {skipped} test(s) skipped; that counts as failure")


__all__ = ["QueryCounter", "port_open"]
