"""The Starlette app: the staff API at /graphql, the partner API at /aggregator/v1/graphql."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Any

from cross_web import HTTPException  # what strawberry raises for unreadable requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError

from classbridge.graph.context import Context
from classbridge.graph.http import bearer_token, error_response
from classbridge.graph.partner.endpoint import PartnerGraphQL
from classbridge.graph.staff.schema import build_staff_schema
from classbridge.jobs.email import EmailDelivery
from classbridge.jobs.embedded import push_lifespan
from classbridge.live import EventBus, SignInMessage, attach_publisher, create_bus
from classbridge.models import staff as staff_model
from classbridge.models.db import Database
from classbridge.settings import Settings, get_settings

log = logging.getLogger("classbridge.app")


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


def connection_token(params: object, headers: Any) -> str | None:
    """A WebSocket's bearer token: connection_init's `Authorization` (any letter case),
    else the upgrade request's header; "" when one is given but malformed."""
    if isinstance(params, dict):
        for key, value in params.items():
            if isinstance(key, str) and key.lower() == "authorization":
                return bearer_token({"authorization": value if isinstance(value, str) else ""})
    return bearer_token(headers)


class StaffGraphQL(GraphQL[Context, None]):
    """The staff endpoint: a bearer token names the staff member; a bad one gets 401.

    Over WebSocket (subscriptions; graphql-transport-ws and the legacy graphql-ws) the
    token comes with connection_init or in the upgrade request; without a valid one the
    socket is refused (graphql-transport-ws: close 4403; graphql-ws: connection_error).
    """

    # A socket must say who it is soon; an idle unauthenticated socket is closed (4408).
    connection_init_wait_timeout = timedelta(seconds=10)

    def __init__(
        self, database: Database, settings: Settings, bus: EventBus[SignInMessage] | None = None
    ) -> None:
        super().__init__(build_staff_schema(settings), graphql_ide="graphiql")
        self.database = database
        self.settings = settings
        self.bus = bus

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        token = connection_token(context.connection_params, context.request.headers)
        actor = await self._authenticate(token) if token else None
        if actor is None:
            raise ConnectionRejectionError(
                {
                    "message": "send a valid staff token: connection_init payload "
                    '{"Authorization": "Bearer <token>"} or the Authorization header',
                    "extensions": {"code": "UNAUTHENTICATED"},
                }
            )
        context.staff, context.token = actor, token
        return None

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
            if scope["type"] == "http":
                await self._http(scope, receive, send)
            else:
                await super().__call__(scope, receive, send)
        finally:
            context = scope.get("state", {}).get("context")
            if context is not None:
                await context.close()

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Like strawberry's, but a request it cannot read (malformed JSON, wrong content
        type) gets a JSON error with a code, as every other error does."""
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:
            response = error_response(exc.status_code, "BAD_REQUEST", exc.reason)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return json.loads(data)
        except UnicodeDecodeError:  # strawberry only expects JSONDecodeError: it would be a 500
            raise HTTPException(400, "request body is not UTF-8") from None

    async def _authenticate(self, token: str) -> staff_model.StaffActor | None:
        if not token:
            return None
        async with self.database.read() as db:
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
            bus=self.bus,
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
    bus = create_bus(settings)
    publisher = attach_publisher(database, bus)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Emails are delivered in-process when SMTP is configured (see jobs/email.py).
        delivery = (
            EmailDelivery(database, settings, sweep_seconds=settings.email_sweep_seconds)
            if settings.smtp_url
            else None
        )
        if delivery is not None:
            delivery.start()
        try:
            # Without Redis the push runs in this process (see jobs/embedded.py).
            async with push_lifespan(database, settings):
                yield
        finally:
            if delivery is not None:
                await delivery.stop()
            # Committed sign-in events still go out before the bus closes (within reason).
            with suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await database.after_commit.drain()
            database.after_commit.remove(publisher)
            await bus.close()
            await database.dispose()

    staff = BodyLimit(StaffGraphQL(database, settings, bus), settings.max_body_bytes)
    partner = BodyLimit(PartnerGraphQL(database, settings), settings.max_body_bytes)
    app = Starlette(
        routes=[
            Route("/healthz", health),
            Route("/graphql", staff, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", staff),
            Route("/aggregator/v1/graphql", partner, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.database = database
    app.state.settings = settings
    app.state.bus = bus
    return app
