"""The Starlette app: the staff API at /graphql, the partner API at /aggregator/v1/graphql."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.exceptions import ConnectionRejectionError

from classbridge.graph.context import Context
from classbridge.graph.endpoint import GraphQLEndpoint
from classbridge.graph.errors import PAYLOAD_TOO_LARGE
from classbridge.graph.graphiql import STATIC_URL, graphiql_assets, graphiql_response
from classbridge.graph.http import bearer_token, database_unavailable, error_response
from classbridge.graph.login_limit import LoginRateLimit
from classbridge.graph.partner.endpoint import PartnerGraphQL
from classbridge.graph.reports import VisitReportDownload
from classbridge.graph.staff.schema import build_staff_schema
from classbridge.graph.staff.sockets import (
    CONNECTION_INIT_TIMEOUT,
    LegacyWSHandler,
    TokenWatch,
    TransportWSHandler,
)
from classbridge.jobs.email import EmailDelivery
from classbridge.jobs.embedded import push_lifespan
from classbridge.jobs.series import series_lifespan
from classbridge.jobs.waitlist import WaitlistExpiry
from classbridge.live import EventBus, SignInMessage, attach_publisher, create_bus
from classbridge.models import staff as staff_model
from classbridge.models.db import Database
from classbridge.ops import metrics
from classbridge.ops.health import Readiness, healthz
from classbridge.ops.request_context import HEADER as REQUEST_ID_HEADER
from classbridge.ops.request_context import RequestContext
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
            await error_response(413, PAYLOAD_TOO_LARGE, "request body is too large")(
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
            await error_response(413, PAYLOAD_TOO_LARGE, "request body is too large")(
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


class StaffGraphQL(GraphQLEndpoint):
    """The staff endpoint: a bearer token names the staff member; a bad one gets 401.

    Over WebSocket (subscriptions; graphql-transport-ws and the legacy graphql-ws) the
    token comes with connection_init or in the upgrade request; without a valid one the
    socket is refused (graphql-transport-ws: close 4403; graphql-ws: connection_error).
    graph/staff/sockets.py closes sockets that never initialise or whose token ends.
    """

    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self, database: Database, settings: Settings, bus: EventBus[SignInMessage] | None = None
    ) -> None:
        super().__init__(
            build_staff_schema(settings),
            graphql_ide="graphiql",
            # A socket must say who it is soon; an idle unauthenticated one is closed (4408).
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
        )
        self.database = database
        self.settings = settings
        self.bus = bus
        self.token_watch = TokenWatch(database)
        self.login_limit = LoginRateLimit(settings)

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

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            token = bearer_token(Request(scope).headers)
            if token is not None:
                actor = None
                if token:
                    db = self.authenticated_session(scope, self.database)
                    actor = await staff_model.authenticate(db=db, token=token)
                if actor is None:
                    response = error_response(
                        401, "UNAUTHENTICATED", "the bearer token is invalid, expired or revoked"
                    )
                    await response(scope, receive, send)
                    return
                scope.setdefault("state", {})["staff"] = (actor, token)
        await self.serve(scope, receive, send)

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_response()  # assets from the package, not a CDN

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
            login_limit=self.login_limit,
        )
        self.adopt_session(request.scope, context)
        request.scope.setdefault("state", {})["context"] = context
        return context


def _middleware(
    settings: Settings, routes: list[Route | WebSocketRoute | Mount]
) -> list[Middleware]:
    """Outermost first: the request id, then metrics, then CORS (so refusals, 401s and
    413s are counted and carry both the id and CORS headers)."""
    stack = [
        Middleware(RequestContext),
        Middleware(
            metrics.HttpMetrics,
            routes=[r.path for r in routes if not isinstance(r, Mount)],
            mounts=[r.path for r in routes if isinstance(r, Mount)],
        ),
    ]
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", REQUEST_ID_HEADER],
                expose_headers=[REQUEST_ID_HEADER],
                max_age=600,
            )
        )
    return stack


def create_app(settings: Settings | None = None, database: Database | None = None) -> Starlette:
    settings = settings or get_settings()
    database = database or Database(settings.database_url, pool_size=settings.database_pool_size)
    bus = create_bus(settings)
    bus.observe_subscriber_count(metrics.live_subscriber_observer())
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
        expiry = WaitlistExpiry(database, every_seconds=settings.waitlist_expiry_seconds)
        expiry.start()
        try:
            # Without Redis the push runs in this process (see jobs/embedded.py).
            async with push_lifespan(database, settings), series_lifespan(database, settings):
                yield
        finally:
            await expiry.stop()
            if delivery is not None:
                await delivery.stop()
            # Committed sign-in events still go out before the bus closes (within reason).
            with suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await database.after_commit.drain()
            database.after_commit.remove(publisher)
            await partner_view.rate_limit.close()
            await staff_view.login_limit.close()
            await bus.close()
            await database.dispose()
            metrics.forget_process()

    partner_view = PartnerGraphQL(database, settings)
    staff_view = StaffGraphQL(database, settings, bus)
    staff = BodyLimit(staff_view, settings.max_body_bytes)
    partner = BodyLimit(partner_view, settings.max_body_bytes)
    metrics_endpoint = metrics.Metrics(
        database, settings.metrics_token.get_secret_value() if settings.metrics_token else None
    )
    routes: list[Route | WebSocketRoute | Mount] = [
        Route("/healthz", healthz),
        Route("/readyz", Readiness(database, settings.redis_url).endpoint),
        Route("/metrics", metrics_endpoint.endpoint),
        # Every method reaches the endpoints: they answer the ones they do not serve with a
        # JSON 405 (METHOD_NOT_ALLOWED), as every other refusal.
        Route("/graphql", staff),
        WebSocketRoute("/graphql", staff),
        Route("/aggregator/v1/graphql", partner),
        Route(
            "/reports/aggregator-visits.csv",
            VisitReportDownload(database).endpoint,
            methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
        ),
        Mount(STATIC_URL, graphiql_assets()),
    ]
    app = Starlette(
        routes=routes,
        middleware=_middleware(settings, routes),
        lifespan=lifespan,
        exception_handlers={
            # Errors a database under overload or away raises (models/db.py is_unavailable).
            kind: database_unavailable
            for kind in (sa.exc.TimeoutError, sa.exc.DBAPIError, OSError)
        },
    )
    app.state.database = database
    app.state.settings = settings
    app.state.bus = bus
    app.state.schemas = {"staff": staff_view.schema, "partner": partner_view.schema}
    return app
