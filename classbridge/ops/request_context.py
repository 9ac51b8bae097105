"""One request's identity for logs: its id and (once parsed) its GraphQL operation name.

`RequestContext` (ASGI middleware) takes the id from the client's `X-Request-ID` when it
is a sane token, else makes one, returns it in the response header and keeps it in a
context variable that every log record of the request reads (see ops/logs.py).
"""

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
# Printable, no spaces, short: a client's id must not be able to forge or split log lines.
_ACCEPTED = re.compile(r"[A-Za-z0-9._~:@/+=-]{1,128}")


@dataclass
class RequestInfo:
    """Mutable on purpose: the GraphQL layer fills in the operation name later, and the
    same object is seen from every context copied from the request's."""

    request_id: str
    operation: str | None = None


_current: ContextVar[RequestInfo | None] = ContextVar("classbridge_request", default=None)


def current_request() -> RequestInfo | None:
    return _current.get()


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            text = value.decode("latin-1")
            if _ACCEPTED.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestContext:
    """Give every HTTP request and WebSocket an id, in logs and in the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        info = RequestInfo(request_id_from(scope["headers"]))
        header = (HEADER.lower().encode(), info.request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        token = _current.set(info)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
