"""The suite's own promises: it stays in its Redis lane and cleans up after itself, a skip
fails a CI run (in parallel too), reused PostgreSQL databases come back empty, only the
test process hashes passwords with cheap parameters, and a process forked from the zygote
is a process of its own."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
import redis
from arq.connections import RedisSettings, create_pool
from redis.asyncio import Redis

from classbridge.models.passwords import hash_password
from tests import zygote
from tests.databases import PgDatabases
from tests.services import (
    ADMIN_REDIS_URL,
    IN_CI,
    PG_HOST,
    PG_PORT,
    PG_USER,
    REDIS_ACL,
    REDIS_PREFIX,
    REDIS_URL,
    require_redis,
)

ROOT = Path(__file__).resolve().parents[1]


async def test_the_code_under_test_cannot_touch_the_production_redis_names(
    redis_namespace: str,
) -> None:
    if not REDIS_ACL:
        reason = "CLASSBRIDGE_TEST_REDIS_ACL=0: the tests run without their own Redis user"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    client = Redis.from_url(REDIS_URL)
    pool = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    try:
        for attempt in (
            client.set("classbridge:push", "x"),  # the default queue (CLASSBRIDGE_QUEUE_NAME)
            client.publish("classbridge:live:session:1", "x"),  # the default live prefix
            pool.enqueue_job("push_changes"),  # arq's default queue, arq:queue
            pool.enqueue_job("push_changes", _queue_name="classbridge:push"),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                await attempt
        # Its own lane is open (classbridge's job ids start with the queue name).
        await client.set(f"{redis_namespace}:probe", "x")
        job = await pool.enqueue_job(
            "push_changes", _queue_name=redis_namespace, _job_id=f"{redis_namespace}:push:1"
        )
        assert job is not None
    finally:
        await pool.aclose()
        await client.aclose()


def test_a_skip_or_a_key_left_in_redis_fails_a_parallel_ci_run(tmp_path: Path) -> None:
    """A nested `pytest -n 1` (an xdist controller and a worker) under CI=true whose one test
    is skipped and whose worker leaves a key in the run's Redis lane: both fail the run, the
    skip's reason is shown (-rs), and the nested run's lane is gone afterwards."""
    require_redis()
    (tmp_path / "probe_plugin.py").write_text(
        "import pytest, redis\n"
        "from tests.services import REDIS_PREFIX, REDIS_URL\n"
        "def pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        "        item.add_marker(pytest.mark.skip(reason='skipped by the probe'))\n"
        "    with redis.Redis.from_url(REDIS_URL) as r:\n"
        "        r.set(REDIS_PREFIX + 'left-behind', 1)\n"
    )
    keep = ("CLASSBRIDGE_TEST_", "PYTEST_", "CLASSBRIDGE_QUEUE_NAME", "CLASSBRIDGE_LIVE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(keep)}
    env.update(
        {k: v for k, v in os.environ.items() if k.startswith("CLASSBRIDGE_TEST_")},
        CI="true",
        PYTHONPATH=str(tmp_path),
    )
    env.pop("CLASSBRIDGE_TEST_RUN_ID")  # the nested run is a run of its own
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-n", "1", "-p", "probe_plugin"),
            *("-p", "no:cacheprovider", f"--basetemp={tmp_path / 'nested'}"),
            "tests/test_schema_drift.py::test_committed_staff_schema_matches_code",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    out = result.stdout
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, out + result.stderr
    assert "CI=true: 1 test(s) skipped; that counts as failure" in out
    assert "skipped by the probe" in out  # -rs is on by default
    assert "the tests left 1 Redis key(s) under cbtest:" in out
    nested = out.split("under cbtest:", 1)[1].split(":", 1)[0]
    assert nested not in REDIS_PREFIX
    with redis.Redis.from_url(ADMIN_REDIS_URL) as admin:
        assert not list(admin.scan_iter(match=f"*cbtest:{nested}:*"))
        assert f"cbtest-{nested}" not in admin.acl_users()


async def test_a_returned_database_comes_back_empty_and_a_changed_one_is_replaced(
    pg_databases: PgDatabases,
) -> None:
    name = await pg_databases.take()
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    try:
        await conn.execute(
            "INSERT INTO company (id, name, created_at, updated_at)"
            " VALUES (gen_random_uuid(), 'x', now(), now())"
        )
        await conn.execute(
            "INSERT INTO email_message (company_id, to_address, subject, body, created_at,"
            " attempts, next_attempt_at) SELECT id, 'a@b.c', 's', 'b', now(), 0, now()"
            " FROM company"
        )
        left_open = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    finally:
        await conn.close()
    await pg_databases.give_back(name)  # with a connection still open
    assert left_open.is_closed() or not await _alive(left_open)

    again = await pg_databases.take()
    assert again == name  # reused …
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=again)
    try:
        assert await conn.fetchval("SELECT count(*) FROM company") == 0  # … empty
        await conn.execute(
            "INSERT INTO company (id, name, created_at, updated_at)"
            " VALUES (gen_random_uuid(), 'y', now(), now())"
        )
        await conn.execute(
            "INSERT INTO email_message (company_id, to_address, subject, body, created_at,"
            " attempts, next_attempt_at) SELECT id, 'a@b.c', 's', 'b', now(), 0, now()"
            " FROM company"
        )
        assert await conn.fetchval("SELECT max(id) FROM email_message") == 1  # sequences too
        await conn.execute("ALTER TABLE company ADD COLUMN motto text")
    finally:
        await conn.close()
    await pg_databases.give_back(again)
    assert again not in pg_databases.created  # a changed schema is dropped, not reused
    fresh = await pg_databases.take()
    assert fresh != again
    await pg_databases.give_back(fresh)


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError):
        return False
    finally:
        await conn.close()
    return True


def test_only_this_process_hashes_passwords_cheaply() -> None:
    """In-process tests use argon2's cheapest parameters (tests/conftest.py); a `classbridge`
    process, like every process the tests start, hashes with argon2-cffi's defaults."""
    probe = (
        "import asyncio; from classbridge.models.passwords import hash_password; "
        "print(asyncio.run(hash_password('correct horse battery')))"
    )
    in_process = asyncio.run(hash_password("correct horse battery"))
    child = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()
    assert "$m=8,t=1,p=1$" in in_process
    assert "$m=65536,t=3,p=4$" in child  # RFC 9106's low-memory profile


async def test_a_forked_classbridge_is_a_process_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/zygote.py: a `classbridge` command forked from the worker's zygote gets the
    test's environment, working directory, arguments and output; its exit status and
    signals are its own; where an import reads the environment, it is started afresh."""
    monkeypatch.setenv("CLASSBRIDGE_TEST_ZYGOTE", "1")  # this test is about the zygote
    database = tmp_path / "forked.db"
    env = {**os.environ, "CLASSBRIDGE_DATABASE_URL": f"sqlite+aiosqlite:///{database.name}"}
    done = zygote.run([zygote.CLASSBRIDGE, "migrate"], env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert database.exists()  # the relative path was resolved in the test's directory
    refused = zygote.run([zygote.CLASSBRIDGE, "no-such-command"], env=env)
    assert refused.returncode == 2 and "invalid choice" in refused.stderr

    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = zygote.popen(
            [zygote.CLASSBRIDGE, "serve", "--port", "0"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=zygote.STDOUT,
        )
    assert isinstance(server, zygote.Forked)
    assert server.pid not in (os.getpid(), zygote._the_zygote().process.pid)
    loop = asyncio.get_running_loop()
    until = loop.time() + 60
    while "Uvicorn running on" not in log.read_text():
        assert server.poll() is None, log.read_text()
        assert loop.time() < until, log.read_text()
        await asyncio.sleep(0.05)
    server.kill()
    assert await asyncio.wait_for(server.wait_async(), 30) == -signal.SIGKILL

    assert not zygote.can_fork(
        [zygote.CLASSBRIDGE, "serve"], {**env, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    )
    assert not zygote.can_fork([sys.executable, "-c", "pass"], env)
