"""PostgreSQL databases for tests: clones of a migrated template, emptied and used again.

`CREATE DATABASE … TEMPLATE` and `DROP DATABASE` each make PostgreSQL run a checkpoint
(`pg_stat_bgwriter.checkpoints_req` counts them), so a clone made and dropped per test cost
about a second on a busy machine and slowed every other client. Instead a worker keeps its
clones: after a test, `give_back` ends every connection still open to the database, checks
that its schema is still the template's, deletes every row and restarts the sequences (tens
of milliseconds), and hands it to the next test. A database whose schema a test changed is
dropped; the next test gets a new clone.

`SharedStatements` lets every test's engine use the statements an earlier test's engine
compiled.
"""

import asyncio
import uuid
from graphlib import TopologicalSorter
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

import classbridge.models.db as db_module
from tests.services import PG_HOST, PG_PORT, PG_USER

# Everything a test could change about the schema, as one digest.
_SCHEMA_DIGEST = """
SELECT md5(string_agg(item, E'\\n' ORDER BY item)) FROM (
    SELECT 'rel ' || relname || ' ' || relkind::text AS item
      FROM pg_class WHERE relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'col ' || attrelid::regclass || '.' || attname || ' '
           || format_type(atttypid, atttypmod) || ' ' || attnotnull
           || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'con ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 'enum ' || t.typname || ' ' || e.enumlabel || ' ' || e.enumsortorder
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
     WHERE t.typnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'fn ' || oid::regprocedure FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'trg ' || tgrelid::regclass || ' ' || tgname FROM pg_trigger t
      JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'alembic ' || version_num FROM alembic_version
) AS schema
"""

_TABLES = """
SELECT c.oid::regclass::text FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
   AND c.relname <> 'alembic_version'
"""
_FOREIGN_KEYS = """
SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
 WHERE contype = 'f' AND connamespace = 'public'::regnamespace
"""
_SEQUENCES = """
SELECT c.oid::regclass::text FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
"""


async def _connect(database: str) -> asyncpg.Connection:
    return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=database)


async def pg_admin(sql: str) -> None:
    conn = await _connect("postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


class PgDatabases:
    """One worker's databases, all cloned from `template`."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.created: list[str] = []
        self._idle: list[str] = []
        self._digest: str | None = None
        self._empty_out: list[str] = []  # DELETE/ALTER statements, children before parents

    async def take(self) -> str:
        """An empty, migrated database that no running test uses."""
        if self._idle:
            return self._idle.pop()
        name = f"cb_test_{uuid.uuid4().hex[:12]}"
        await pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.created.append(name)
        if self._digest is None:
            await self._learn_schema(name)
        return name

    async def give_back(self, name: str) -> None:
        if await self._empty(name):
            self._idle.append(name)
        else:
            await self.drop(name)

    async def drop(self, name: str) -> None:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.remove(name)

    async def drop_all(self) -> None:
        """Drop every clone, then the template."""
        # Together: each DROP waits for a checkpoint, and concurrent ones share it.
        await asyncio.gather(*(self.drop(name) for name in list(self.created)))
        await pg_admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')

    async def _learn_schema(self, name: str) -> None:
        conn = await _connect(name)
        try:
            self._digest = await conn.fetchval(_SCHEMA_DIGEST)
            # A table is emptied after every table that refers to it.
            after: dict[str, set[str]] = {row[0]: set() for row in await conn.fetch(_TABLES)}
            for child, parent in await conn.fetch(_FOREIGN_KEYS):
                if child != parent:
                    after[parent].add(child)
            sequences = [row[0] for row in await conn.fetch(_SEQUENCES)]
        finally:
            await conn.close()
        self._empty_out = [f"DELETE FROM {t}" for t in TopologicalSorter(after).static_order()]
        self._empty_out += [f"ALTER SEQUENCE {s} RESTART" for s in sequences]

    async def _empty(self, name: str) -> bool:
        conn = await _connect(name)
        try:
            # What DROP DATABASE … WITH (FORCE) did: nothing of the last test still talks to it.
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if await conn.fetchval(_SCHEMA_DIGEST) != self._digest:
                return False
            async with conn.transaction():
                # One round trip (without arguments asyncpg sends the simple query protocol).
                await conn.execute(";\n".join(self._empty_out))
            return True
        finally:
            await conn.close()


class SharedStatements:
    """Every engine of a backend in this process compiles a statement once.

    SQLAlchemy caches compiled statements per engine, keyed by the engine's dialect object,
    and each test makes an engine of its own (its own database): about one eighth of the
    suite's CPU went to compiling the same statements again for every test. The engines
    classbridge.models.db creates here get the first engine's dialect and cache instead (the
    same backend, server and settings, so the compiled forms are the same). Only the
    statement cache is shared: pools, connections and events stay each engine's own.

    A dialect learns its server (version, default isolation level) on its engine's first
    connection, and only its own engine's first connection teaches it; so only a dialect
    that has connected is shared. Until one has (the first engines of a run may point at
    a database that does not exist), each engine keeps its own.
    """

    def __init__(self) -> None:
        self._shared: dict[str, tuple[Any, Any]] = {}

    def install(self) -> None:
        create = db_module.create_async_engine

        def create_sharing(url: Any, **kwargs: Any) -> AsyncEngine:
            engine = create(url, **kwargs)
            sync = engine.sync_engine
            shared = self._shared.get(sync.dialect.name)
            if shared is not None and hasattr(shared[0], "default_isolation_level"):
                sync.dialect, sync._compiled_cache = shared
            else:  # shared from now on, once this engine has connected
                self._shared[sync.dialect.name] = (sync.dialect, sync._compiled_cache)
            return engine

        db_module.create_async_engine = create_sharing  # type: ignore[assignment]
