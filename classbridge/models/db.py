"""Engines, sessions and the write transaction that every change goes through.

The caller owns the transaction: domain functions only `flush()`. `Database.transaction()`
commits, and only after the commit hands the notices that domain functions recorded
(sign-in events, "outbox has rows") to the listeners, so a rolled-back change tells no one.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from classbridge.models.errors import DomainError, ErrorCode

NoticeListener = Callable[[list[Any]], Awaitable[None]]

_BEGIN_OPTION = "classbridge_begin"


class DatabaseConfigError(Exception):
    """The database URL is malformed or names a driver we do not support."""


def parse_database_url(url: str) -> URL:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a port that is no number
        # The URL itself is not repeated: it may hold a password.
        raise DatabaseConfigError(f"malformed database URL ({exc})") from exc
    if parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.drivername not in ("sqlite+aiosqlite", "postgresql+asyncpg"):
        raise DatabaseConfigError(
            f"unsupported database driver {parsed.drivername!r}: "
            "use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB"
        )
    return parsed


def _lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves (pysqlite's implicit BEGIN cannot be IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # SQLite's lower() knows only ASCII; case-insensitive search (ilike) must find
        # "Müller" for "MÜLLER" as PostgreSQL does.
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Write transactions take SQLite's write lock up front (BEGIN IMMEDIATE): a
        # read-then-write transaction would otherwise fail with SQLITE_BUSY when another
        # writer commits in between, instead of waiting its turn.
        conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


class Database:
    """One engine per process; read sessions for queries, `transaction()` for changes."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        parsed = parse_database_url(url)
        self.url = parsed
        self.is_sqlite = parsed.drivername.startswith("sqlite")
        # hide_parameters: a database error's text would otherwise carry the statement's
        # values (names, emails, token digests) into logs.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if not self.is_sqlite:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine = create_async_engine(parsed, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        write_engine = self.engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})
        self._read = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(write_engine, expire_on_commit=False, autoflush=False)
        self.listeners: list[NoticeListener] = []

    def session(self) -> AsyncSession:
        """A session for reading; it must not be used to change anything."""
        return self._read()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Run a change atomically; on commit, pass recorded notices to the listeners."""
        async with self._write() as db:
            try:
                yield db
                await db.commit()
            except BaseException:
                await db.rollback()
                raise
            notices = db.info.pop("notices", [])
        if notices:
            for listener in self.listeners:
                await listener(notices)

    async def check(self) -> None:
        """Connect once, so start-up fails with one clear line instead of later."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()


def notify(db: AsyncSession, notice: Any) -> None:
    """Record something the world must learn once (and only if) this transaction commits."""
    db.info.setdefault("notices", []).append(notice)


def is_unique_violation(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "unique" in text or "duplicate key" in text


def conflict(message: str) -> DomainError:
    return DomainError(ErrorCode.CONFLICT, message)
