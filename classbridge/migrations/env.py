"""Alembic environment: async engines for SQLite and PostgreSQL, batch mode for SQLite."""

import asyncio
from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.migration import MigrationContext, MigrationInfo
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import classbridge.models  # noqa: F401  (registers the tables)
from classbridge.migrate import MIGRATION_LOCK, render_item
from classbridge.models.db import parse_database_url
from classbridge.settings import get_settings

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or get_settings().database_url
    return parse_database_url(url).render_as_string(hide_password=False)


def _applied(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    # classbridge.migrate reports what it applied (alembic's own INFO lines are muted).
    config.attributes.setdefault("applied", []).append(step.up_revision_id)


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things in place
        render_item=render_item,
        compare_type=True,
        on_version_apply=_applied,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Several `classbridge serve` processes start at once and each migrates: the
            # first takes this lock and upgrades, the others wait and find nothing to do.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        context.run_migrations()


async def _run_online() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=_url(), target_metadata=target_metadata, render_as_batch=True, render_item=render_item
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    existing = config.attributes.get("connection")
    if existing is not None:
        _configure(existing)
    else:
        asyncio.run(_run_online())
