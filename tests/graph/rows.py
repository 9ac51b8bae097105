"""Whole-database snapshots: proof that a refused request changed nothing."""

from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

import classbridge.models  # noqa: F401  (registers the tables)
from classbridge.models.db import Database

Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(database: Database) -> Snapshot:
    """Every row of every table, sorted, as plain tuples."""
    out: Snapshot = {}
    async with database.read() as db:
        for table in SQLModel.metadata.sorted_tables:
            rows = (await db.execute(sa.select(table))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def row_counts(database: Database) -> dict[str, int]:
    return {name: len(rows) for name, rows in (await snapshot(database)).items()}


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """Tables whose rows differ (for a readable assertion message)."""
    return [name for name in before if before[name] != after.get(name)]
