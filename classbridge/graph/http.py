"""HTTP helpers shared by both endpoints: bearer tokens, coded error responses and the
JSON encoding of answers."""

import logging
from typing import Any

import orjson
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse

from classbridge.graph.errors import SERVICE_UNAVAILABLE, UNAVAILABLE_MESSAGE
from classbridge.models.db import is_unavailable

log = logging.getLogger("classbridge.app")
RETRY_AFTER_SECONDS = 2


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )


def encode_json(data: object) -> str:
    """An answer (HTTP or WebSocket) as compact JSON text. orjson: a staff schedule page
    of 100 sessions took 1.3 ms with json.dumps, 0.07 ms here. Non-ASCII characters are
    written as UTF-8 rather than `\\u` escapes: the same JSON to every parser."""
    return orjson.dumps(data).decode()


def bearer_token(headers: Any) -> str | None:
    """The token of an `Authorization: Bearer` header; "" when the header is malformed."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = str(value).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


async def database_unavailable(conn: HTTPConnection, exc: Exception) -> JSONResponse:
    """Starlette's handler for a database error outside GraphQL execution (the token
    lookup, the CSV report): overload or an outage is a coded 503 with Retry-After, not
    a bare 500; anything else goes on to the server's error handling."""
    if conn.scope["type"] != "http" or not is_unavailable(exc):
        raise exc
    log.warning("database unavailable at %s: %s", conn.url.path, type(exc).__name__)
    return error_response(
        503,
        SERVICE_UNAVAILABLE,
        UNAVAILABLE_MESSAGE,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
