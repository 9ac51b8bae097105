"""Fixtures: a fresh, migrated database per test on SQLite and on PostgreSQL; a Redis
namespace per test; the run's Redis lane (tests/services.py) opened and checked.

The suite runs in parallel (pytest-xdist, `bash scripts/test.sh` passes `-n auto`): each
worker migrates its own templates, and every test gets its own database, Redis namespace and
ports, so workers (and other runs on the same services) never meet.
"""

import asyncio
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
from argon2 import PasswordHasher, profiles
from redis.asyncio import Redis
from sqlalchemy import event

from classbridge.graph.app import create_app
from classbridge.migrate import upgrade
from classbridge.models import passwords
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.databases import PgDatabases, SharedStatements, pg_admin
from tests.services import (
    ADMIN_REDIS_URL,
    IN_CI,
    REDIS_ACL,
    REDIS_PREFIX,
    REDIS_URL,
    REDIS_USER,
    new_redis_namespace,
    pg_url,
    port_open,
    redis_acl_rules,
    redis_address,
    require_postgres,
    require_redis,
)
from tests.studio import Studio, make_studio

BACKENDS = ["sqlite", "postgres"]
_TEMPLATE_PG = f"cb_template_{uuid.uuid4().hex[:8]}"

# Hundreds of staff accounts are made in this process: argon2's cheapest parameters here,
# its defaults (64 MiB, 3 passes) in every `classbridge` process the tests start.
passwords.use_hasher(PasswordHasher.from_parameters(profiles.CHEAPEST))

# Each test's engine compiles a statement only if no earlier test's engine did.
SharedStatements().install()


def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run blocking set-up (alembic runs its own event loop) off the test's loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn, *args).result()


@pytest.fixture(autouse=True)
async def aiosqlite_threads_finish() -> AsyncIterator[None]:
    """Before the test's event loop closes, wait for the aiosqlite threads the test started.

    aiosqlite's worker thread hands each result to the loop of the call; a connection that
    failed to open (a missing SQLite file) queues its own stop and nobody awaits it. When
    the loop closed first, the thread raised "Event loop is closed", and pytest failed
    whichever test ran next (omnilib/aiosqlite#241). Closed connections' threads end within
    milliseconds; one still running after a second belongs to a connection left open.
    """
    before = set(threading.enumerate())
    yield
    started = [
        t
        for t in threading.enumerate()
        if t not in before and t.name.endswith("(_connection_worker_thread)")
    ]
    deadline = time.monotonic() + 1.0
    for thread in started:
        await asyncio.to_thread(thread.join, max(0.0, deadline - time.monotonic()))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test copies it instead of migrating anew."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _in_thread(upgrade, f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    """This worker's migrated PostgreSQL template and the databases cloned from it."""
    require_postgres()
    _in_thread(asyncio.run, pg_admin(f'CREATE DATABASE "{_TEMPLATE_PG}"'))
    databases = PgDatabases(_TEMPLATE_PG)
    try:
        _in_thread(upgrade, pg_url(_TEMPLATE_PG))
        yield databases
    finally:
        _in_thread(asyncio.run, databases.drop_all())


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
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    name = await databases.take()
    try:
        yield pg_url(name)
    finally:
        await databases.give_back(name)


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


@pytest.fixture
async def redis_namespace() -> AsyncIterator[str]:
    """A prefix for this test's arq queue names and live channels; at the end every key
    holding it is deleted (arq names its keys after the queue: arq:job:<queue>:…)."""
    require_redis()
    namespace = new_redis_namespace()
    yield namespace
    client = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"*{namespace}*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    """The run's first process opens its Redis lane: the ACL user the code under test uses."""
    if _is_worker(config) or not REDIS_ACL or not port_open(*redis_address()):
        return
    with redis.Redis.from_url(ADMIN_REDIS_URL) as admin:
        try:
            admin.execute_command("ACL", "SETUSER", REDIS_USER, *redis_acl_rules())
        except redis.ResponseError as exc:
            raise pytest.UsageError(
                f"cannot create the tests' Redis user at CLASSBRIDGE_TEST_REDIS_URL ({exc}); "
                "use a Redis >= 6.2 where ACL SETUSER is allowed, or set "
                "CLASSBRIDGE_TEST_REDIS_ACL=0"
            ) from exc
    config.stash[_LANE_OPEN] = True


_LANE_OPEN = pytest.StashKey[bool]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After all workers: under CI=true a skipped test is a failure (nothing may pass by
    skipping); and no test may leave a Redis key behind in the run's lane."""
    if _is_worker(session.config):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def fail(line: str) -> None:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write("\n")  # after the progress dots, which xdist leaves unterminated
            reporter.write_line(line, red=True)

    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped:
        fail(f"CI=true: {skipped} test(s) skipped; that counts as failure")
    left = _close_redis_lane(session.config)
    if left:
        fail(f"the tests left {len(left)} Redis key(s) under {REDIS_PREFIX}: {sorted(left)[:10]}")


def _close_redis_lane(config: pytest.Config) -> list[str]:
    """Delete what is left under the run's prefix (returned) and the run's ACL user."""
    if not port_open(*redis_address()):
        return []
    with redis.Redis.from_url(ADMIN_REDIS_URL, decode_responses=True) as admin:
        left = list(admin.scan_iter(match=f"*{REDIS_PREFIX}*", count=1000))
        if left:
            admin.delete(*left)
        if config.stash.get(_LANE_OPEN, False):
            admin.acl_deluser(REDIS_USER)
    return left


__all__ = ["QueryCounter", "port_open"]
