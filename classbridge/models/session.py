"""Sessions (class sessions): scheduling, editing, finding and locking them, and the
registration rules in force for each. Cancelling one: models/session_cancellation.py."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.activity import get_activity
from classbridge.models.base import utcnow
from classbridge.models.company import get_venue
from classbridge.models.db import records
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.inputs.session import SessionEdit, SessionFilter, SessionSchedule
from classbridge.models.keyset import after_key
from classbridge.models.localtime import SkippedLocalTime, day_start, local_to_utc, utc_to_local
from classbridge.models.outbox import add_outbox_items, touch_session
from classbridge.models.sign_in_events import SignInChange, record_sign_in_event
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.company import Venue
from classbridge.models.tables.outbox import OutboxKind
from classbridge.models.tables.session import AggregatorMode, ClassSession, SessionSeries

MAX_SESSIONS_PER_SCHEDULE = 366
MAX_SCHEDULE_DAYS = 2 * 366


@dataclass(frozen=True)
class SessionRules:
    """A session's effective rules: its own overrides, else its activity's."""

    capacity: int | None
    aggregator_allowed: bool
    aggregator_limit: int | None
    booking_opens_at: datetime | None
    booking_closes_at: datetime
    free_cancellation_until: datetime
    waitlist_size: int = 0
    """0: no waitlist."""


class SessionTerms(Protocol):
    """What a session's rules and offer are made of: a `ClassSession`, or a plain row of
    these columns (models/offer.py reads thousands of them)."""

    id: uuid.UUID
    company_id: uuid.UUID
    activity_id: uuid.UUID
    venue_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    room: str | None
    teacher: str | None
    capacity_override: int | None
    aggregator_mode: AggregatorMode
    aggregator_allowed: bool
    aggregator_limit: int | None
    waitlist_size_override: int | None
    cancelled_at: datetime | None
    version: int
    updated_at: datetime


class SessionRow(SessionTerms, Protocol):
    """What a session's page shows: a `ClassSession`, or a plain row of its columns
    (`list_sessions` reads those, as `db.records`: a schedule page of 100 sessions only
    shows them, and an ORM entity costs ~10 µs more to build and ~0.6 µs more per
    attribute read)."""

    series_id: uuid.UUID | None
    cancellation_reason: str | None


def effective_rules(session: SessionTerms, activity: Activity) -> SessionRules:
    # Each attribute read once: a mapped attribute's read costs about 0.6 µs, and a
    # schedule page works out the rules of a hundred sessions.
    capacity = session.capacity_override
    if capacity is None:
        capacity = activity.max_participants
    if session.aggregator_mode is AggregatorMode.INDIVIDUAL:
        allowed, limit = session.aggregator_allowed, session.aggregator_limit
    else:
        allowed, limit = activity.allow_aggregator_bookings, activity.aggregator_limit
    starts_at = session.starts_at
    opens_minutes = activity.booking_opens_minutes
    closes_minutes = activity.booking_closes_minutes
    waitlist_size = session.waitlist_size_override
    return SessionRules(
        capacity=capacity,
        aggregator_allowed=allowed,
        aggregator_limit=limit,
        booking_opens_at=(
            None if opens_minutes is None else starts_at - timedelta(minutes=opens_minutes)
        ),
        booking_closes_at=(
            session.ends_at
            if closes_minutes is None
            else starts_at - timedelta(minutes=closes_minutes)
        ),
        free_cancellation_until=starts_at - timedelta(minutes=activity.free_cancellation_minutes),
        waitlist_size=activity.waitlist_size if waitlist_size is None else waitlist_size,
    )


async def get_class_session(
    *, db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID
) -> ClassSession:
    """A session of this company; another company's is reported as not found."""
    session = await db.get(ClassSession, session_id)
    if session is None or session.company_id != company_id:
        raise not_found("session")
    return session


_SESSION_WITH_ACTIVITY_AND_VENUE = (
    select(ClassSession, Activity, Venue)
    .join(Activity, col(Activity.id) == ClassSession.activity_id)
    .join(Venue, col(Venue.id) == ClassSession.venue_id)
    .where(
        ClassSession.id == sa.bindparam("session_id"),
        ClassSession.company_id == sa.bindparam("company_id"),
    )
)
"""Built once (`db.any_of_bound` says why)."""


async def get_session_with_activity_and_venue(
    *, db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[ClassSession, Activity, Venue]:
    """A session of this company with its activity and venue, in one statement (what a
    sign-in list shows with it); another company's is reported as not found."""
    found = (
        await db.execute(
            _SESSION_WITH_ACTIVITY_AND_VENUE, {"session_id": session_id, "company_id": company_id}
        )
    ).first()
    if found is None:
        raise not_found("session")
    session, activity, venue = found
    return session, activity, venue


async def lock_class_session(*, db: AsyncSession, session_id: uuid.UUID) -> ClassSession | None:
    """Load a session holding its row lock until commit.

    Every change to a session's bookings takes this lock first, so capacity checks and
    the insert that follows cannot interleave. PostgreSQL locks the row (FOR UPDATE);
    SQLite's write transactions are already exclusive (BEGIN IMMEDIATE, see db.py).
    """
    return await db.scalar(
        select(ClassSession)
        .where(ClassSession.id == session_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def lock_own_class_session(
    *, db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID
) -> ClassSession:
    """`lock_class_session` for a session of this company (others: not found)."""
    session = await lock_class_session(db=db, session_id=session_id)
    if session is None or session.company_id != company_id:
        raise not_found("session")
    return session


DEFAULT_SERIES_HORIZON_DAYS = 90
"""How far ahead a series without `until` is scheduled (the APIs pass
CLASSBRIDGE_SERIES_HORIZON_DAYS)."""


def weekly_days(first: date, last: date, weekdays: set[int]) -> list[date]:
    """Every day from `first` to `last` (inclusive) that falls on one of the ISO weekdays."""
    return [
        first + timedelta(days=i)
        for i in range((last - first).days + 1)
        if (first + timedelta(days=i)).isoweekday() in weekdays
    ]


def local_today(venue: Venue) -> date:
    return utc_to_local(utcnow(), venue.zone).date()


def _occurrence_dates(schedule: SessionSchedule, venue: Venue, horizon_days: int) -> list[date]:
    first = schedule.start.date()
    repeat = schedule.repeat
    if repeat is None:
        return [first]
    if repeat.until is None:  # rolling: as far as the horizon reaches today
        last = local_today(venue) + timedelta(days=horizon_days)
        if last < first:
            raise repeat.refuse(
                "until", f"without an end, the first session must lie within {horizon_days} days"
            )
    else:
        last = repeat.until
    if last < first:
        raise repeat.refuse("until", "the repeat must not end before the first date")
    if (last - first).days > MAX_SCHEDULE_DAYS:
        raise repeat.refuse("until", f"a schedule may span at most {MAX_SCHEDULE_DAYS} days")
    days = weekly_days(first, last, set(repeat.weekdays))
    if len(days) > MAX_SESSIONS_PER_SCHEDULE:
        raise repeat.refuse("until", f"at most {MAX_SESSIONS_PER_SCHEDULE} sessions at once")
    if not days:
        raise repeat.refuse("weekdays", "no chosen weekday falls in that period")
    return days


def _future_start(
    local: datetime, venue: Venue, *, asked: SessionSchedule | SessionEdit
) -> datetime:
    """The UTC start of a venue-local time, refused where it does not exist or has passed."""
    try:
        starts_at = local_to_utc(local, venue.zone)
    except SkippedLocalTime as exc:
        raise asked.refuse("start", str(exc)) from None
    if starts_at <= utcnow():
        raise asked.refuse("start", f"{local:%Y-%m-%d %H:%M} lies in the past")
    return starts_at


async def schedule_sessions(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    schedule: SessionSchedule,
    horizon_days: int = DEFAULT_SERIES_HORIZON_DAYS,
) -> list[ClassSession]:
    """Schedule one session, or one on each chosen ISO weekday (1=Mon) until a date; a
    repeat forms a `SessionSeries`. Without `until` the series is scheduled `horizon_days`
    ahead and a periodic job extends it (models/series.py).

    Times are venue-local wall-clock times: a weekly 18:00 class stays at 18:00 across
    daylight-saving changes.
    """
    activity = await get_activity(db=db, company_id=company_id, activity_id=schedule.activity_id)
    if activity.archived:
        raise DomainError(ErrorCode.INVALID_STATE, "the activity is archived")
    venue = await get_venue(db=db, company_id=company_id, venue_id=schedule.venue_id)
    duration_minutes = schedule.duration_minutes or activity.default_duration_minutes
    days = _occurrence_dates(schedule, venue, horizon_days)
    series = None
    if schedule.repeat is not None:
        repeat = schedule.repeat
        series = SessionSeries(
            company_id=company_id,
            activity_id=activity.id,
            venue_id=venue.id,
            weekdays=",".join(str(d) for d in sorted(set(repeat.weekdays))),
            start_time=schedule.start.time(),
            duration_minutes=duration_minutes,
            room=schedule.room,
            teacher=schedule.teacher,
            capacity_override=schedule.capacity_override,
            first_date=days[0],
            until=repeat.until,
            scheduled_through=repeat.until or local_today(venue) + timedelta(days=horizon_days),
        )
        db.add(series)
        await db.flush()
    sessions = []
    for day in days:
        starts_at = _future_start(
            datetime.combine(day, schedule.start.time()), venue, asked=schedule
        )
        session = ClassSession(
            company_id=company_id,
            activity_id=activity.id,
            venue_id=venue.id,
            series_id=series.id if series is not None else None,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=duration_minutes),
            room=schedule.room,
            teacher=schedule.teacher,
            capacity_override=schedule.capacity_override,
        )
        db.add(session)
        sessions.append(session)
    await db.flush()
    await add_outbox_items(
        db=db,
        company_id=company_id,
        kind=OutboxKind.SESSION_CHANGED,
        session_ids=[s.id for s in sessions],
    )
    return sessions


def _edited_columns(session: ClassSession) -> tuple[object, ...]:
    """What `edit_session` may change (every one of them is shown to aggregators)."""
    return (
        session.starts_at,
        session.ends_at,
        session.room,
        session.teacher,
        session.capacity_override,
        session.aggregator_mode,
        session.aggregator_allowed,
        session.aggregator_limit,
    )


async def edit_session(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    session_id: uuid.UUID,
    changes: SessionEdit,
) -> ClassSession:
    """Change a session; fields left out stay as they are, null clears an override."""
    session = await lock_own_class_session(db=db, company_id=company_id, session_id=session_id)
    if session.is_cancelled:
        raise DomainError(ErrorCode.SESSION_CANCELLED, "a cancelled session cannot be edited")
    venue = await db.get(Venue, session.venue_id)
    assert venue is not None
    previous_start = session.starts_at
    before = _edited_columns(session)
    given = changes.given()
    duration = (
        timedelta(minutes=given.pop("duration_minutes"))
        if "duration_minutes" in given
        else session.ends_at - session.starts_at
    )
    if "start" in given:
        session.starts_at = _future_start(given.pop("start"), venue, asked=changes)
    session.ends_at = session.starts_at + duration
    for name, value in given.items():  # the rest are columns of the session
        setattr(session, name, value)
    if _edited_columns(session) != before:
        await touch_session(db, session)  # an edit that changes nothing grows no version
    await db.flush()
    moved = session.starts_at != previous_start
    record_sign_in_event(
        db,
        SignInChange.SESSION_UPDATED,
        session,
        None,
        moved_from=previous_start if moved else None,
    )
    return session


def on_local_days(venue: Venue, first: date | None, last: date | None) -> sa.ColumnElement[bool]:
    """SQL: sessions of `venue` that start on its local days `first` to `last` (inclusive;
    None: unbounded). A 00:30 class belongs to its local day."""
    clause = [col(ClassSession.venue_id) == venue.id]
    if first is not None:
        lower = day_start(first, venue.zone)
        if lower is not None:
            clause.append(col(ClassSession.starts_at) >= lower)
    if last is not None and last < date.max:
        upper = day_start(last + timedelta(days=1), venue.zone)
        if upper is not None:
            clause.append(col(ClassSession.starts_at) < upper)
    return sa.and_(*clause)


async def _local_days_clause(
    db: AsyncSession, company_id: uuid.UUID, where: SessionFilter
) -> sa.ColumnElement[bool] | None:
    """Sessions whose start falls on the chosen local days of their venue. Venues may lie
    in different time zones, so each venue gets its own UTC bounds."""
    if where.from_date is None and where.to_date is None:
        return None
    venues = select(Venue).where(Venue.company_id == company_id)
    if where.venue_id is not None:
        venues = venues.where(Venue.id == where.venue_id)
    per_venue = [
        on_local_days(venue, where.from_date, where.to_date) for venue in await db.scalars(venues)
    ]
    return sa.or_(*per_venue) if per_venue else sa.false()


async def list_sessions(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    where: SessionFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[SessionRow]:
    """Sessions in start order, keyset-paginated on (starts_at, id), as plain rows of
    every column (`SessionRow`). A venue of another company is reported as not found, as
    an unknown one."""
    if where.venue_id is not None:
        await get_venue(db=db, company_id=company_id, venue_id=where.venue_id)
    stmt = select(*ClassSession.__table__.c).where(  # type: ignore[attr-defined]
        ClassSession.company_id == company_id
    )
    if where.venue_id is not None:
        stmt = stmt.where(ClassSession.venue_id == where.venue_id)
    if where.activity_id is not None:
        stmt = stmt.where(ClassSession.activity_id == where.activity_id)
    local_days = await _local_days_clause(db, company_id, where)
    if local_days is not None:
        stmt = stmt.where(local_days)
    if where.cancelled is not None:
        cancelled_at = col(ClassSession.cancelled_at)
        stmt = stmt.where(cancelled_at.is_not(None) if where.cancelled else cancelled_at.is_(None))
    if after is not None:
        stmt = stmt.where(after_key((ClassSession.starts_at, ClassSession.id), after))
    stmt = stmt.order_by(col(ClassSession.starts_at), col(ClassSession.id)).limit(limit)
    rows: list[SessionRow] = await records(db, stmt)
    return rows
