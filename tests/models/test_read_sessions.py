"""PostgreSQL read sessions run their statements without a transaction (no BEGIN and
ROLLBACK round trips, and a one-trip pool ping); `in_transaction` gives a read session one,
and every write transaction still has one (models/db.py)."""

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.models.db import Database, in_transaction


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
