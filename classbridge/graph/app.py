"""The Starlette app: the staff API at /graphql, the partner API at /aggregator/v1/graphql."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from classbridge.graph.context import Context
from classbridge.graph.staff.schema import build_staff_schema
from classbridge.jobs.embedded import push_lifespan
from classbridge.models import staff as staff_model
from classbridge.models.db import Database
from classbridge.settings import Settings, get_settings

log = logging.getLogger("classbridge.app")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers={"WWW-Authenticate": "Bearer"} if status == 401 else None,
    )


def bearer_token(headers: Any) -> str | None:
    """The token of an `Authorization: Bearer` header; "" when the header is malformed."""
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    return token.strip()


class BodyLimit:
    """Refuse request bodies over a size (413) before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await error_response(413, "PAYLOAD_TOO_LARGE", "request body is too large")(
                scope, receive, send
            )
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await error_response(413, "PAYLOAD_TOO_LARGE", "request body is too large")(
                scope, receive, send
            )


class _TooLarge(Exception):
    pass


class StaffGraphQL(GraphQL[Context, None]):
    """The staff endpoint: a bearer token names the staff member; a bad one gets 401."""

    def __init__(self, database: Database, settings: Settings) -> None:
        super().__init__(build_staff_schema(settings), graphql_ide="graphiql")
        self.database = database
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            token = bearer_token(Request(scope).headers)
            if token is not None:
                actor = await self._authenticate(token)
                if actor is None:
                    response = error_response(
                        401, "UNAUTHENTICATED", "the bearer token is invalid, expired or revoked"
                    )
                    await response(scope, receive, send)
                    return
                scope.setdefault("state", {})["staff"] = (actor, token)
        try:
            await super().__call__(scope, receive, send)
        finally:
            context = scope.get("state", {}).get("context")
            if context is not None:
                await context.close()

    async def _authenticate(self, token: str) -> staff_model.StaffActor | None:
        if not token:
            return None
        async with self.database.session() as db:
            return await staff_model.authenticate(db=db, token=token)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        actor, token = request.scope.get("state", {}).get("staff", (None, None))
        context = Context(
            request=request,
            response=response,
            database=self.database,
            settings=self.settings,
            staff=actor,
            token=token,
        )
        request.scope.setdefault("state", {})["context"] = context
        return context


async def health(request: Request) -> Response:
    database: Database = request.app.state.database
    try:
        await database.check()
    except Exception:  # the reason goes to the log, not to the client
        log.exception("health check failed")
        return JSONResponse({"status": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok"})


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    settings = settings or get_settings()
    database = database or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with push_lifespan(database, settings):
            yield
        await database.dispose()

    staff = BodyLimit(StaffGraphQL(database, settings), settings.max_body_bytes)
    app = Starlette(
        routes=[
            Route("/healthz", health),
            Route("/graphql", staff, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", staff),
        ],
        lifespan=lifespan,
    )
    app.state.database = database
    app.state.settings = settings
    return app
