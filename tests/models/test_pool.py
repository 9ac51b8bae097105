"""The connection pool (models/db.py): a fixed number of connections, opened as needed and
kept — a burst beyond it waits for one instead of opening and closing overflow
connections. (PostgreSQL's ping of idle connections: test_read_sessions.py.)"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy import event

from classbridge.graph.app import create_app
from classbridge.models.db import Database
from classbridge.settings import Settings


@asynccontextmanager
async def _counting_connects(database: Database) -> AsyncIterator[list[object]]:
    opened: list[object] = []
    event.listen(database.engine.sync_engine, "connect", lambda conn, _record: opened.append(conn))
    try:
        yield opened
    finally:
        await database.dispose()


async def _two_statements(database: Database) -> int:
    """A read that holds its connection across an await, as a request does."""
    async with database.read() as db:
        await db.execute(sa.text("SELECT 1"))
        return int(await db.scalar(sa.text("SELECT 2")) or 0)


async def test_a_burst_beyond_the_pool_shares_its_connections_and_keeps_them(
    database_url: str,
) -> None:
    database = Database(database_url, pool_size=3)
    async with _counting_connects(database) as opened:
        for _ in range(2):
            done = await asyncio.gather(*(_two_statements(database) for _ in range(12)))
            assert done == [2] * 12
            # An overflowing pool opened one per concurrent read (12), and closed all but
            # its size as they came back, to open them again in the next burst.
            assert len(opened) == 3


def test_the_pool_size_is_the_operators_setting(database_url: str) -> None:
    app = create_app(Settings(database_url=database_url, database_pool_size=7))
    assert app.state.database.engine.sync_engine.pool.size() == 7
    default = Database(database_url).engine.sync_engine.pool.size()
    assert default == (15 if database_url.startswith("sqlite") else 30)
