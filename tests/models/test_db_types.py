"""How UUIDs come back from the database: `uuid.UUID`s on both backends (strings where a
column asks for them); on SQLite, which stores them as hex text, each value is parsed
once and the instance shared (models/db.py `_SharedHexUuid`)."""

import uuid

import sqlalchemy as sa
from sqlmodel import col, select

from classbridge.models.db import Database
from classbridge.models.tables import Company
from tests.studio import Studio


async def _company_id(database: Database, studio: Studio) -> object:
    async with database.read() as db:
        return await db.scalar(select(Company.id).where(col(Company.id) == studio.company_id))


async def test_uuids_come_back_as_uuids_and_sqlite_parses_each_value_once(
    database: Database, backend: str, studio: Studio
) -> None:
    first = await _company_id(database, studio)
    second = await _company_id(database, studio)
    assert isinstance(first, uuid.UUID) and first == studio.company_id == second
    if backend == "sqlite":
        assert first is second
    async with database.read() as db:
        as_text = await db.scalar(
            select(sa.type_coerce(col(Company.id), sa.Uuid(as_uuid=False))).where(
                col(Company.id) == studio.company_id
            )
        )
    assert isinstance(as_text, str) and uuid.UUID(as_text) == studio.company_id
