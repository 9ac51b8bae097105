"""The partner endpoint: every request needs a valid partner token (else HTTP 401)."""

from typing import Any, ClassVar

from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from classbridge.graph.endpoint import GraphQLEndpoint
from classbridge.graph.errors import RATE_LIMITED
from classbridge.graph.http import bearer_token, error_response
from classbridge.graph.partner.context import PartnerContext
from classbridge.graph.partner.rate_limit import PartnerRateLimit
from classbridge.graph.partner.schema import build_partner_schema
from classbridge.models import partner_token as token_model
from classbridge.models.db import Database
from classbridge.settings import Settings


class PartnerGraphQL(GraphQLEndpoint):
    """POST only: aggregators' clients send every operation that way."""

    methods: ClassVar[frozenset[str]] = frozenset({"POST"})

    def __init__(self, database: Database, settings: Settings) -> None:
        super().__init__(build_partner_schema(settings), graphql_ide=None)
        self.database = database
        self.settings = settings
        self.rate_limit = PartnerRateLimit(settings)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        token = bearer_token(Request(scope).headers)
        actor = None
        if token:
            db = self.authenticated_session(scope, self.database)
            actor = await token_model.authenticate(db=db, token=token)
        if actor is None:
            message = (
                "send Authorization: Bearer <partner token>"
                if token is None
                else "the partner token is invalid or revoked"
            )
            await error_response(401, "UNAUTHENTICATED", message)(scope, receive, send)
            return
        retry_after = await self.rate_limit.retry_after(actor.token_id)
        if retry_after is not None:
            response = error_response(
                429,
                RATE_LIMITED,
                f"over this token's rate limit ({self.rate_limit.describe()}); "
                f"retry after {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["aggregator"] = actor
        await self.serve(scope, receive, send)

    async def get_context(self, request: Request | WebSocket, response: Any) -> PartnerContext:
        state = request.scope.setdefault("state", {})
        context = PartnerContext(
            request=request,
            response=response,
            database=self.database,
            settings=self.settings,
            aggregator=state["aggregator"],
        )
        self.adopt_session(request.scope, context)
        state["context"] = context
        return context
