"""PostgreSQL read sessions run their statements without a transaction (no BEGIN and
ROLLBACK round trips, and a one-trip pool ping); `in_transaction` gives a read session one,
and every write transaction still has one. A pooled connection idle past
`IDLE_PING_SECONDS` is pinged before use; one given back more recently is not (models/db.py)."""

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.models.db import Database, in_transaction, is_unavailable
from tests.services import PG_HOST, PG_PORT, PG_USER


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """PostgreSQL only: SQLite's read sessions always hold a transaction (its snapshot)."""
    return str(request.param)


async def _in_one_transaction(db: AsyncSession) -> bool:
    """Whether the session's statements share a transaction: a SET LOCAL lasts until the
    transaction ends, so without one it is gone by the next statement."""
    await db.execute(sa.text("SET LOCAL work_mem = '7MB'"))
    return await db.scalar(sa.text("SHOW work_mem")) == "7MB"


async def test_reads_take_a_transaction_only_when_asked_and_writes_always(
    database: Database,
) -> None:
    async with database.read() as db:
        assert not await _in_one_transaction(db)
    async with database.read() as db:
        await in_transaction(db)
        assert await _in_one_transaction(db)
        assert await db.scalar(sa.text("SHOW transaction_isolation")) == "read committed"
    async with database.read() as db:
        await in_transaction(db, "REPEATABLE READ")
        assert await db.scalar(sa.text("SHOW transaction_isolation")) == "repeatable read"
        assert await _in_one_transaction(db)
    async with database.transaction() as db:
        assert await db.scalar(sa.text("SHOW transaction_isolation")) == "read committed"
        assert await _in_one_transaction(db)
    # The pooled connections went back without their transactions' settings.
    for _ in range(3):
        async with database.read() as db:
            assert not await _in_one_transaction(db)


async def test_a_write_transaction_still_rolls_back_as_a_whole(database: Database) -> None:
    async with database.transaction() as db:
        await db.execute(sa.text("CREATE TABLE scratch (n int)"))
    with pytest.raises(RuntimeError):
        async with database.transaction() as db:
            await db.execute(sa.text("INSERT INTO scratch VALUES (1)"))
            raise RuntimeError("halfway")
    async with database.read() as db:
        assert await db.scalar(sa.text("SELECT count(*) FROM scratch")) == 0


async def _backend_pid(database: Database) -> int:
    async with database.read() as db:
        return int(await db.scalar(sa.text("SELECT pg_backend_pid()")) or 0)


async def _terminate(pid: int) -> None:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")
    try:  # with a timeout, the call returns once the backend has exited
        assert await conn.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)
    finally:
        await conn.close()


async def _select(database: Database) -> int:
    async with database.read() as db:
        return int(await db.scalar(sa.text("SELECT 2")) or 0)


async def test_a_connection_idle_past_the_window_is_pinged_and_replaced_if_dead(
    database_url: str,
) -> None:
    database = Database(database_url, pool_size=1, idle_ping_seconds=0.0)
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda conn, _: opened.append(conn))
    try:
        await _terminate(await _backend_pid(database))
        assert await _select(database) == 2  # the ping found it dead: a new connection
        assert len(opened) == 2
    finally:
        await database.dispose()


async def test_a_connection_used_within_the_window_is_not_pinged(database_url: str) -> None:
    """Without the ping, a connection that died within the window fails its statement —
    a retryable refusal (SERVICE_UNAVAILABLE) — and is replaced for the next."""
    database = Database(database_url, pool_size=1, idle_ping_seconds=3600.0)
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda conn, _: opened.append(conn))
    try:
        await _terminate(await _backend_pid(database))
        with pytest.raises(DBAPIError) as failed:
            await _select(database)
        assert is_unavailable(failed.value)
        assert await _select(database) == 2
        assert len(opened) == 2
    finally:
        await database.dispose()
