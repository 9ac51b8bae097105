"""A constraint that fires despite the locks (a concurrent change won) is a CONFLICT, not a 500."""

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from classbridge.graph.context import Context
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.tables import Company
from classbridge.settings import Settings


async def _collide(db: AsyncSession, same_id: uuid.UUID) -> None:
    db.add(Company(id=same_id, name="first"))
    await db.flush()
    # A second row with the same primary key: what a lost race looks like.
    now = utcnow()
    await db.execute(
        Company.__table__.insert().values(  # type: ignore[attr-defined]
            id=same_id, name="dup", created_at=now, updated_at=now
        )
    )


async def test_integrity_error_becomes_conflict_and_writes_nothing(
    database: Database, settings: Settings
) -> None:
    context = Context(
        request=Request({"type": "http", "headers": []}),
        response=None,
        database=database,
        settings=settings,
    )
    same_id = uuid.uuid4()
    with pytest.raises(DomainError) as info:
        async with context.transaction() as db:
            await _collide(db, same_id)
    assert info.value.code is ErrorCode.CONFLICT
    async with database.read() as db:
        assert await db.get(Company, same_id) is None
    await context.close()


async def test_jobs_and_the_cli_get_the_same_conflict(database: Database) -> None:
    """They use Database.transaction() directly: the mapping lives there, once."""
    same_id = uuid.uuid4()
    with pytest.raises(DomainError) as info:
        async with database.transaction() as db:
            await _collide(db, same_id)
    assert info.value.code is ErrorCode.CONFLICT
    async with database.read() as db:
        assert await db.get(Company, same_id) is None
