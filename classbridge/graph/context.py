"""The typed per-request context: database, caller, loaders."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from classbridge.graph.loaders import Loaders
from classbridge.graph.login_limit import LoginRateLimit
from classbridge.live.bus import EventBus
from classbridge.live.payload import SignInMessage
from classbridge.models import audit
from classbridge.models.aggregator import AggregatorActor
from classbridge.models.db import Database
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.staff import StaffActor
from classbridge.models.tables import AuditActorKind
from classbridge.settings import Settings


class RequestFinished(Exception):
    """A read after the request was closed: work that outlived its request (graphql-core
    settles the siblings of a failed field in the background, a DataLoader batch may
    still be queued) gets no session; its result would be discarded anyway."""


@dataclass
class Context:
    """What every resolver gets.

    Sibling fields resolve concurrently, but an AsyncSession must not be used by two
    tasks at once: every read goes through `read()`, which serializes use of the one
    read session of the request. Never await another read while holding it.

    `close()` takes the same lock, so it waits for a read in progress instead of closing
    the session under it, and refuses reads that come later.
    """

    request: Request | WebSocket
    response: Response | WebSocket | None
    database: Database
    settings: Settings
    staff: StaffActor | None = None
    aggregator: AggregatorActor | None = None
    token: str | None = None
    bus: EventBus[SignInMessage] | None = None
    connection_params: dict[str, object] | None = None  # a WebSocket's connection_init payload
    login_limit: LoginRateLimit | None = None  # brute-force budgets of sign-in (HTTP only)
    _db: AsyncSession | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _closed: bool = field(default=False, init=False)
    _loaders: Loaders | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        pass

    @property
    def loaders(self) -> Loaders:
        """Built on first use: a WebSocket's context (live sign-in, one per dashboard
        socket) never needs them, and nine DataLoaders cost ~8 KiB per socket."""
        if self._loaders is None:
            self._loaders = Loaders(self.read)
        return self._loaders

    def adopt(self, db: AsyncSession) -> None:
        """Read with this session (the one the caller's token was looked up in), before
        any read of the request; it is closed with the request."""
        assert self._db is None, "adopt a session before the first read"
        self._db = db

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """The request's read session, held exclusively for the block."""
        async with self._lock:
            if self._closed:
                raise RequestFinished("the request is finished")
            if self._db is None:
                self._db = self.database.read()
            db = self._db
            try:
                yield db
            except BaseException as exc:
                if not isinstance(exc, Exception):
                    # Cancelled mid-read: graphql-core cancels the siblings of a failed
                    # field. SQLAlchemy has discarded the connection (its state is
                    # unknown); the next read of this request starts a fresh session.
                    self._db = None
                    await asyncio.shield(db.close())
                raise

    def require_staff(self) -> StaffActor:
        if self.staff is None:
            raise DomainError(ErrorCode.UNAUTHENTICATED, "sign in: send Authorization: Bearer")
        return self.staff

    def audit_actor(self) -> audit.AuditActor | None:
        """Who this request's changes are recorded as (None: anonymous, not audited)."""
        if self.staff is not None:
            return audit.AuditActor(
                kind=AuditActorKind.STAFF,
                id=self.staff.user_id,
                label=self.staff.email,  # None: the audit log reads it from the account
                company_id=self.staff.company_id,
            )
        if self.aggregator is not None:
            return audit.AuditActor(
                kind=AuditActorKind.AGGREGATOR,
                id=self.aggregator.token_id,
                label=self.aggregator.aggregator.display_name,
            )
        return None

    def client_address(self) -> str | None:
        """The caller's IP address (behind a proxy: as uvicorn's --proxy-headers set it)."""
        client = self.request.client
        return client.host if client else None

    def require_aggregator(self) -> AggregatorActor:
        if self.aggregator is None:
            raise DomainError(ErrorCode.UNAUTHENTICATED, "send Authorization: Bearer <token>")
        return self.aggregator

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A change: committed atomically; later reads in this request see it."""
        await self.end_read()
        async with self._lock, self.database.transaction() as db:
            audit.act_as(db, self.audit_actor())  # every change is recorded (models/audit.py)
            yield db
        if self._loaders is not None:
            self._loaders.clear()

    async def end_read(self) -> None:
        """Close the read session, so the next read starts a fresh snapshot."""
        async with self._lock:
            await self._close_read()

    async def _close_read(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None

    async def close(self) -> None:
        """End the request: wait for a read in progress, close, refuse later reads."""
        async with self._lock:
            self._closed = True
            await self._close_read()
        self.release()

    def release(self) -> None:
        """Drop what the request's loaders hold (graph/loaders.py `release`)."""
        if self._loaders is not None:
            self._loaders.release()


Info = StrawberryInfo[Context, None]
