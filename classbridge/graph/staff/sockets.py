"""WebSocket hygiene for live sign-in, on both protocols strawberry speaks.

- A socket must send connection_init within CONNECTION_INIT_TIMEOUT, or it is closed
  (4408): strawberry does this for graphql-transport-ws; we add it to the legacy graphql-ws.
- A message that is not what the protocol defines closes the socket (4400) instead of
  raising inside strawberry's handler.
- A socket's token is checked again every TOKEN_CHECK_SECONDS, for all sockets of the
  process in one query: once it is revoked (logout) or expired, the socket's
  subscriptions end and it is closed with 4401, so a logged-out device stops receiving
  customers' names.
- Each subscription gets its `LiveOperation` (graph/staff/live.py): how to send a shared,
  already serialized payload as this operation's frame of this protocol, so multiplexed
  live events skip per-subscriber execution and encoding.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler

from classbridge.graph.context import Context
from classbridge.graph.staff.live import CURRENT_OPERATION, LiveOperation
from classbridge.models import staff as staff_model
from classbridge.models.db import Database

log = logging.getLogger("classbridge.sockets")

CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
TOKEN_CHECK_SECONDS = 2.0
UNAUTHORIZED = 4401
INVALID_MESSAGE = 4400
INIT_TIMEOUT = 4408

Closer = Callable[[], Awaitable[None]]


class TokenWatch:
    """The sockets of this process by token; one task checks them all periodically."""

    def __init__(self, database: Database, *, every: float = TOKEN_CHECK_SECONDS) -> None:
        self.database = database
        self.every = every
        self._sockets: dict[str, set[Closer]] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, token: str, close: Closer) -> None:
        self._sockets.setdefault(token, set()).add(close)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="classbridge-token-watch")

    def forget(self, token: str, close: Closer) -> None:
        closers = self._sockets.get(token)
        if closers is not None:
            closers.discard(close)
            if not closers:
                del self._sockets[token]

    def watching(self) -> int:
        return sum(len(c) for c in self._sockets.values())

    async def _run(self) -> None:
        while self._sockets:
            await asyncio.sleep(self.every)
            try:
                await self.check()
            except Exception:  # the database is away: try again next round
                log.warning("could not check the tokens of live sockets", exc_info=True)

    async def check(self) -> None:
        tokens = list(self._sockets)
        if not tokens:
            return
        async with self.database.read() as db:
            valid = await staff_model.active_tokens(db=db, tokens=tokens)
        for token in tokens:
            if token not in valid:
                for close in list(self._sockets.pop(token, ())):
                    await close()


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _optional(value: object, kind: type) -> bool:
    return value is None or isinstance(value, kind)


def _well_formed_start(message: dict[str, Any]) -> bool:
    """A subscribe (graphql-transport-ws) or start (graphql-ws) message we can run."""
    payload = message.get("payload")
    return (
        _is_text(message.get("id"))
        and isinstance(payload, dict)
        and _is_text(payload.get("query"))
        and _optional(payload.get("variables"), dict)
        and _optional(payload.get("operationName"), str)
    )


def _well_formed(message: object, start: str, stop: str) -> bool:
    if not isinstance(message, dict) or not _is_text(message.get("type")):
        return False
    if message["type"] == start:
        return _well_formed_start(message)
    if message["type"] == stop:
        return _is_text(message.get("id"))
    return True


class _Watched:
    """Registers an acknowledged socket's token with the view's TokenWatch."""

    context: Context
    view: Any
    websocket: Any

    def _watch(self) -> None:
        token = self.context.token
        if token:
            self.view.token_watch.watch(token, self._revoked)

    def _forget(self) -> None:
        token = self.context.token
        if token:
            self.view.token_watch.forget(token, self._revoked)

    async def _revoked(self) -> None:
        await self._end_operations()
        with suppress(Exception):  # the client may be gone already
            await self.websocket.close(code=UNAUTHORIZED, reason="token revoked or expired")

    async def _end_operations(self) -> None:
        raise NotImplementedError

    async def _start_live(self, message: Any, frame_type: str, start: Awaitable[None]) -> None:
        """Run strawberry's start of an operation with its LiveOperation in context."""
        prefix = f'{{"id":{json.dumps(message["id"])},"type":"{frame_type}","payload":'
        websocket = self.context.request
        assert isinstance(websocket, WebSocket)

        async def send_payload(payload: str) -> None:
            try:
                await websocket.send_text(prefix + payload + "}")
            except WebSocketDisconnect as exc:
                raise WebSocketDisconnected from exc

        async def close_socket(code: int, reason: str) -> None:
            with suppress(Exception):  # the client may be gone already
                await self.websocket.close(code=code, reason=reason)

        payload = message["payload"]
        token = CURRENT_OPERATION.set(
            LiveOperation(
                query=payload["query"],
                variables=payload.get("variables"),
                operation_name=payload.get("operationName"),
                send_payload=send_payload,
                close_socket=close_socket,
            )
        )
        try:
            await start  # creates the operation's task, which keeps this context
        finally:
            CURRENT_OPERATION.reset(token)


class TransportWSHandler(_Watched, BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws (the graphql-ws library)."""

    async def handle_message(self, message: Any) -> None:
        if not _well_formed(message, "subscribe", "complete"):
            await self.handle_invalid_message("Failed to parse message")
            return
        if message["type"] == "subscribe":
            await self._start_live(message, "next", super().handle_message(message))
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            self._watch()

    async def shutdown(self) -> None:
        self._forget()
        await super().shutdown()

    async def _end_operations(self) -> None:
        tasks = [op.task for op in self.operations.values() if op.task]
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        for task in tasks:
            with suppress(Exception, asyncio.CancelledError):
                await task


class LegacyWSHandler(_Watched, BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (subscriptions-transport-ws, Apollo), with the init timeout it lacks."""

    async def handle(self) -> None:
        timeout = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            timeout.cancel()
            with suppress(asyncio.CancelledError):
                await timeout

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            with suppress(Exception):
                await self.websocket.close(
                    code=INIT_TIMEOUT, reason="Connection initialisation timeout"
                )

    async def handle_message(self, message: Any) -> None:
        if not _well_formed(message, "start", "stop"):
            await self.websocket.close(code=INVALID_MESSAGE, reason="Failed to parse message")
            return
        if message["type"] == "start":
            await self._start_live(message, "data", super().handle_message(message))
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: Any) -> None:
        await super().handle_connection_init(message)
        if self.connection_acknowledged:
            self._watch()

    async def cleanup(self) -> None:
        self._forget()
        await super().cleanup()

    async def _end_operations(self) -> None:
        await super().cleanup()
