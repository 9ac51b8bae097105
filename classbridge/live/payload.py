"""What a live sign-in event carries, built once per event from the database.

A message is self-contained: the change, the session (with its counts) and the affected
booking (with customer and product), so a dashboard renders it without refetching and a
server process fans it out without touching the database again.
"""

import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.booking import (
    SIGN_IN_ORDER,
    BookingCounts,
    booking_counts,
    spot_counts,
)
from classbridge.models.db import in_transaction, rows_by_id
from classbridge.models.localtime import utc_to_local
from classbridge.models.session import effective_rules, on_local_days
from classbridge.models.sign_in_events import SignInEvent
from classbridge.models.tables import Activity, Booking, ClassSession, Customer, Product, Venue


class _State(BaseModel):
    model_config = ConfigDict(frozen=True)


class CountsState(_State):
    booked: int
    capacity: int | None
    available: int | None
    checked_in: int
    aggregator_booked: int
    aggregator_limit: int | None


class SessionState(_State):
    id: uuid.UUID
    company_id: uuid.UUID
    venue_id: uuid.UUID
    activity_id: uuid.UUID
    activity_name: str
    starts_at: datetime
    ends_at: datetime
    local_start: str
    local_end: str
    local_date: date
    room: str | None
    teacher: str | None
    is_cancelled: bool
    cancellation_reason: str | None
    sequence: int
    counts: CountsState


class CustomerState(_State):
    id: uuid.UUID
    first_name: str
    last_name: str


class ProductState(_State):
    id: uuid.UUID
    name: str
    kind: str


class BookingState(_State):
    id: uuid.UUID
    session_id: uuid.UUID
    status: str
    source: str
    aggregator: str | None
    cancellation_type: str
    booked_at: datetime
    cancelled_at: datetime | None
    checked_in_at: datetime | None
    customer: CustomerState
    product: ProductState


class SessionList(_State):
    session: SessionState
    bookings: list[BookingState]


class SignInMessage(_State):
    """One event on the bus: what happened to which session, and its state afterwards."""

    change: str
    session: SessionState
    booking: BookingState | None
    occurred_at: datetime
    moved_from_date: date | None = None
    """SESSION_UPDATED that moved the session to another day: the venue-local date it left."""

    @property
    def sequence(self) -> int:
        return self.session.sequence


def encode(message: SignInMessage) -> str:
    return message.model_dump_json()


def decode(data: bytes) -> SignInMessage:
    return SignInMessage.model_validate_json(data)


# -- topics ------------------------------------------------------------------------------


def session_topic(session_id: uuid.UUID) -> str:
    return f"session:{session_id}"


def venue_prefix(venue_id: uuid.UUID) -> str:
    return f"venue:{venue_id}:"


def venue_topic(venue_id: uuid.UUID, day: date) -> str:
    """All sessions of a venue that start on a venue-local date."""
    return f"{venue_prefix(venue_id)}{day.isoformat()}"


def topics_of(message: SignInMessage) -> list[str]:
    """The session's topic and its venue day's; a session moved to another day is also
    announced on the day it left, so that board can drop it."""
    s = message.session
    topics = [session_topic(s.id), venue_topic(s.venue_id, s.local_date)]
    if message.moved_from_date is not None and message.moved_from_date != s.local_date:
        topics.append(venue_topic(s.venue_id, message.moved_from_date))
    return topics


# -- reading state -----------------------------------------------------------------------


async def consistent_snapshot(db: AsyncSession) -> None:
    """Make the session's following reads one snapshot (PostgreSQL: REPEATABLE READ).

    SQLite needs nothing: a read transaction in WAL mode sees one snapshot from its first
    read. Call before the first statement.
    """
    await in_transaction(db, "REPEATABLE READ")


def _counts(session: ClassSession, activity: Activity, counts: BookingCounts) -> CountsState:
    return CountsState(**asdict(spot_counts(effective_rules(session, activity), counts)))


def _session_state(
    session: ClassSession, activity: Activity, venue: Venue, counts: BookingCounts, sequence: int
) -> SessionState:
    local_start = utc_to_local(session.starts_at, venue.zone)
    return SessionState(
        id=session.id,
        company_id=session.company_id,
        venue_id=session.venue_id,
        activity_id=session.activity_id,
        activity_name=activity.name,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        local_start=local_start.isoformat(),
        local_end=utc_to_local(session.ends_at, venue.zone).isoformat(),
        local_date=local_start.date(),
        room=session.room,
        teacher=session.teacher,
        is_cancelled=session.is_cancelled,
        cancellation_reason=session.cancellation_reason,
        sequence=sequence,
        counts=_counts(session, activity, counts),
    )


def _booking_state(booking: Booking, customer: Customer, product: Product) -> BookingState:
    return BookingState(
        id=booking.id,
        session_id=booking.session_id,
        status=booking.status.value,
        source=booking.source.value,
        aggregator=booking.aggregator.value if booking.aggregator else None,
        cancellation_type=booking.cancellation_type.value,
        booked_at=booking.booked_at,
        cancelled_at=booking.cancelled_at,
        checked_in_at=booking.checked_in_at,
        customer=CustomerState(
            id=customer.id, first_name=customer.first_name, last_name=customer.last_name
        ),
        product=ProductState(id=product.id, name=product.name, kind=product.kind.value),
    )


async def _bookings(
    db: AsyncSession,
    *,
    session_ids: list[uuid.UUID] | None = None,
    ids: list[uuid.UUID] | None = None,
) -> list[BookingState]:
    """Bookings with customer and product, in sign-in list order (customer name)."""
    stmt = (
        select(Booking, Customer, Product)
        .join(Customer, col(Customer.id) == Booking.customer_id)
        .join(Product, col(Product.id) == Booking.product_id)
        .order_by(*SIGN_IN_ORDER)
    )
    if session_ids is not None:
        stmt = stmt.where(col(Booking.session_id).in_(session_ids))
    if ids is not None:
        stmt = stmt.where(col(Booking.id).in_(ids))
    rows = await db.execute(stmt)
    return [_booking_state(b, c, p) for b, c, p in rows]


async def _session_states(
    db: AsyncSession, sessions: list[ClassSession], sequences: dict[uuid.UUID, int] | None = None
) -> dict[uuid.UUID, SessionState]:
    activities = await rows_by_id(db, Activity, (s.activity_id for s in sessions))
    venues = await rows_by_id(db, Venue, (s.venue_id for s in sessions))
    counts = await booking_counts(db=db, session_ids=[s.id for s in sessions])
    return {
        s.id: _session_state(
            s,
            activities[s.activity_id],
            venues[s.venue_id],
            counts[s.id],
            (sequences or {}).get(s.id, s.sign_in_seq),
        )
        for s in sessions
    }


async def build_messages(*, db: AsyncSession, events: list[SignInEvent]) -> list[SignInMessage]:
    """The bus messages of committed events, with a few queries for all of them together.

    The state is read after the commit, so under concurrent changes it may already include
    a later change of the same session; the event's own `sequence` still says where it
    belongs, and the last event of a burst always carries the latest state.
    """
    await consistent_snapshot(db)
    sessions = await rows_by_id(db, ClassSession, (e.session_id for e in events))
    states = await _session_states(db, list(sessions.values()))
    bookings = {
        b.id: b for b in await _bookings(db, ids=[e.booking_id for e in events if e.booking_id])
    }
    venues = await rows_by_id(db, Venue, (e.venue_id for e in events if e.moved_from))
    now = datetime.now(UTC)
    messages = []
    for event in events:
        state = states.get(event.session_id)
        if state is None:  # deleted since; nothing left to show
            continue
        venue = venues.get(event.venue_id)
        messages.append(
            SignInMessage(
                change=event.change.value,
                session=state.model_copy(update={"sequence": event.sequence}),
                booking=bookings.get(event.booking_id) if event.booking_id else None,
                occurred_at=now,
                moved_from_date=(
                    utc_to_local(event.moved_from, venue.zone).date()
                    if event.moved_from and venue is not None
                    else None
                ),
            )
        )
    return messages


async def read_session_lists(
    *, db: AsyncSession, sessions: list[ClassSession]
) -> list[SessionList]:
    """Sign-in lists (sessions in start order, bookings by name) as one snapshot."""
    sessions = sorted(sessions, key=lambda s: (s.starts_at, s.id))
    states = await _session_states(db, sessions)
    grouped: dict[uuid.UUID, list[BookingState]] = {s.id: [] for s in sessions}
    if sessions:
        for booking in await _bookings(db, session_ids=list(grouped)):
            grouped[booking.session_id].append(booking)
    return [SessionList(session=states[s.id], bookings=grouped[s.id]) for s in sessions]


async def sessions_on_day(
    *, db: AsyncSession, company_id: uuid.UUID, venue: Venue, day: date
) -> list[ClassSession]:
    """A venue's sessions (cancelled ones too) that start on a venue-local date."""
    rows = await db.scalars(
        select(ClassSession).where(
            col(ClassSession.company_id) == company_id, on_local_days(venue, day, day)
        )
    )
    return list(rows)
