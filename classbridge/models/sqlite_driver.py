"""SQLite through aiosqlite: read transactions run on the event loop's thread, and every
other statement crosses to the connection's own thread once.

aiosqlite runs every call of its cursor API on the connection's own thread: a queue put,
the thread waking, and a callback into the event loop with the result. SQLAlchemy's
adapter (`sqlite+aiosqlite`) makes four such trips for a query — open a cursor, execute,
fetch all, close — and three for a statement without rows (BEGIN included): a sign-in
list crossed about 30 times. Here the four run as one function, so a statement crosses
at most once, and the rows come back whole, as SQLAlchemy's adapter fetches them anyway.

A read transaction does not cross at all (`OneTripConnection`): with several requests in
flight, the GIL passing between the event loop and aiosqlite's threads on every
statement cost as much CPU as the pages themselves. docs/performance.md has the figures.

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
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows) if rows else collections.deque()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Statements of a read transaction run on the event loop's own thread; everything
    else crosses to aiosqlite's thread once.

    Why: under concurrent requests the event loop and aiosqlite's threads passed the GIL
    between cores for every statement, and a page cost about twice the CPU it cost one
    request at a time (docs/performance.md). A read transaction is one that began with a
    plain `BEGIN` (`Database.read()` sessions; write transactions send `BEGIN
    IMMEDIATE`). In WAL mode its SELECTs never wait for a lock, so running them here
    cannot stall the loop behind a writer. Anything else inside it (a statement that is
    not a SELECT, a server-side cursor) goes to the thread, and so does the rest of that
    transaction. Nothing runs here while the thread still works for this connection (a
    statement whose caller was cancelled runs on to its end there)."""

    __slots__ = ("_finished", "_reading", "_sent")
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:  # an aiosqlite.Connection
        super().__init__(dbapi, connection)
        self._reading = False  # in a read transaction, all of it run here so far
        self._sent = 0  # functions queued for the thread (written on the loop only)
        self._finished = 0  # functions the thread has finished (written there only)

    def _thread_idle(self) -> bool:
        return self._sent == self._finished and not self._execute_mutex.locked()

    def runs_here(self, operation: str) -> bool:
        """Whether `operation` runs on the event loop's thread, now."""
        if operation == "BEGIN":  # a read session's transaction (models/db.py)
            self._reading = self._thread_idle()
        elif self._reading and not (operation[:6].upper() == "SELECT" and self._thread_idle()):
            self._reading = False
        return self._reading

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
            self._reading = False
        return super().cursor(server_side)

    def _end(self, name: str) -> None:
        """Commit or roll back: here if the whole transaction ran here, else on the
        thread (counted, as every statement)."""
        reading, self._reading = self._reading, False
        if not self._connection._connection:  # closed
            return  # as SQLAlchemy's adapter does
        sqlite = self._connection._conn
        try:
            if self._thread_idle() and (reading or not sqlite.in_transaction):
                # Here: a read, or nothing to end (the pool's rollback after a commit).
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
