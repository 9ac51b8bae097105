"""SQLite through aiosqlite: what cannot wait for a lock runs on the event loop's thread,
and every other statement crosses to the connection's own thread once.

aiosqlite runs every call of its cursor API on the connection's own thread: a queue put,
the thread waking, and a callback into the event loop with the result. SQLAlchemy's
adapter (`sqlite+aiosqlite`) makes four such trips for a query — open a cursor, execute,
fetch all, close — and three for a statement without rows (BEGIN included): a sign-in
list crossed about 30 times. Here the four run as one function, so a statement crosses
at most once, and the rows come back whole, as SQLAlchemy's adapter fetches them anyway.

Most statements do not cross at all (`OneTripConnection`): with several requests in
flight, the GIL passing between the event loop and aiosqlite's threads on every
statement cost as much CPU as the pages themselves. Only what may wait for SQLite's
write lock crosses (a write transaction's `BEGIN IMMEDIATE`, a read transaction's
statement that might write), so the event loop never waits behind another writer.
docs/performance.md has the figures.

Only the plain cursor, commit and rollback change: server-side cursors (`stream()`), the
connection's close and every error's translation stay SQLAlchemy's. The engine gets this
module's DBAPI through `create_async_engine(module=…)` (models/db.py). It queues its
functions with aiosqlite's `Connection._execute`, which aiosqlite's own cursor uses for
every call (SQLAlchemy's adapter reaches into the same connection's queue), and reads
aiosqlite's `_conn`; tests/models/test_sqlite_driver.py fails if either stops working.
"""

import collections
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, list[Any] | None, int, int | None]
_T = TypeVar("_T")


def _execute(
    connection: sqlite3.Connection, operation: str, parameters: Any, many: bool
) -> _Outcome:
    """One statement with all its rows, and what its cursor
    says afterwards (rowcount is final only once RETURNING rows are fetched)."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that opens nothing on the thread until it executes, and then executes,
    fetches and closes there in one trip."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # nothing open on the thread
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1  # sqlite3's default

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # the thread's cursor was closed with its statement

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        adapt: OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        outcome: _Outcome
        if adapt.runs_here(operation):
            outcome = _execute(connection._conn, operation, parameters, many)
        else:
            async with adapt._execute_mutex:
                outcome = await adapt.on_thread(
                    _execute, connection._conn, operation, parameters, many
                )
            adapt.ran_on_thread(operation)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows else collections.deque()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Statements that cannot wait for a lock run on the event loop's own thread; the
    others cross to aiosqlite's thread once.

    Why: under concurrent requests the event loop and aiosqlite's threads passed the GIL
    between cores for every statement, and a page cost about twice the CPU it cost one
    request at a time (docs/performance.md).

    Which: SQLite in WAL mode makes a statement wait only for the write lock. A write
    transaction (`Database.transaction()`) takes it with `BEGIN IMMEDIATE`, which may
    wait and so crosses to the thread; once it holds the lock, nothing in it waits and
    the rest runs here. A read transaction (a plain `BEGIN`: `Database.read()`) runs its
    SELECTs here; anything else in it (a statement that might write, a server-side
    cursor) goes to the thread, and so does the rest of that transaction. Nothing runs
    here while the thread still works for this connection (a statement whose caller was
    cancelled runs on to its end there)."""

    __slots__ = ("_finished", "_here", "_locked", "_sent")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:  # an aiosqlite.Connection
        super().__init__(dbapi, connection)
        self._here = False  # this transaction has run on the loop's thread so far
        self._locked = False  # it holds SQLite's write lock (BEGIN IMMEDIATE succeeded)
        self._sent = 0  # functions queued for the thread (written on the loop only)
        self._finished = 0  # functions the thread has finished (written there only)

    def _thread_idle(self) -> bool:
        return self._sent == self._finished and not self._execute_mutex.locked()

    def runs_here(self, operation: str) -> bool:
        """Whether `operation` runs on the event loop's thread, now."""
        if operation == "BEGIN":  # a read transaction (models/db.py)
            self._here, self._locked = self._thread_idle(), False
        elif operation == "BEGIN IMMEDIATE":  # may wait for the write lock
            self._here = self._locked = False
        elif self._here and not (
            self._thread_idle() and (self._locked or operation[:6].upper() == "SELECT")
        ):
            self._here = False
        return self._here

    def ran_on_thread(self, operation: str) -> None:
        """After `operation` succeeded on the thread."""
        if operation == "BEGIN IMMEDIATE" and self._thread_idle():
            self._here = self._locked = True

    async def on_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        """`function(*args)` on aiosqlite's thread, counted so that `runs_here` knows
        when that thread is done with this connection."""

        def counted(*args: Any) -> _T:
            try:
                return function(*args)
            finally:
                self._finished += 1

        self._sent += 1
        return await self._connection._execute(counted, *args)  # type: ignore[no-any-return]

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:  # aiosqlite's own cursor: its calls cross uncounted
            self._here = False
        return super().cursor(server_side)

    def _end(self, name: str) -> None:
        """Commit or roll back: here if the whole transaction ran here, else on the
        thread (counted, as every statement)."""
        here, self._here, self._locked = self._here, False, False
        if not self._connection._connection:  # closed
            return  # as SQLAlchemy's adapter does
        sqlite = self._connection._conn
        try:
            if self._thread_idle() and (here or not sqlite.in_transaction):
                # Here: all of it ran here, or nothing to end (the pool's rollback after
                # a commit). A commit in WAL mode waits for no lock.
                getattr(sqlite, name)()
            else:
                await_(self.on_thread(getattr(sqlite, name)))
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        self._end("rollback")

    def commit(self) -> None:
        self._end("commit")


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module for `create_async_engine(module=…)`."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)
