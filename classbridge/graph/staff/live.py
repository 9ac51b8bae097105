"""Live sign-in for staff dashboards: GraphQL subscriptions over WebSocket.

Each subscription first subscribes to the event bus, then reads a snapshot, then yields
the snapshot (change SNAPSHOT) and the live events after it. Events queued while the
snapshot was read are dropped when the snapshot already reflects them (their session
`sequence` is not above the snapshot's), and the rest are delivered per session in
sequence order (see live/ordering.py). Nothing is read from the database per event:
messages arrive fully built from the bus.

Live events are multiplexed (live/fanout.py): on a socket (graph/staff/sockets.py hands
each subscription its `LiveOperation`), the subscription joins the render group of its
(document, operation name, variables, company, role) and, after the SNAPSHOT, sends each
event as that group's payload, executed once per event for the whole group, instead of
yielding it to graphql-core for an execution of its own. The SNAPSHOT, refusals and the
final error still take strawberry's ordinary path.
"""

import asyncio
import enum
import inspect
import json
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import strawberry
from graphql import DocumentNode, ExecutionResult, Executor, GraphQLError
from graphql.execution import execute_subscription_event
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from classbridge.graph.context import Info
from classbridge.graph.errors import (
    GRAPHQL_VALIDATION,
    ONLY_SUBSCRIPTIONS,
    SUBSCRIPTIONS_OVER_WEBSOCKET,
)
from classbridge.graph.http import encode_json
from classbridge.graph.ids import parse_id
from classbridge.graph.staff.permissions import AnyStaff
from classbridge.graph.staff.types import (
    Aggregator,
    BookingSource,
    BookingStatus,
    ProductKind,
    SessionCounts,
)
from classbridge.graph.staff.types import CancellationType as CancellationTypeEnum
from classbridge.live import payload
from classbridge.live.bus import BusClosed, EventBus, Subscriber
from classbridge.live.fanout import Rendered
from classbridge.live.ordering import SequenceOrder
from classbridge.models import company as company_model
from classbridge.models import session as session_model
from classbridge.models import staff as staff_model
from classbridge.models import tables
from classbridge.models.db import Database
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.fields import Day
from classbridge.models.sign_in_events import SignInChange as DomainChange
from classbridge.models.validation import check


@strawberry.enum(description="What happened to a sign-in list.")
class SignInChange(enum.Enum):
    SNAPSHOT = strawberry.enum_value(
        "SNAPSHOT", description="The current lists; always the first event of a subscription."
    )
    BOOKED = strawberry.enum_value(DomainChange.BOOKED.value, description="A booking was made.")
    CANCELLED = strawberry.enum_value(
        DomainChange.CANCELLED.value, description="A booking was cancelled."
    )
    CHECKED_IN = strawberry.enum_value(
        DomainChange.CHECKED_IN.value, description="A customer was signed in."
    )
    CHECK_IN_UNDONE = strawberry.enum_value(
        DomainChange.CHECK_IN_UNDONE.value, description="A check-in was taken back."
    )
    NO_SHOW = strawberry.enum_value(
        DomainChange.NO_SHOW.value, description="A booking was marked as no-show."
    )
    SESSION_UPDATED = strawberry.enum_value(
        DomainChange.SESSION_UPDATED.value, description="The session was edited."
    )
    SESSION_CANCELLED = strawberry.enum_value(
        DomainChange.SESSION_CANCELLED.value,
        description="The session was cancelled, and with it every live booking.",
    )
    PROMOTED = strawberry.enum_value(
        DomainChange.PROMOTED.value,
        description="A freed spot went to the first in line on the waitlist: a booking was "
        "made from a waitlist entry.",
    )
    WAITLIST_CHANGED = strawberry.enum_value(
        DomainChange.WAITLIST_CHANGED.value,
        description="Someone joined or left the waitlist, or its entries expired "
        "(query signInList's waitlist).",
    )


@strawberry.type(description="A customer as the sign-in list shows them.")
class SignInCustomer:
    state: strawberry.Private[payload.CustomerState]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.state.id))

    @strawberry.field
    def first_name(self) -> str:
        return self.state.first_name

    @strawberry.field
    def last_name(self) -> str:
        return self.state.last_name


@strawberry.type(description="The product a booking uses.")
class SignInProduct:
    state: strawberry.Private[payload.ProductState]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.state.id))

    @strawberry.field
    def name(self) -> str:
        return self.state.name

    @strawberry.field
    def kind(self) -> ProductKind:
        return ProductKind(self.state.kind)


@strawberry.type(description="One line of a sign-in list.")
class SignInBooking:
    state: strawberry.Private[payload.BookingState]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.state.id))

    @strawberry.field
    def session_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.state.session_id))

    @strawberry.field
    def status(self) -> BookingStatus:
        return BookingStatus(self.state.status)

    @strawberry.field
    def source(self) -> BookingSource:
        return BookingSource(self.state.source)

    @strawberry.field(description="Set when source is AGGREGATOR.")
    def aggregator(self) -> Aggregator | None:
        return Aggregator(self.state.aggregator) if self.state.aggregator else None

    @strawberry.field
    def cancellation_type(self) -> CancellationTypeEnum:
        return CancellationTypeEnum(self.state.cancellation_type)

    @strawberry.field
    def booked_at(self) -> datetime:
        return self.state.booked_at

    @strawberry.field
    def cancelled_at(self) -> datetime | None:
        return self.state.cancelled_at

    @strawberry.field
    def checked_in_at(self) -> datetime | None:
        return self.state.checked_in_at

    @strawberry.field
    def customer(self) -> SignInCustomer:
        return SignInCustomer(state=self.state.customer)

    @strawberry.field
    def product(self) -> SignInProduct:
        return SignInProduct(state=self.state.product)


@strawberry.type(description="A session as the sign-in board shows it, with its counts.")
class SignInSession:
    state: strawberry.Private[payload.SessionState]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.state.id))

    @strawberry.field
    def venue_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.state.venue_id))

    @strawberry.field
    def activity_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.state.activity_id))

    @strawberry.field
    def activity_name(self) -> str:
        return self.state.activity_name

    @strawberry.field(description="Start in UTC.")
    def starts_at(self) -> datetime:
        return self.state.starts_at

    @strawberry.field(description="End in UTC.")
    def ends_at(self) -> datetime:
        return self.state.ends_at

    @strawberry.field(description="Start in venue-local time with offset.")
    def local_start(self) -> str:
        return self.state.local_start

    @strawberry.field(description="End in venue-local time with offset.")
    def local_end(self) -> str:
        return self.state.local_end

    @strawberry.field(description="The venue-local date it starts on (its day board).")
    def local_date(self) -> date:
        return self.state.local_date

    @strawberry.field
    def room(self) -> str | None:
        return self.state.room

    @strawberry.field
    def teacher(self) -> str | None:
        return self.state.teacher

    @strawberry.field
    def is_cancelled(self) -> bool:
        return self.state.is_cancelled

    @strawberry.field
    def cancellation_reason(self) -> str | None:
        return self.state.cancellation_reason

    @strawberry.field(
        description="Sign-in sequence number: grows by one with every change of this "
        "session's list, in commit order. Events arrive in this order; on a SNAPSHOT it is "
        "the number the lists reflect."
    )
    def sequence(self) -> int:
        return self.state.sequence

    @strawberry.field
    def counts(self) -> SessionCounts:
        c = self.state.counts
        return SessionCounts(
            booked=c.booked,
            capacity=c.capacity,
            available=c.available,
            checked_in=c.checked_in,
            aggregator_booked=c.aggregator_booked,
            aggregator_limit=c.aggregator_limit,
        )


@strawberry.type(description="A session with its whole sign-in list.")
class SignInSessionList:
    state: strawberry.Private[payload.SessionList]

    @strawberry.field
    def session(self) -> SignInSession:
        return SignInSession(state=self.state.session)

    @strawberry.field(description="Every booking (all statuses), ordered by customer name.")
    def bookings(self) -> list[SignInBooking]:
        return [SignInBooking(state=b) for b in self.state.bookings]


@strawberry.type(description="One live sign-in event.")
class SignInUpdate:
    change: SignInChange = strawberry.field(description="What happened.")
    occurred_at: datetime = strawberry.field(description="When the event was published.")
    session: SignInSession | None = strawberry.field(
        description="The session the change is about, after the change; on a SNAPSHOT of "
        "signInUpdates the session itself, on a venue SNAPSHOT null."
    )
    booking: SignInBooking | None = strawberry.field(
        description="The booking that changed; null for session changes and snapshots."
    )
    sessions: list[SignInSessionList] = strawberry.field(
        description="SNAPSHOT only: every session of the subscription with its bookings; "
        "empty on other events."
    )
    moved_from_date: date | None = strawberry.field(
        description="SESSION_UPDATED that moved the session to another day: the venue-local "
        "date it left. A day board of that date gets this event too and drops the session."
    )

    @classmethod
    def of(cls, message: payload.SignInMessage) -> "SignInUpdate":
        return cls(
            change=SignInChange(message.change),
            occurred_at=message.occurred_at,
            session=SignInSession(state=message.session),
            booking=SignInBooking(state=message.booking) if message.booking else None,
            sessions=[],
            moved_from_date=message.moved_from_date,
        )


class OnlySubscriptionsOverWebSocket(SchemaExtension):
    """Queries and mutations go over HTTP: a WebSocket's context lives as long as the
    socket, and a read session or DataLoader cache held that long would go stale. And
    subscriptions go over WebSocket: over HTTP there is no stream to send events on."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        over_websocket = isinstance(ctx.context.request, WebSocket)
        subscription = ctx.operation_type is OperationType.SUBSCRIPTION
        if over_websocket and not subscription:
            raise GraphQLError(ONLY_SUBSCRIPTIONS, extensions={"code": GRAPHQL_VALIDATION})
        if subscription and not over_websocket:
            raise GraphQLError(
                SUBSCRIPTIONS_OVER_WEBSOCKET, extensions={"code": GRAPHQL_VALIDATION}
            )
        yield


log = logging.getLogger("classbridge.live")

# Close code for a socket that fell too far behind (CLASSBRIDGE_LIVE_QUEUE_SIZE events).
SLOW_CONSUMER_CLOSE = 4008


@dataclass(slots=True)
class LiveOperation:
    """The socket side of one subscription, set by the WebSocket handler while it starts
    the operation (a context variable, which the operation's task inherits)."""

    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    send_payload: Callable[[str], Awaitable[None]]
    """Sends a serialized result (`{"data": …}`) as this operation's next/data frame."""
    close_socket: Callable[[int, str], Coroutine[Any, Any, None]]


CURRENT_OPERATION: ContextVar[LiveOperation | None] = ContextVar(
    "classbridge_live_operation", default=None
)


def _key(message: payload.SignInMessage) -> tuple[uuid.UUID, int]:
    return message.session.id, message.sequence


SnapshotReader = Callable[[], Awaitable[list[payload.SessionList]]]


async def _authorized(info: Info) -> staff_model.StaffActor:
    """The signed-in staff member; a token revoked since the socket opened is refused."""
    actor = info.context.require_staff()
    token = info.context.token
    if token is not None:
        async with info.context.database.read() as db:
            if await staff_model.authenticate(db=db, token=token) is None:
                raise DomainError(ErrorCode.UNAUTHENTICATED, "the token was revoked or expired")
    return actor


def _bus(info: Info) -> EventBus[payload.SignInMessage]:
    if info.context.bus is None:
        raise DomainError(ErrorCode.LIVE_UNAVAILABLE, "live updates are not enabled")
    return info.context.bus


async def _live(
    info: Info, topic: str, snapshot: SnapshotReader, *, single: bool
) -> AsyncGenerator[SignInUpdate, None]:
    bus = _bus(info)
    # Subscribe before reading the snapshot: an event committed while we read is queued
    # and either reflected by the snapshot (dropped by sequence) or delivered after it.
    sub = await bus.subscribe(topic)
    try:
        lists = await snapshot()
        order: SequenceOrder[payload.SignInMessage] = SequenceOrder(
            {entry.session.id: entry.session.sequence for entry in lists},
            key=_key,
            wait=info.context.settings.live_gap_wait_seconds,
        )
        first = SignInUpdate(
            change=SignInChange.SNAPSHOT,
            occurred_at=datetime.now(UTC),
            session=SignInSession(state=lists[0].session) if single and lists else None,
            booking=None,
            sessions=[SignInSessionList(state=entry) for entry in lists],
            moved_from_date=None,
        )
        yield first
        # Sent. graphql-core and strawberry keep the last event referenced while they wait
        # for the next one: a dashboard must not hold its whole snapshot for hours.
        first.session, first.sessions = None, []
        del first, lists
        operation = CURRENT_OPERATION.get()
        if operation is not None and info.context.settings.live_multiplex:
            await _fan_out(info, bus, sub, order, operation)
            return
        while True:
            for item in await _next_ready(sub, order):
                yield SignInUpdate.of(item)
    except BusClosed as exc:
        raise DomainError(exc.code, exc.message) from None
    finally:
        sub.on_close = None
        await bus.unsubscribe(sub)


async def _next_ready(
    sub: Subscriber[payload.SignInMessage], order: SequenceOrder[payload.SignInMessage]
) -> list[payload.SignInMessage]:
    """The events that may be delivered next, in sequence order (perhaps none)."""
    message = await sub.get(within=order.wait_time())
    if message is None:
        return order.expire()
    if message.moved_from_date is not None and not order.knows(message.session.id):
        # Moved in from another day: not in our snapshot, its numbers go on.
        order.start_at(message.session.id, message.sequence - 1)
    return order.push(message)


async def _fan_out(
    info: Info,
    bus: EventBus[payload.SignInMessage],
    sub: Subscriber[payload.SignInMessage],
    order: SequenceOrder[payload.SignInMessage],
    operation: LiveOperation,
) -> None:
    """Send the live events as the render group's shared payloads, until the bus ends
    the subscription (BusClosed) or the operation is cancelled (complete, disconnect)."""
    actor = info.context.require_staff()
    # Whatever the result may depend on: the document, the variables and the caller's
    # scope. The fields of SignInUpdate read only the message; authorization (company,
    # token) happened when this subscriber subscribed and its token stays watched.
    key = (
        operation.query,
        operation.operation_name,
        json.dumps(operation.variables or {}, sort_keys=True, default=str),
        actor.company_id,
        actor.role,
    )
    group = bus.multiplexer.join(key, lambda: _group_renderer(info, operation))
    closing: list[asyncio.Task[None]] = []

    def on_close(code: ErrorCode) -> None:
        # A consumer that fell behind is usually stuck writing to its socket: close the
        # socket now, with a clear code, rather than wait until it reads again.
        if code is ErrorCode.SLOW_CONSUMER:
            closing.append(
                asyncio.create_task(
                    operation.close_socket(
                        SLOW_CONSUMER_CLOSE, "SLOW_CONSUMER: too many live events waiting"
                    )
                )
            )

    sub.on_close = on_close
    try:
        while True:
            for item in await _next_ready(sub, order):
                await operation.send_payload(await group.render(item))
    except BusClosed as exc:
        if exc.code is not ErrorCode.SLOW_CONSUMER or not closing:
            raise
        await closing[0]
        # The socket is closing: its handler cancels this operation once it is closed.
        await asyncio.get_running_loop().create_future()
    finally:
        bus.multiplexer.leave(group)


def _group_renderer(
    info: Info, operation: LiveOperation
) -> Callable[[payload.SignInMessage], Rendered]:
    """Executes the subscriber's document over one message; built once per group."""
    raw = info._raw_info  # graphql-core's info: the parsed operation and its fragments
    document = DocumentNode(definitions=(raw.operation, *raw.fragments.values()))
    executor = Executor.build(
        raw.schema,
        document,
        context_value=info.context,  # unused by SignInUpdate's fields; same scope anyway
        raw_variable_values=operation.variables,
        operation_name=operation.operation_name,
    )
    strawberry_schema = info.schema

    def serialized(result: ExecutionResult) -> str:
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            strawberry_schema.process_errors(list(result.errors))
            body["errors"] = [error.formatted for error in result.errors]
        return encode_json(body)

    def failed(exc: Exception) -> str:
        log.exception("executing a live event failed", exc_info=exc)
        return serialized(ExecutionResult(None, [GraphQLError(str(exc), original_error=exc)]))

    async def finish(pending: Awaitable[ExecutionResult]) -> str:
        try:
            return serialized(await pending)
        except Exception as exc:
            return failed(exc)

    def render(message: payload.SignInMessage) -> Rendered:
        if isinstance(executor, list):  # variables that no longer coerce: cannot happen
            return serialized(ExecutionResult(None, executor))
        try:
            result = execute_subscription_event(
                executor.build_per_event_executor(SignInUpdate.of(message))
            )
        except Exception as exc:  # an error stays within this group
            return failed(exc)
        if inspect.isawaitable(result):
            return finish(result)
        return serialized(result)

    return render


SessionLoader = Callable[[AsyncSession], Awaitable[list[tables.ClassSession]]]


async def _read_lists(database: Database, load: SessionLoader) -> list[payload.SessionList]:
    """The snapshot: the sessions and their lists, read as one consistent snapshot."""
    async with database.read() as db:
        await payload.consistent_snapshot(db)
        sessions = await load(db)
        return await payload.read_session_lists(db=db, sessions=sessions)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        permission_classes=[AnyStaff],
        description="Live sign-in list of one session: a SNAPSHOT first, then one event per "
        "booking made, cancelled, checked in, check-in undone or marked no-show, and per "
        "edit or cancellation of the session, in commit order.",
    )
    async def sign_in_updates(
        self, info: Info, session_id: strawberry.ID
    ) -> AsyncGenerator[SignInUpdate, None]:
        actor = await _authorized(info)
        sid = parse_id(session_id, field="sessionId")
        async with info.context.database.read() as db:
            await session_model.get_class_session(
                db=db, company_id=actor.company_id, session_id=sid
            )

        async def load(db: AsyncSession) -> list[tables.ClassSession]:
            return [
                await session_model.get_class_session(
                    db=db, company_id=actor.company_id, session_id=sid
                )
            ]

        return _live(
            info,
            payload.session_topic(sid),
            lambda: _read_lists(info.context.database, load),
            single=True,
        )

    @strawberry.subscription(
        permission_classes=[AnyStaff],
        description="Live day board of a venue: every session that starts on `date` (venue-"
        "local), as a SNAPSHOT first and then the events of all of them.",
    )
    async def venue_sign_in_updates(
        self, info: Info, venue_id: strawberry.ID, date: date
    ) -> AsyncGenerator[SignInUpdate, None]:
        actor = await _authorized(info)
        vid = parse_id(venue_id, field="venueId")
        day = check(Day, date, name="date")
        async with info.context.database.read() as db:
            venue = await company_model.get_venue(db=db, company_id=actor.company_id, venue_id=vid)

        async def load(db: AsyncSession) -> list[tables.ClassSession]:
            return await payload.sessions_on_day(
                db=db, company_id=actor.company_id, venue=venue, day=day
            )

        return _live(
            info,
            payload.venue_topic(vid, day),
            lambda: _read_lists(info.context.database, load),
            single=False,
        )
