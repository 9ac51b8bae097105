"""Staff visibility of the push to aggregators: "is my change on Wellpass yet?"."""

from datetime import datetime

import strawberry

from classbridge.graph.context import Info
from classbridge.graph.ids import parse_id
from classbridge.graph.staff.permissions import AnyStaff
from classbridge.graph.staff.types import Aggregator, ExtensionStatus, Session
from classbridge.models import push as push_model
from classbridge.models import session as session_model
from classbridge.models import tables
from classbridge.models.errors import invalid

strawberry.enum(tables.PushState, description="What an aggregator was told.")
PushState = tables.PushState
MAX_FAILED = 100


@strawberry.type(description="A session whose push to an aggregator gave up for now.")
class FailedPush:
    row: strawberry.Private[tables.PushDelivery]

    @strawberry.field
    async def session(self, info: Info) -> Session:
        row = await info.context.loaders.session.load(self.row.session_id)
        assert row is not None
        return Session(row=row)

    @strawberry.field
    def failed_at(self) -> datetime:
        assert self.row.failed_at is not None
        return self.row.failed_at

    @strawberry.field(description="Attempts before it was marked failed.")
    def attempts(self) -> int:
        return self.row.attempts

    @strawberry.field(description="What the aggregator (or the network) answered last.")
    def last_error(self) -> str | None:
        return self.row.last_error


@strawberry.type(description="Push health of one aggregator connection.")
class AggregatorSync:
    aggregator: Aggregator
    status: ExtensionStatus
    last_successful_push_at: datetime | None = strawberry.field(
        description="When the aggregator last acknowledged a session state."
    )
    items_pending: int = strawberry.field(description="Sessions whose newest state is on its way.")
    items_failed: int = strawberry.field(
        description="Sessions that failed; the next reconciliation (every 30 min) retries them."
    )
    events_pending: int = strawberry.field(
        description="Reservation and waitlist events on their way: what the studio did to "
        "the aggregator's members' bookings and waitlist entries (a cancelled session, a "
        "promotion, a no-show)."
    )
    events_failed: int = strawberry.field(
        description="Such events the aggregator refused; the next reconciliation retries them."
    )

    @strawberry.field(description="The failed items with their last error, newest first.")
    async def failed_items(self, info: Info, first: int = 20) -> list[FailedPush]:
        actor = info.context.require_staff()
        if not 1 <= first <= MAX_FAILED:
            raise invalid(f"first must be between 1 and {MAX_FAILED}", loc=("first",))
        async with info.context.read() as db:
            rows = await push_model.failed_deliveries(
                db=db, company_id=actor.company_id, aggregator=self.aggregator, limit=first
            )
        return [FailedPush(row=r) for r in rows]


@strawberry.type(description="Where one session's newest state stands at one aggregator.")
class SessionPush:
    row: strawberry.Private[tables.PushDelivery]
    current_version: strawberry.Private[int]
    owed: strawberry.Private[bool]

    @strawberry.field
    def aggregator(self) -> Aggregator:
        return self.row.aggregator

    @strawberry.field(description="The last version the aggregator acknowledged.")
    def acknowledged_version(self) -> int | None:
        return self.row.acked_version

    @strawberry.field(description="When it acknowledged it.")
    def acknowledged_at(self) -> datetime | None:
        return self.row.acked_at

    @strawberry.field(description="What it was told (NOT_OFFERED: nothing needed telling).")
    def state(self) -> PushState | None:
        return self.row.acked_state

    @strawberry.field(description="True when the aggregator has the session's current version.")
    def up_to_date(self) -> bool:
        return self.row.acked_version == self.current_version and not self.owed

    @strawberry.field(description="A newer state is on its way (also while still coalescing).")
    def pending(self) -> bool:
        return self.owed

    @strawberry.field
    def failed(self) -> bool:
        return self.row.failed_at is not None

    @strawberry.field
    def last_error(self) -> str | None:
        return self.row.last_error


@strawberry.type(description="A session's version and where it stands at each aggregator.")
class SessionSync:
    session: Session
    version: int = strawberry.field(description="The session's current version.")
    aggregators: list[SessionPush]


@strawberry.type
class SyncQuery:
    @strawberry.field(
        description="Per aggregator connection: last push, pending, failed.",
        permission_classes=[AnyStaff],
    )
    async def aggregator_sync(self, info: Info) -> list[AggregatorSync]:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            rows = await push_model.connection_sync(db=db, company_id=actor.company_id)
        return [
            AggregatorSync(
                aggregator=r.aggregator,
                status=r.status,
                last_successful_push_at=r.last_acked_at,
                items_pending=r.pending,
                items_failed=r.failed,
                events_pending=r.events_pending,
                events_failed=r.events_failed,
            )
            for r in rows
        ]

    @strawberry.field(
        description='"Is my change on Wellpass yet?" for one session.',
        permission_classes=[AnyStaff],
    )
    async def session_sync(self, info: Info, session_id: strawberry.ID) -> SessionSync:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            session = await session_model.get_class_session(
                db=db, company_id=actor.company_id, session_id=parse_id(session_id)
            )
            statuses = await push_model.session_sync(db=db, session=session)
        return SessionSync(
            session=Session(row=session),
            version=session.version,
            aggregators=[
                SessionPush(row=s.row, current_version=session.version, owed=s.pending)
                for s in statuses
            ],
        )
