"""SQLite's read transactions run on the event loop's thread and other statements cross to
aiosqlite's thread once each (models/sqlite_driver.py), and
say the same as through SQLAlchemy's own aiosqlite adapter: rows, row counts, the last
row id, RETURNING, executemany and errors."""

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from classbridge.models.db import Database
from classbridge.models.errors import DomainError, ErrorCode

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


class TripCounter:
    """Counts the functions aiosqlite runs on its connections' threads."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.trips = 0
        run = aiosqlite.Connection._execute

        async def counted(connection: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
            self.trips += 1
            return await run(connection, fn, *args, **kw)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)


async def test_a_read_transaction_runs_on_the_event_loops_thread(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with database.read() as db:  # the pool's connection is opened and set up
        await db.execute(sa.text("SELECT 1"))
    counter = TripCounter(monkeypatch)
    async with database.read() as db:
        rows = (await db.execute(sa.text("SELECT 2 UNION ALL SELECT 3"))).all()
        assert await db.scalar(sa.text("select 4")) == 4  # the keyword in any case
    assert [r[0] for r in rows] == [2, 3]
    # BEGIN, both statements and the rollback. Through SQLAlchemy's adapter 12: a
    # cursor opened, executed and closed for BEGIN, opened, executed, fetched and closed
    # for each SELECT, and the rollback.
    assert counter.trips == 0


async def test_a_write_statement_crosses_to_the_thread_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with database.transaction() as db:
        await db.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY)"))
    counter = TripCounter(monkeypatch)
    async with database.transaction() as db:
        await db.execute(sa.text("INSERT INTO scratch DEFAULT VALUES"))
        begin_and_one = counter.trips
        assert await db.scalar(sa.text("SELECT count(*) FROM scratch")) == 1
        assert counter.trips - begin_and_one == 1  # SQLAlchemy's adapter: 4
    assert begin_and_one == 2  # BEGIN IMMEDIATE and the INSERT; SQLAlchemy's adapter: 6
    assert counter.trips == 4  # and the commit


async def test_a_writer_waits_for_the_lock_on_the_thread_not_on_the_loop(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one write transaction holds SQLite's write lock, another waits for it on its
    connection's thread: the loop goes on (a read is answered), the holder commits, and
    then the waiting one gets the lock. Were the wait on the loop, the holder could never
    commit."""
    async with database.transaction() as db:
        await db.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY)"))
    waiting = asyncio.Event()
    run = aiosqlite.Connection._execute

    async def noticed(connection: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        if len(args) > 1 and args[1] == "BEGIN IMMEDIATE":
            waiting.set()
        return await run(connection, fn, *args, **kw)

    async def second() -> int:
        async with database.transaction() as db:
            await db.execute(sa.text("INSERT INTO scratch (id) VALUES (2)"))
            return int(await db.scalar(sa.text("SELECT count(*) FROM scratch")) or 0)

    async with database.transaction() as holder:
        await holder.execute(sa.text("INSERT INTO scratch (id) VALUES (1)"))
        monkeypatch.setattr(aiosqlite.Connection, "_execute", noticed)
        task = asyncio.create_task(second())
        await asyncio.wait_for(waiting.wait(), timeout=10)
        async with database.read() as reader:
            assert await reader.scalar(sa.text("SELECT count(*) FROM scratch")) == 0
        assert not task.done()
    assert await asyncio.wait_for(task, timeout=10) == 2


async def test_in_a_read_transaction_what_is_not_a_select_goes_to_the_thread_with_the_rest(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement that might write could wait for SQLite's write lock: never on the
    event loop's thread. After it, the transaction's statements and its end follow it
    there, in order."""
    async with database.read() as db:
        await db.execute(sa.text("SELECT 1"))
    counter = TripCounter(monkeypatch)
    async with database.read() as db:
        await db.execute(sa.text("SELECT 1"))
        assert counter.trips == 0
        await db.execute(sa.text("WITH one(x) AS (SELECT 1) SELECT x FROM one"))
        assert counter.trips == 1
        await db.execute(sa.text("SELECT 1"))
        assert counter.trips == 2
    assert counter.trips == 3  # the rollback


async def test_a_read_on_the_loops_thread_does_not_wait_for_a_writer(database: Database) -> None:
    """WAL: a reader sees the last commit while a write transaction holds the lock."""
    async with database.transaction() as db:
        await db.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY)"))
    async with database.transaction() as writer:
        await writer.execute(sa.text("INSERT INTO scratch DEFAULT VALUES"))
        async with database.read() as reader:
            assert await reader.scalar(sa.text("SELECT count(*) FROM scratch")) == 0
    async with database.read() as reader:
        assert await reader.scalar(sa.text("SELECT count(*) FROM scratch")) == 1


async def test_nothing_runs_on_the_loops_thread_while_the_connections_thread_works(
    database: Database,
) -> None:
    """A statement whose caller was cancelled runs on to its end on the thread; the
    connection must not be used from two threads at once."""
    async with database.engine.connect() as conn:
        adapted: Any = (await conn.get_raw_connection()).dbapi_connection
        assert adapted.runs_here("BEGIN")
        assert adapted.runs_here("SELECT 1")
        adapted.rollback()
        release = threading.Event()
        busy = asyncio.ensure_future(adapted.on_thread(release.wait, 10))
        await asyncio.sleep(0)  # the function is queued
        assert not adapted.runs_here("BEGIN")
        assert not adapted.runs_here("SELECT 1")
        release.set()
        assert await busy is True
        assert adapted.runs_here("BEGIN")
        adapted.rollback()


async def _outcomes(database: Database) -> list[object]:
    """What a scratch table's statements say, as plain values."""
    said: list[object] = []
    async with database.transaction() as db:
        await db.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
        one = await db.execute(sa.text("INSERT INTO scratch (name) VALUES ('a')"))
        said += ["insert", one.rowcount, one.lastrowid]
        many = await db.execute(
            sa.text("INSERT INTO scratch (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}]
        )
        said += ["executemany", many.rowcount]
        returned = await db.execute(
            sa.text("INSERT INTO scratch (name) VALUES ('d'), ('e') RETURNING id, name")
        )
        said += ["returning", [tuple(r) for r in returned], returned.rowcount]
        updated = await db.execute(sa.text("UPDATE scratch SET name = name || '!' WHERE id > 2"))
        said += ["update", updated.rowcount]
        result = await db.execute(sa.text("SELECT id, name FROM scratch ORDER BY id"))
        said += ["keys", list(result.keys()), "rows", [tuple(r) for r in result]]
        nothing = await db.execute(sa.text("SELECT id FROM scratch WHERE id < 0"))
        said += ["empty", nothing.all()]
    with pytest.raises(DomainError) as refused:  # an IntegrityError, as models/db.py says it
        async with database.transaction() as db:
            await db.execute(sa.text("INSERT INTO scratch (name) VALUES ('a')"))
    said += ["duplicate", refused.value.code]
    with pytest.raises(OperationalError):
        async with database.read() as db:
            await db.execute(sa.text("SELEKT 1"))
    with pytest.raises(OperationalError) as missing:  # raised on the loop's thread
        async with database.read() as db:
            await db.execute(sa.text("SELECT id FROM nowhere"))
    said += ["missing table", str(missing.value.orig)]
    async with database.read() as db:  # the connections are usable after the errors
        said += ["after errors", await db.scalar(sa.text("SELECT count(*) FROM scratch"))]
    return said


@pytest.fixture
async def stock_adapter(database_url: str) -> AsyncIterator[Database]:
    """The same file through SQLAlchemy's own aiosqlite adapter."""
    stock = Database(database_url, one_trip=False)
    yield stock
    await stock.dispose()


async def test_statements_say_what_they_say_through_sqlalchemys_adapter(
    database: Database, stock_adapter: Database
) -> None:
    ours = await _outcomes(database)
    async with stock_adapter.transaction() as db:
        await db.execute(sa.text("DROP TABLE scratch"))
    theirs = await _outcomes(stock_adapter)
    assert ours == theirs
    assert ours[:3] == ["insert", 1, 1]
    assert ours[ours.index("update") + 1] == 3
    assert ours[ours.index("duplicate") + 1] is ErrorCode.CONFLICT
    assert ours[-1] == 5


async def test_a_statement_cancelled_on_the_thread_leaves_the_database_usable(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request cancelled while its statement runs (a client gone, a sibling field
    failed): the connection is discarded, nothing leaks, the next read works."""
    on_thread = asyncio.Event()
    run = aiosqlite.Connection._execute

    async def noticed(connection: aiosqlite.Connection, fn: Any, *args: Any, **kw: Any) -> Any:
        if args and "RECURSIVE" in str(args[1]):
            on_thread.set()
        return await run(connection, fn, *args, **kw)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", noticed)
    slow = sa.text(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 2000000)"
        " SELECT count(*) FROM c"
    )

    async def read_slowly() -> None:
        async with database.read() as db:
            await db.execute(slow)

    task = asyncio.create_task(read_slowly())
    await asyncio.wait_for(on_thread.wait(), timeout=10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with database.read() as db:
        assert await db.scalar(sa.text("SELECT 41 + 1")) == 42
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_reads_writes_and_cancellations_at_once_leave_the_pool_clean(
    database: Database,
) -> None:
    """Reads on the loop's thread and writes on the connections' threads, interleaved on
    the same pooled connections, some cancelled mid-way: every write that finished is
    counted once, nothing fails but what was cancelled, and no connection stays out."""
    async with database.transaction() as db:
        await db.execute(sa.text("CREATE TABLE scratch (id INTEGER PRIMARY KEY, n INTEGER)"))
    written: list[int] = []

    async def write(n: int) -> None:
        async with database.transaction() as db:
            await db.execute(sa.text("INSERT INTO scratch (n) VALUES (:n)"), {"n": n})
        written.append(n)

    async def read() -> int:
        async with database.read() as db:
            first = await db.scalar(sa.text("SELECT count(*) FROM scratch"))
            await asyncio.sleep(0)  # another task's statement in between
            second = await db.scalar(sa.text("SELECT count(*) FROM scratch"))
        assert first == second  # one snapshot per read transaction
        return int(second or 0)

    tasks = [asyncio.create_task(write(n) if n % 3 == 0 else read()) for n in range(120)]
    for _ in range(5):  # let them start: some are cancelled mid-way, some before
        await asyncio.sleep(0)
    for task in tasks[5::7]:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(f, asyncio.CancelledError) for f in failures), failures
    assert len(results) - len(failures) >= 100
    async with database.read() as db:
        rows = list((await db.execute(sa.text("SELECT n FROM scratch"))).scalars())
    # A write cancelled after its commit is there without having said so.
    assert set(written) <= set(rows) and len(rows) == len(set(rows))
    assert all(n % 3 == 0 for n in rows)
    assert database.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    async with database.transaction() as db:  # and the database takes writes as before
        await db.execute(sa.text("INSERT INTO scratch (n) VALUES (-1)"))
