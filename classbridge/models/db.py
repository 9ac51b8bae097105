"""Engines, read sessions and the write transaction that every change goes through.

The caller owns the transaction: domain functions only `flush()`. `Database.transaction()`
commits, and only after the commit hands the notices that domain functions recorded
(sign-in events, "outbox has rows") to the after-commit listeners (models/after_commit.py),
so a rolled-back change tells no one. A constraint that fires despite the locks (a
concurrent change won a race) is refused as CONFLICT here, for every caller: API, jobs, CLI.
"""

import functools
import time
import uuid
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel, select

from classbridge.models.after_commit import AfterCommit
from classbridge.models.base import Interned
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.sqlite_driver import OneTripDBAPI

_BEGIN_OPTION = "classbridge_begin"

M = TypeVar("M", bound=SQLModel)


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


_UUID_FROM_HEX = Interned(uuid.UUID, 16_384)


class _SharedHexUuid(sa.Uuid):  # type: ignore[type-arg]
    """SQLite keeps a UUID as 32 hex characters, parsed into a `uuid.UUID` for every
    column of every row read (~1.7 µs each): a schedule page of 100 sessions and 200
    bookings parsed ~2,300, mostly the same few hundred ids (venue, activity, company,
    product, the page's sessions) again and again. UUIDs are immutable, so one instance
    per value is shared (`base.Interned`: a value seen before is one dict lookup)."""

    def result_processor(self, dialect: Any, coltype: Any) -> Callable[[Any], Any] | None:
        if not self.as_uuid:  # strings wanted: as SQLAlchemy does it
            return super().result_processor(dialect, coltype)  # type: ignore[no-untyped-call, no-any-return]
        return _UUID_FROM_HEX.__getitem__


def _configure_sqlite(engine: AsyncEngine) -> None:
    # This engine's dialect reads UUID columns with `_SharedHexUuid` (before any use).
    dialect = engine.sync_engine.dialect
    dialect.colspecs = {**dialect.colspecs, sa.Uuid: _SharedHexUuid}

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


IDLE_PING_SECONDS = 0.5
"""A pooled PostgreSQL connection idle longer than this is pinged before it is used;
one given back more recently is known to be alive (HikariCP's `aliveBypassWindowMs`,
500 ms by default). SQLAlchemy's `pool_pre_ping` pings on every checkout: a round trip
for every request (a read session's checkout and close, one at a time, cost 150 µs of
CPU with it and 63 without; docs/performance.md)."""

_IDLE_SINCE = "classbridge_idle_since"


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """`pool_pre_ping` for connections idle longer than `idle_seconds`. A failed ping
    invalidates the pool, as pre-ping does (the server went away: the other idle
    connections are as dead) and the checkout goes on with a new connection; a
    connection that died within the window fails its statement, which is answered
    SERVICE_UNAVAILABLE (`is_unavailable`) and invalidates it."""
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "connect")
    @event.listens_for(sync_engine, "checkin")
    def _idle_from_now(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_IDLE_SINCE, 0.0) <= idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise sa.exc.InvalidatePoolError() from exc
            raise


class Database:
    """One engine per process; `read()` sessions for queries, `transaction()` for changes."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int | None = None,
        pool_timeout: float = 30.0,
        idle_ping_seconds: float = IDLE_PING_SECONDS,
        one_trip: bool = True,
    ) -> None:
        parsed = parse_database_url(url)
        self.url = parsed
        self.is_sqlite = parsed.drivername.startswith("sqlite")
        # hide_parameters: a database error's text would otherwise carry the statement's
        # values (names, emails, token digests) into logs.
        # pool_size: the connections kept, opened as needed and never more
        # (CLASSBRIDGE_DATABASE_POOL_SIZE; PostgreSQL 30 by default, SQLite 15). A
        # pool that may overflow closes each overflow connection as it comes back: under
        # 32 connections of load it opened 78 PostgreSQL connections in 5 s, each a
        # connect, TLS offered and refused, and every statement prepared again. Fixed,
        # as HikariCP advises (docs/performance.md).
        # pool_timeout: how long a request waits for a free connection before it is
        # answered SERVICE_UNAVAILABLE (is_unavailable) instead of waiting on.
        # one_trip: SQLite statements cross to aiosqlite's thread once, not four times
        # (models/sqlite_driver.py; False only to measure against SQLAlchemy's adapter).
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if parsed.database not in (None, "", ":memory:"):  # a memory database has no pool
            kwargs["pool_timeout"] = pool_timeout
            kwargs["pool_size"] = pool_size or (15 if self.is_sqlite else 30)
            kwargs["max_overflow"] = 0
        if not self.is_sqlite:
            # Without a transaction unless one is asked for (`transaction()`,
            # `in_transaction`): a read then costs no BEGIN and ROLLBACK round trips, and
            # the ping of an idle connection one instead of three (asyncpg's ping wraps
            # `;` in a transaction of its own). Each statement still sees its own
            # snapshot, as under READ COMMITTED in a transaction.
            kwargs["isolation_level"] = "AUTOCOMMIT"
        elif one_trip:
            kwargs["module"] = OneTripDBAPI()  # models/sqlite_driver.py
        self.engine = create_async_engine(parsed, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_when_idle(self.engine, idle_ping_seconds)
        write_engine = self.engine.execution_options(
            **(
                {_BEGIN_OPTION: "BEGIN IMMEDIATE"}
                if self.is_sqlite
                else {"isolation_level": "READ COMMITTED"}
            )
        )
        self._read = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._write = async_sessionmaker(write_engine, expire_on_commit=False, autoflush=False)
        self.after_commit = AfterCommit()

    def read(self) -> AsyncSession:
        """A database session for reading; it must not be used to change anything (on
        SQLite its SELECTs run on the event loop's thread: models/sqlite_driver.py). On
        PostgreSQL its statements run without a transaction, each on its own snapshot;
        `in_transaction` gives it one."""
        return self._read()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Run a change atomically; on commit, hand recorded notices to the listeners."""
        async with self._write() as db:
            try:
                yield db
                await db.commit()
            except IntegrityError as exc:
                await db.rollback()
                # Rules are checked under row locks; a constraint that still fires means a
                # concurrent change raced this one (e.g. a customer merged mid-booking).
                # Nothing was written: the caller may simply try again.
                raise DomainError(
                    ErrorCode.CONFLICT, "the change collided with a concurrent one; try again"
                ) from exc
            except BaseException:
                await db.rollback()
                raise
            notices = db.info.pop("notices", [])
        self.after_commit.dispatch(notices)

    async def check(self) -> None:
        """Connect once, so start-up fails with one clear line instead of later."""
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.after_commit.aclose()
        await self.engine.dispose()


async def in_transaction(db: AsyncSession, isolation: str = "READ COMMITTED") -> None:
    """PostgreSQL: run a read session's statements in one transaction (REPEATABLE READ:
    on one snapshot), as a server-side cursor (`stream`) needs; nothing on SQLite, whose
    read sessions always have one. Call before the session's first statement."""
    if db.get_bind().dialect.name == "postgresql":
        await db.connection(execution_options={"isolation_level": isolation})


async def plan_for_these_values(db: AsyncSession) -> None:
    """PostgreSQL: plan the rest of this transaction's statements for the values they are
    sent with (`SET LOCAL plan_cache_mode = force_custom_plan`); nothing on SQLite.

    asyncpg prepares every statement, and after five executions PostgreSQL may keep one
    generic plan for it, costed with the table statistics of that moment. For a scan
    whose size swings (the push's search for owed sessions: none for hours, then 10,000
    after one bulk change, before autovacuum has analysed the table) that plan can be a
    nested loop over both tables: measured 3.9 s instead of 15 ms for 10,000 sessions.
    Planning it each time costs under a millisecond (0.8 ms measured).
    """
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))


def any_of(
    db: AsyncSession,
    column: Any,  # a column, or `col(...)` of a model's field
    values: Iterable[Any],
) -> sa.ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(:values)`, one array parameter.

    An IN of n values is rendered again for each n, with n cast parameters, and asyncpg
    prepares each n as a statement of its own: for the 400 sessions of a push batch the
    offers cost 61 to 79 µs a session instead of 90 (in-process alternation). SQLite's IN
    costs no such thing."""
    values = list(values)
    clause: sa.ColumnElement[bool]
    if db.get_bind().dialect.name == "postgresql":
        clause = column == sa.any_(sa.literal(values, ARRAY(column.type)))
    else:
        clause = column.in_(values)
    return clause


def dialect_of(db: AsyncSession) -> str:
    """ "sqlite" or "postgresql": which of a statement's built-once variants to run."""
    return db.get_bind().dialect.name


def any_of_bound(dialect: str, column: Any, name: str) -> sa.ColumnElement[bool]:
    """`any_of` in a statement built once (per dialect): its values are bound when the
    statement runs, as the parameter `name` (a list).

    Building a statement costs more than running it: a select of a few tables' columns
    with a join and an order took ~0.3 ms to build on the bench machine and as long
    again for SQLAlchemy to compute its cache key, both for every execution. A
    statement kept in a module reuses its cache key (memoized on it) and is never
    rebuilt; only the parameters change."""
    if dialect == "postgresql":
        return column == sa.any_(sa.bindparam(name, type_=ARRAY(column.type)))  # type: ignore[no-any-return]
    return column.in_(sa.bindparam(name, expanding=True))  # type: ignore[no-any-return]


def sqlite_json_rows(rows: list[list[Any]], width: int) -> list[sa.ColumnElement[Any]]:
    """SQLite: many rows as one JSON parameter, to select from (`json_each`): the columns
    0 … width-1 of each row. An executemany of thousands of rows instead has SQLAlchemy
    process each row's parameters in Python, and sqlite3 pass the GIL between the event
    loop and the driver's thread for each row (the push's acknowledgements and pending
    marks so: 2.70 against 2.44 s of CPU per 10,000 states). Values go in as SQLite
    stores them (hex UUIDs, enum names)."""
    values = sa.func.json_each(sa.literal(orjson.dumps(rows).decode(), sa.String))
    value = values.table_valued("value").c.value
    return [sa.func.json_extract(value, f"$[{i}]") for i in range(width)]


def notify(db: AsyncSession, notice: Any) -> None:
    """Record something the world must learn once (and only if) this transaction commits."""
    db.info.setdefault("notices", []).append(notice)


def is_unavailable(exc: BaseException) -> bool:
    """The database could not serve this now, through no fault of the request: no pooled
    connection came free in time (overload), the server refused or dropped the
    connection, or SQLite stayed locked past its busy timeout. Worth retrying; no bug."""
    if isinstance(exc, sa.exc.TimeoutError | OSError):  # the pool's wait; connect refused
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated or exc.statement is None:  # lost, or never connected
            return True
        return "database is locked" in str(exc.orig).lower()
    return False


def is_unique_violation(exc: BaseException) -> bool:
    text = str(getattr(exc, "orig", exc)).lower()
    return "unique" in text or "duplicate key" in text


async def rows_by_id(
    db: AsyncSession, model: type[M], ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, M]:
    """Rows of a table with a UUID `id`, by id, in one query (missing ids are absent)."""
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await db.scalars(_by_ids(model, dialect_of(db)), {"ids": wanted})
    return {getattr(row, "id"): row for row in rows}  # noqa: B009  (M has no `id` to type-check)


@functools.cache
def _by_ids(model: type[SQLModel], dialect: str) -> sa.Select[Any]:
    id_column = sa.inspect(model).local_table.c.id
    return select(model).where(any_of_bound(dialect, id_column, "ids"))


async def records(
    db: AsyncSession, statement: sa.Executable, parameters: Mapping[str, Any] | None = None
) -> list[Any]:
    """The rows of a query of plain columns, as named tuples of its columns' keys (an
    entity in it, as `select(*Booking.__table__.c, Customer)`, under its class's name).

    What pages only show is read as plain rows, not ORM entities. SQLAlchemy's own `Row`
    reads a column by name in ~0.7 µs (its `__getattribute__` first asks the row's class
    whether it has such an attribute, through a failed lookup); a named tuple in ~0.02
    µs, and a page reads its bookings' and sessions' columns several times each. Making
    the tuple costs ~0.2 µs a row. `parameters`: the values of a built-once statement's
    bound parameters."""
    result = await db.execute(statement, parameters)
    record = _record_type(tuple(result.keys()))
    new = tuple.__new__
    return [new(record, row[:]) for row in result]


async def table_records(
    db: AsyncSession,
    statement: sa.Executable,
    *tables: sa.Table | Sequence[sa.Column[Any]],
    parameters: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """`records` of a query selecting every column of each of `tables` in turn (a join:
    `select(*Booking.__table__.c, *Customer.__table__.c)`), or of a table the columns
    given: one named tuple per table and row, without an ORM entity (~10 µs each to
    build) for any of them."""
    parts: list[tuple[type[tuple[Any, ...]], int, int]] = []
    start = 0
    for table in tables:
        columns = table.c if isinstance(table, sa.Table) else table
        keys = tuple(column.key for column in columns)
        parts.append((_record_type(keys), start, start + len(keys)))
        start += len(keys)
    new = tuple.__new__
    return [
        tuple([new(record, row[first:end]) for record, first, end in parts])
        for row in await db.execute(statement, parameters)
    ]


@functools.lru_cache(maxsize=64)
def _record_type(keys: tuple[str, ...]) -> type[tuple[Any, ...]]:
    return namedtuple("Record", keys, rename=True)
