"""Sessions: the appointments of an activity at a venue, and what aggregators see of them."""

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.activity import MAX_CAPACITY, MAX_DURATION_MINUTES, Activity, get_activity
from classbridge.models.base import created_at_field, enum_type, timestamp_field, utcnow, uuid_pk
from classbridge.models.company import Venue, get_venue
from classbridge.models.errors import DomainError, ErrorCode, invalid, not_found
from classbridge.models.keyset import after_key
from classbridge.models.localtime import local_to_utc
from classbridge.models.outbox import OutboxKind, add_outbox_items
from classbridge.models.validation import check_range, clean_optional

MAX_SESSIONS_PER_SCHEDULE = 366
MAX_SCHEDULE_DAYS = 2 * 366


class AggregatorMode(enum.StrEnum):
    FOLLOW_ACTIVITY = "FOLLOW_ACTIVITY"
    """Use the activity's "allow bookings from aggregators" and limit."""
    INDIVIDUAL = "INDIVIDUAL"
    """This session has its own setting (allow or deny, limit)."""


class ClassSession(SQLModel, table=True):
    """One appointment of an activity. Times are UTC; `version` grows with every change
    an aggregator can see, so receivers can drop stale updates."""

    __tablename__ = "class_session"
    __table_args__ = (sa.Index("ix_class_session_company_start", "company_id", "starts_at"),)

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", ondelete="CASCADE")
    activity_id: uuid.UUID = Field(foreign_key="activity.id", index=True, ondelete="CASCADE")
    venue_id: uuid.UUID = Field(foreign_key="venue.id", index=True, ondelete="CASCADE")
    starts_at: datetime = timestamp_field(nullable=False)
    ends_at: datetime = timestamp_field(nullable=False)
    room: str | None = Field(default=None, max_length=100)
    teacher: str | None = Field(default=None, max_length=200)
    capacity_override: int | None = None
    aggregator_mode: AggregatorMode = Field(
        default=AggregatorMode.FOLLOW_ACTIVITY, sa_type=enum_type(AggregatorMode)
    )
    aggregator_allowed: bool = False
    aggregator_limit: int | None = None
    cancelled_at: datetime | None = timestamp_field()
    cancellation_reason: str | None = Field(default=None, max_length=500)
    version: int = 1
    # Grows with every sign-in event (booking change, edit, cancellation), under the
    # session's row lock, so live dashboards can put events back into commit order.
    sign_in_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False, index=True)

    @property
    def is_cancelled(self) -> bool:
        return self.cancelled_at is not None


@dataclass(frozen=True)
class SessionRules:
    """A session's effective rules: its own overrides, else its activity's."""

    capacity: int | None
    aggregator_allowed: bool
    aggregator_limit: int | None
    booking_opens_at: datetime | None
    booking_closes_at: datetime
    free_cancellation_until: datetime


def effective_rules(session: ClassSession, activity: Activity) -> SessionRules:
    capacity = (
        session.capacity_override
        if session.capacity_override is not None
        else activity.max_participants
    )
    if session.aggregator_mode is AggregatorMode.INDIVIDUAL:
        allowed, limit = session.aggregator_allowed, session.aggregator_limit
    else:
        allowed, limit = activity.allow_aggregator_bookings, activity.aggregator_limit
    opens = (
        session.starts_at - timedelta(minutes=activity.booking_opens_minutes)
        if activity.booking_opens_minutes is not None
        else None
    )
    closes = (
        session.starts_at - timedelta(minutes=activity.booking_closes_minutes)
        if activity.booking_closes_minutes is not None
        else session.ends_at
    )
    return SessionRules(
        capacity=capacity,
        aggregator_allowed=allowed,
        aggregator_limit=limit,
        booking_opens_at=opens,
        booking_closes_at=closes,
        free_cancellation_until=session.starts_at
        - timedelta(minutes=activity.free_cancellation_minutes),
    )


async def get_session(
    *, db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID
) -> ClassSession:
    """A session of this company; another company's is reported as not found."""
    session = await db.get(ClassSession, session_id)
    if session is None or session.company_id != company_id:
        raise not_found("session")
    return session


async def lock_session(*, db: AsyncSession, session_id: uuid.UUID) -> ClassSession | None:
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


def touch_session(db: AsyncSession, session: ClassSession) -> None:
    """Record a change aggregators can see: new version, new `updated_at`, an outbox row."""
    session.version += 1
    session.updated_at = utcnow()
    add_outbox_items(
        db=db,
        company_id=session.company_id,
        kind=OutboxKind.SESSION_CHANGED,
        session_ids=[session.id],
    )


async def touch_sessions(
    *, db: AsyncSession, company_id: uuid.UUID, session_ids: list[uuid.UUID]
) -> None:
    """Touch sessions changed by a bulk update (new versions, outbox rows)."""
    if not session_ids:
        return
    await db.execute(
        update(ClassSession)
        .where(ClassSession.id.in_(session_ids))  # type: ignore[attr-defined]
        .values(version=ClassSession.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    add_outbox_items(
        db=db, company_id=company_id, kind=OutboxKind.SESSION_CHANGED, session_ids=session_ids
    )


async def touch_upcoming_sessions(*, db: AsyncSession, activity_id: uuid.UUID) -> None:
    """Touch every session of an activity that has not ended yet."""
    now = utcnow()
    rows = (
        await db.execute(
            update(ClassSession)
            .where(ClassSession.activity_id == activity_id, ClassSession.ends_at > now)
            .values(version=ClassSession.version + 1, updated_at=now)
            .returning(ClassSession.id, ClassSession.company_id)
            .execution_options(synchronize_session="fetch")
        )
    ).all()
    if rows:
        add_outbox_items(
            db=db,
            company_id=rows[0].company_id,
            kind=OutboxKind.SESSION_CHANGED,
            session_ids=[r.id for r in rows],
        )


async def touch_company_upcoming_sessions(*, db: AsyncSession, company_id: uuid.UUID) -> int:
    """Touch every session of a company that has not ended yet (e.g. an aggregator
    extension was switched on or off, so everything it sees changed)."""
    now = utcnow()
    rows = (
        await db.execute(
            update(ClassSession)
            .where(ClassSession.company_id == company_id, ClassSession.ends_at > now)
            .values(version=ClassSession.version + 1, updated_at=now)
            .returning(ClassSession.id)
            .execution_options(synchronize_session="fetch")
        )
    ).all()
    if rows:
        add_outbox_items(
            db=db,
            company_id=company_id,
            kind=OutboxKind.SESSION_CHANGED,
            session_ids=[r.id for r in rows],
        )
    return len(rows)


def _check_capacity(value: int | None, field: str) -> int | None:
    return check_range(value, field=field, low=1, high=MAX_CAPACITY)


def _check_aggregator_limit(value: int | None) -> int | None:
    return check_range(value, field="aggregatorLimit", low=0, high=MAX_CAPACITY)


def _occurrence_dates(first: date, weekdays: set[int], until: date) -> list[date]:
    if until < first:
        raise invalid("repeat until must not be before the first date", field="until")
    if (until - first).days > MAX_SCHEDULE_DAYS:
        raise invalid(f"a schedule may span at most {MAX_SCHEDULE_DAYS} days", field="until")
    days = [
        first + timedelta(days=i)
        for i in range((until - first).days + 1)
        if (first + timedelta(days=i)).isoweekday() in weekdays
    ]
    if len(days) > MAX_SESSIONS_PER_SCHEDULE:
        raise invalid(f"at most {MAX_SESSIONS_PER_SCHEDULE} sessions at once", field="until")
    return days


async def schedule_sessions(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    activity_id: uuid.UUID,
    venue_id: uuid.UUID,
    local_start: datetime,
    duration_minutes: int | None = None,
    room: str | None = None,
    teacher: str | None = None,
    capacity_override: int | None = None,
    repeat_weekdays: list[int] | None = None,
    repeat_until: date | None = None,
) -> list[ClassSession]:
    """Schedule one session, or one on each chosen ISO weekday (1=Mon) until a date.

    Times are venue-local wall-clock times: a weekly 18:00 class stays at 18:00 across
    daylight-saving changes.
    """
    activity = await get_activity(db=db, company_id=company_id, activity_id=activity_id)
    if activity.archived:
        raise DomainError(ErrorCode.INVALID_STATE, "the activity is archived")
    venue = await get_venue(db=db, company_id=company_id, venue_id=venue_id)
    duration = check_range(
        duration_minutes if duration_minutes is not None else activity.default_duration_minutes,
        field="durationMinutes",
        low=1,
        high=MAX_DURATION_MINUTES,
    )
    assert duration is not None
    _check_capacity(capacity_override, "capacityOverride")
    room = clean_optional(room, field="room", max_length=100)
    teacher = clean_optional(teacher, field="teacher", max_length=200)
    if local_start.tzinfo is not None:
        raise invalid("give the start as venue-local time without an offset", field="start")
    if repeat_weekdays or repeat_until:
        if not repeat_weekdays or repeat_until is None:
            raise invalid("a weekly repeat needs both weekdays and an end date", field="repeat")
        if any(not 1 <= d <= 7 for d in repeat_weekdays):
            raise invalid("weekdays are 1 (Monday) to 7 (Sunday)", field="weekdays")
        dates = _occurrence_dates(local_start.date(), set(repeat_weekdays), repeat_until)
        if not dates:
            raise invalid("no chosen weekday falls in that period", field="weekdays")
    else:
        dates = [local_start.date()]
    now = utcnow()
    sessions = []
    for day in dates:
        starts_at = local_to_utc(datetime.combine(day, local_start.time()), venue.zone)
        if starts_at <= now:
            raise invalid(f"{day} {local_start:%H:%M} lies in the past", field="start")
        session = ClassSession(
            company_id=company_id,
            activity_id=activity.id,
            venue_id=venue.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=duration),
            room=room,
            teacher=teacher,
            capacity_override=capacity_override,
        )
        db.add(session)
        sessions.append(session)
    await db.flush()
    add_outbox_items(
        db=db,
        company_id=company_id,
        kind=OutboxKind.SESSION_CHANGED,
        session_ids=[s.id for s in sessions],
    )
    return sessions


_EDITABLE = {
    "local_start",
    "duration_minutes",
    "room",
    "teacher",
    "capacity_override",
    "aggregator_mode",
    "aggregator_allowed",
    "aggregator_limit",
}


async def edit_session(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    session_id: uuid.UUID,
    changes: dict[str, object],
) -> ClassSession:
    """Change a session; keys absent from `changes` stay as they are."""
    from classbridge.models.booking import SignInChange, record_sign_in_event  # builds on us

    unknown = set(changes) - _EDITABLE
    if unknown:
        raise invalid(f"cannot change {', '.join(sorted(unknown))}")
    await get_session(db=db, company_id=company_id, session_id=session_id)
    session = await lock_session(db=db, session_id=session_id)
    assert session is not None
    if session.is_cancelled:
        raise DomainError(ErrorCode.SESSION_CANCELLED, "a cancelled session cannot be edited")
    venue = await db.get(Venue, session.venue_id)
    assert venue is not None
    previous_start = session.starts_at
    duration = session.ends_at - session.starts_at
    if "duration_minutes" in changes:
        minutes = check_range(
            changes["duration_minutes"],  # type: ignore[arg-type]
            field="durationMinutes",
            low=1,
            high=MAX_DURATION_MINUTES,
        )
        if minutes is None:
            raise invalid("durationMinutes cannot be cleared", field="durationMinutes")
        duration = timedelta(minutes=minutes)
    if "local_start" in changes:
        local = changes["local_start"]
        if not isinstance(local, datetime) or local.tzinfo is not None:
            raise invalid("give the start as venue-local time without an offset", field="start")
        session.starts_at = local_to_utc(local, venue.zone)
        if session.starts_at <= utcnow():
            raise invalid("the new start lies in the past", field="start")
    session.ends_at = session.starts_at + duration
    if "room" in changes:
        session.room = clean_optional(changes["room"], field="room", max_length=100)  # type: ignore[arg-type]
    if "teacher" in changes:
        session.teacher = clean_optional(changes["teacher"], field="teacher", max_length=200)  # type: ignore[arg-type]
    if "capacity_override" in changes:
        session.capacity_override = _check_capacity(
            changes["capacity_override"],  # type: ignore[arg-type]
            "capacityOverride",
        )
    if "aggregator_mode" in changes:
        session.aggregator_mode = AggregatorMode(changes["aggregator_mode"])
    if "aggregator_allowed" in changes:
        session.aggregator_allowed = bool(changes["aggregator_allowed"])
    if "aggregator_limit" in changes:
        session.aggregator_limit = _check_aggregator_limit(changes["aggregator_limit"])  # type: ignore[arg-type]
    touch_session(db, session)
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


async def cancel_session(
    *, db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID, reason: str | None
) -> ClassSession:
    """Cancel a session: every live booking becomes CANCELLED with type SESSION."""
    from classbridge.models.booking import cancel_all_for_session  # bookings build on sessions

    await get_session(db=db, company_id=company_id, session_id=session_id)
    session = await lock_session(db=db, session_id=session_id)
    assert session is not None
    if session.is_cancelled:
        raise DomainError(ErrorCode.SESSION_CANCELLED, "the session is already cancelled")
    session.cancelled_at = utcnow()
    session.cancellation_reason = clean_optional(reason, field="reason", max_length=500)
    await cancel_all_for_session(db=db, session=session)
    touch_session(db, session)
    await db.flush()
    return session


@dataclass(frozen=True)
class SessionFilter:
    company_id: uuid.UUID
    venue_id: uuid.UUID | None = None
    activity_id: uuid.UUID | None = None
    starts_from: datetime | None = None
    starts_before: datetime | None = None
    cancelled: bool | None = None
    from_day: date | None = None
    """First local day (inclusive), in each session's own venue time zone."""
    to_day: date | None = None
    """Last local day (inclusive), in each session's own venue time zone."""


def _local_midnight(day: date, zone: ZoneInfo) -> datetime | None:
    """The UTC instant a local day starts; None beyond the calendar's ends (no bound).

    Never refused: where a DST change skips midnight, the day starts when clocks resume."""
    try:
        return datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    except OverflowError:
        return None


async def _local_days_clause(
    db: AsyncSession, where: SessionFilter
) -> sa.ColumnElement[bool] | None:
    """Sessions whose start falls on the chosen local days of their venue. Venues may lie
    in different time zones, so each venue gets its own UTC bounds."""
    if where.from_day is None and where.to_day is None:
        return None
    if where.from_day and where.to_day and where.to_day < where.from_day:
        raise invalid("toDate must not be before fromDate", field="toDate")
    venues = select(Venue).where(Venue.company_id == where.company_id)
    if where.venue_id is not None:
        venues = venues.where(Venue.id == where.venue_id)
    per_venue = []
    for venue in await db.scalars(venues):
        clause = [ClassSession.venue_id == venue.id]
        if where.from_day is not None:
            lower = _local_midnight(where.from_day, venue.zone)
            if lower is not None:
                clause.append(ClassSession.starts_at >= lower)
        if where.to_day is not None and where.to_day < date.max:
            upper = _local_midnight(where.to_day + timedelta(days=1), venue.zone)
            if upper is not None:
                clause.append(ClassSession.starts_at < upper)
        per_venue.append(sa.and_(*clause))
    return sa.or_(*per_venue) if per_venue else sa.false()


async def list_sessions(
    *,
    db: AsyncSession,
    where: SessionFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ClassSession]:
    """Sessions in start order, keyset-paginated on (starts_at, id)."""
    stmt = select(ClassSession).where(ClassSession.company_id == where.company_id)
    if where.venue_id is not None:
        stmt = stmt.where(ClassSession.venue_id == where.venue_id)
    if where.activity_id is not None:
        stmt = stmt.where(ClassSession.activity_id == where.activity_id)
    if where.starts_from is not None:
        stmt = stmt.where(ClassSession.starts_at >= where.starts_from)
    if where.starts_before is not None:
        stmt = stmt.where(ClassSession.starts_at < where.starts_before)
    local_days = await _local_days_clause(db, where)
    if local_days is not None:
        stmt = stmt.where(local_days)
    if where.cancelled is not None:
        col = ClassSession.cancelled_at
        stmt = stmt.where(col.is_not(None) if where.cancelled else col.is_(None))  # type: ignore[union-attr]
    if after is not None:
        stmt = stmt.where(after_key((ClassSession.starts_at, ClassSession.id), after))
    stmt = stmt.order_by(ClassSession.starts_at, ClassSession.id).limit(limit)
    return list(await db.scalars(stmt))
