"""What an aggregator may list: connected companies, their venues, their sessions.

Visibility (models/aggregator.py): an aggregator sees companies whose extension for it is
ACTIVE. The change feed (`changed_after`) also reports withdrawn sessions (they appear
cancelled), so a withdrawal reaches the aggregator as a change instead of silently
vanishing; after a deactivation only the withdrawal itself, nothing later.
"""

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.aggregator import (
    active_extension_clause,
    extension_active,
    in_change_feed,
    offered_clause,
    shown_cancelled,
    venue_offered,
)
from classbridge.models.base import utcnow
from classbridge.models.db import records
from classbridge.models.errors import not_found
from classbridge.models.fields import Moment
from classbridge.models.keyset import after_key
from classbridge.models.session import SessionRow
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.aggregator import (
    Aggregator,
    AggregatorVenueLink,
)
from classbridge.models.tables.booking import Booking
from classbridge.models.tables.company import Company, Venue
from classbridge.models.tables.session import ClassSession
from classbridge.models.validation import Input

MIN_RANGE_DAYS = 1
MAX_RANGE_DAYS = 28
DEFAULT_RANGE_DAYS = 14


def _active_company(aggregator: Aggregator) -> sa.ColumnElement[bool]:
    return extension_active(col(Company.id), aggregator)


def _ever_linked_session(aggregator: Aggregator) -> sa.ColumnElement[bool]:
    """The session's company has (or had) a venue linked by this aggregator."""
    return sa.exists().where(
        col(AggregatorVenueLink.venue_id) == Venue.id,
        col(AggregatorVenueLink.aggregator) == aggregator,
        col(Venue.company_id) == ClassSession.company_id,
    )


async def get_company(
    *, db: AsyncSession, aggregator: Aggregator, company_id: uuid.UUID
) -> Company:
    company = await db.scalar(
        select(Company).where(Company.id == company_id, _active_company(aggregator))
    )
    if company is None:
        raise not_found("company")
    return company


async def get_venue(*, db: AsyncSession, aggregator: Aggregator, venue_id: uuid.UUID) -> Venue:
    venue = await db.scalar(
        select(Venue)
        .join(Company, col(Company.id) == Venue.company_id)
        .where(
            Venue.id == venue_id,
            _active_company(aggregator),
            venue_offered(col(Venue.id), aggregator),
        )
    )
    if venue is None:
        raise not_found("venue")
    return venue


async def list_venues(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    company_id: uuid.UUID | None = None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Venue]:
    """The aggregator's venues of connected companies (linked, not excluded), oldest first."""
    stmt = (
        select(Venue)
        .join(Company, col(Company.id) == Venue.company_id)
        .where(_active_company(aggregator), venue_offered(col(Venue.id), aggregator))
    )
    if company_id is not None:
        stmt = stmt.where(Venue.company_id == company_id)
    order = (col(Venue.created_at), col(Venue.id))
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    return list(await db.scalars(stmt.order_by(*order).limit(limit)))


async def get_activity(
    *, db: AsyncSession, aggregator: Aggregator, activity_id: uuid.UUID
) -> Activity:
    activity = await db.scalar(
        select(Activity)
        .join(Company, col(Company.id) == Activity.company_id)
        .where(Activity.id == activity_id, _active_company(aggregator))
    )
    if activity is None:
        raise not_found("class")
    return activity


async def list_sports(
    *, db: AsyncSession, aggregator: Aggregator, after: str | None, limit: int
) -> list[str]:
    """Distinct sports of the activities connected studios offer, by name."""
    stmt = (
        select(Activity.sport)
        .join(Company, col(Company.id) == Activity.company_id)
        .where(_active_company(aggregator), col(Activity.archived).is_(False))
        .distinct()
    )
    if after is not None:
        stmt = stmt.where(Activity.sport > after)
    return list(await db.scalars(stmt.order_by(Activity.sport).limit(limit)))


class SessionQuery(Input):
    """Which sessions an aggregator lists (the partner API's `sessions` arguments)."""

    range_days: float = Field(
        default=DEFAULT_RANGE_DAYS, ge=MIN_RANGE_DAYS, le=MAX_RANGE_DAYS, title="time range in days"
    )
    venue_id: uuid.UUID | None = None
    cancelled: bool | None = None
    has_online_stream: bool | None = None
    changed_after: Moment | None = None


async def list_sessions(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    query: SessionQuery,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[SessionRow]:
    """Sessions an aggregator sees within the time range, as plain rows of every column
    (`SessionRow`, `db.records`: a page of 100 only shows them).

    Without `changed_after`: sessions on offer, in start order. With it: every session
    whose aggregator-visible state changed since then (withdrawn ones included, they
    appear cancelled), in order of change, so a poller can page through a feed.
    """
    now = utcnow()
    stmt = (
        select(*ClassSession.__table__.c)  # type: ignore[attr-defined]
        .join(Activity, col(Activity.id) == ClassSession.activity_id)
        .where(
            ClassSession.ends_at > now,
            ClassSession.starts_at < now + timedelta(days=query.range_days),
        )
    )
    if query.changed_after is None:
        stmt = stmt.where(
            active_extension_clause(aggregator),
            offered_clause(),
            venue_offered(col(ClassSession.venue_id), aggregator),
        )
        if query.cancelled is not None:
            cancelled_at = col(ClassSession.cancelled_at)
            stmt = stmt.where(
                cancelled_at.is_not(None) if query.cancelled else cancelled_at.is_(None)
            )
        order = (col(ClassSession.starts_at), col(ClassSession.id))
    else:
        stmt = stmt.where(in_change_feed(aggregator), ClassSession.updated_at > query.changed_after)
        if query.cancelled is not None:
            cancelled = shown_cancelled(aggregator)
            stmt = stmt.where(cancelled if query.cancelled else sa.not_(cancelled))
        order = (col(ClassSession.updated_at), col(ClassSession.id))
    if query.venue_id is not None:
        stmt = stmt.where(ClassSession.venue_id == query.venue_id)
    if query.has_online_stream:
        return []  # no session is streamed (yet)
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    rows: list[SessionRow] = await records(db, stmt.order_by(*order).limit(limit))
    return rows


async def get_class_session(
    *, db: AsyncSession, aggregator: Aggregator, session_id: uuid.UUID
) -> ClassSession:
    """A session the aggregator may know: of a studio linked to it (a withdrawn one
    appears cancelled)."""
    session = await db.scalar(
        select(ClassSession).where(ClassSession.id == session_id, _ever_linked_session(aggregator))
    )
    if session is None:
        raise not_found("session")
    return session


async def list_reservations(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    session_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[Booking]:
    """This aggregator's own bookings of a session, oldest first."""
    stmt = select(Booking).where(Booking.session_id == session_id, Booking.aggregator == aggregator)
    order = (col(Booking.booked_at), col(Booking.id))
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    return list(await db.scalars(stmt.order_by(*order).limit(limit)))
