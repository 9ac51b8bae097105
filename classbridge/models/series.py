"""Session series: sessions scheduled together (a weekly repeat). Changing or cancelling
a series from a date on is exactly the single-session edit or cancellation, made for each
of its sessions in turn (bookings, sign-in events, versions, outbox rows: all as one by
one). A series without `until` is scheduled ahead for a rolling horizon, which
`extend_rolling_series` (a periodic job) keeps extending."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models import session as session_model
from classbridge.models import session_cancellation
from classbridge.models import waitlist as waitlist_model
from classbridge.models.base import utcnow
from classbridge.models.errors import DomainError, not_found
from classbridge.models.fields import Day
from classbridge.models.inputs.session import SeriesEdit, SessionEdit
from classbridge.models.localtime import SkippedLocalTime, day_start, local_to_utc, utc_to_local
from classbridge.models.outbox import add_outbox_items
from classbridge.models.tables.company import Venue
from classbridge.models.tables.outbox import OutboxKind
from classbridge.models.tables.session import ClassSession, SessionSeries
from classbridge.models.validation import check

SERIES_PAGE = 366
"""Most sessions `series_sessions` lists at once (the API's declared list bound)."""


@dataclass(frozen=True)
class SeriesChange:
    """A series and the sessions a change or cancellation went through."""

    series: SessionSeries
    sessions: list[ClassSession]


async def get_series(
    *, db: AsyncSession, company_id: uuid.UUID, series_id: uuid.UUID
) -> SessionSeries:
    """A series of this company; another company's is reported as not found."""
    series = await db.get(SessionSeries, series_id)
    if series is None or series.company_id != company_id:
        raise not_found("series")
    return series


async def _lock_series(db: AsyncSession, series_id: uuid.UUID) -> SessionSeries:
    """The series under its row lock: edits, cancellations and the extension job of one
    series run one after the other (SQLite: write transactions are exclusive anyway)."""
    series = await db.scalar(
        select(SessionSeries)
        .where(SessionSeries.id == series_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert series is not None
    return series


async def _venue(db: AsyncSession, series: SessionSeries) -> Venue:
    venue = await db.get(Venue, series.venue_id)
    assert venue is not None
    return venue


async def series_sessions(
    *,
    db: AsyncSession,
    series: SessionSeries,
    from_date: date | None = None,
    changeable: bool = True,
    limit: int | None = None,
) -> list[ClassSession]:
    """The series' sessions in start order, from the venue-local day `from_date` on; with
    `changeable`, only those that have not started and are not cancelled (what a change
    reaches)."""
    stmt = select(ClassSession).where(ClassSession.series_id == series.id)
    if from_date is not None:
        venue = await _venue(db, series)
        lower = day_start(from_date, venue.zone)
        if lower is not None:
            stmt = stmt.where(col(ClassSession.starts_at) >= lower)
    if changeable:
        stmt = stmt.where(
            col(ClassSession.starts_at) > utcnow(), col(ClassSession.cancelled_at).is_(None)
        )
    stmt = stmt.order_by(col(ClassSession.starts_at), col(ClassSession.id))
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(await db.scalars(stmt))


async def edit_series(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    series_id: uuid.UUID,
    from_date: date,
    changes: SeriesEdit,
) -> SeriesChange:
    """Change every session of the series on `from_date` or later (not started, not
    cancelled) with `waitlist.edit_session` (`session.edit_session`, then promotion into
    the spots it freed), and the template the series goes on with."""
    from_date = check(Day, from_date, name="from_date")
    await get_series(db=db, company_id=company_id, series_id=series_id)
    series = await _lock_series(db, series_id)
    venue = await _venue(db, series)
    given = changes.given()
    start_time = given.pop("start_time", None)
    edited = []
    for session in await series_sessions(db=db, series=series, from_date=from_date):
        one = dict(given)
        if start_time is not None:
            day = utc_to_local(session.starts_at, venue.zone).date()
            one["start"] = datetime.combine(day, start_time)
        try:
            edit = SessionEdit(**one)
            # Through models.waitlist: spots a raised capacity or aggregator limit frees
            # go to the session's waitlist under the lock the edit took.
            edited.append(
                await waitlist_model.edit_session(
                    db=db, company_id=company_id, session_id=session.id, changes=edit
                )
            )
        except DomainError as exc:
            # The new time of one session is refused (past, or skipped by a DST change):
            # the refusal is about the series' start time; nothing is written.
            if exc.loc == ("start",):
                raise changes.refuse("start_time", exc.message) from None
            raise
    for name, value in given.items():  # the template of sessions still to be scheduled
        setattr(series, name, value)
    if start_time is not None:
        series.start_time = start_time
    series.updated_at = utcnow()
    await db.flush()
    return SeriesChange(series=series, sessions=edited)


async def cancel_series(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    series_id: uuid.UUID,
    from_date: date,
    reason: str | None,
) -> SeriesChange:
    """Cancel every session of the series on `from_date` or later (not started, not
    cancelled) with `session_cancellation.cancel_session`; the series ends the day before,
    so the periodic job schedules no more."""
    from_date = check(Day, from_date, name="from_date")
    await get_series(db=db, company_id=company_id, series_id=series_id)
    series = await _lock_series(db, series_id)
    cancelled = [
        await session_cancellation.cancel_session(
            db=db, company_id=company_id, session_id=session.id, reason=reason
        )
        for session in await series_sessions(db=db, series=series, from_date=from_date)
    ]
    last = from_date - timedelta(days=1)
    if series.until is None or series.until > last:
        series.until = last
    series.updated_at = utcnow()
    await db.flush()
    return SeriesChange(series=series, sessions=cancelled)


async def extend_series(
    *, db: AsyncSession, series_id: uuid.UUID, horizon_days: int
) -> list[ClassSession]:
    """Schedule a rolling series' sessions up to `horizon_days` after today (venue-local),
    from its template. Days whose time lies in the past or does not exist (a DST gap) are
    skipped; running twice schedules nothing twice."""
    series = await _lock_series(db, series_id)
    venue = await _venue(db, series)
    through = session_model.local_today(venue) + timedelta(days=horizon_days)
    if series.until is not None:
        through = min(through, series.until)
    if through <= series.scheduled_through:
        return []
    first = max(series.scheduled_through + timedelta(days=1), series.first_date)
    now = utcnow()
    sessions = []
    for day in session_model.weekly_days(first, through, series.weekday_set):
        try:
            starts_at = local_to_utc(datetime.combine(day, series.start_time), venue.zone)
        except SkippedLocalTime:
            continue
        if starts_at <= now:
            continue
        session = ClassSession(
            company_id=series.company_id,
            activity_id=series.activity_id,
            venue_id=series.venue_id,
            series_id=series.id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=series.duration_minutes),
            room=series.room,
            teacher=series.teacher,
            capacity_override=series.capacity_override,
            aggregator_mode=series.aggregator_mode,
            aggregator_allowed=series.aggregator_allowed,
            aggregator_limit=series.aggregator_limit,
        )
        db.add(session)
        sessions.append(session)
    series.scheduled_through = through
    series.updated_at = utcnow()
    await db.flush()
    if sessions:
        await add_outbox_items(
            db=db,
            company_id=series.company_id,
            kind=OutboxKind.SESSION_CHANGED,
            session_ids=[s.id for s in sessions],
        )
    return sessions


async def rolling_series_ids(*, db: AsyncSession) -> list[uuid.UUID]:
    """Series the periodic job looks at: those without an end date (a cancelled series has
    one). Each is extended in its own transaction (`extend_series`)."""
    return list(
        await db.scalars(
            select(SessionSeries.id)
            .where(col(SessionSeries.until).is_(None))
            .order_by(col(SessionSeries.id))
        )
    )
