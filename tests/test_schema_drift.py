"""The committed schema.graphql is what the code exports; migrations match the models."""

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import classbridge.models  # noqa: F401  (registers the tables)
from classbridge.graph.staff.schema import build_staff_schema
from classbridge.migrate import render_item
from classbridge.models.db import Database

ROOT = Path(__file__).resolve().parents[1]


def test_committed_staff_schema_matches_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    exported = build_staff_schema().as_str() + "\n"
    assert committed == exported, (
        "schema.graphql is stale: run `classbridge export-schema --output schema.graphql`"
    )


async def test_migrations_match_models(database: Database) -> None:
    """A migrated database has exactly the tables, columns and indexes the models declare."""

    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)

    async with database.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == [], "models and migrations differ; add a migration:\n" + "\n".join(
        map(str, differences)
    )


def test_autogenerate_writes_enum_columns_as_sqlalchemys_enum() -> None:
    """A migration generated from the models (migrations/env.py's `render_item`) names
    `sa.Enum` for enum columns, not the models' faster-reading subclass, and still
    names our UTC timestamp type (which does change what the database stores)."""
    with sa.create_engine("sqlite://").connect() as empty:  # everything to create
        context = MigrationContext.configure(empty)
        operations = produce_migrations(context, SQLModel.metadata).upgrade_ops
        assert operations is not None
        code = render_python_code(operations, render_item=render_item, migration_context=context)
    assert "sa.Column('status', sa.Enum('BOOKED', 'CANCELLED', 'CHECKED_IN', 'NO_SHOW'" in code
    assert "_Enum" not in code
    assert "classbridge.models.base.UTCDateTime(timezone=True)" in code
