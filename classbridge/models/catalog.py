"""What an aggregator may list: connected companies, their venues, their sessions.

Visibility: an aggregator sees companies whose extension for it is ACTIVE. A change feed
(`changed_after`) also reports sessions of studios it was ever linked to, so that a
session that was withdrawn (activity no longer offered, extension deactivated) reaches
the aggregator as a change instead of silently vanishing.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.models.activity import Activity
from classbridge.models.aggregator import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueLink,
    ExtensionStatus,
)
from classbridge.models.base import utcnow
from classbridge.models.booking import Booking
from classbridge.models.company import Company, Venue
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.keyset import after_key
from classbridge.models.offer import active_extension_clause, offered_clause
from classbridge.models.session import ClassSession

MIN_RANGE_DAYS = 1
MAX_RANGE_DAYS = 28
DEFAULT_RANGE_DAYS = 14


def _active_company(aggregator: Aggregator) -> sa.ColumnElement[bool]:
    return sa.exists().where(
        AggregatorExtension.company_id == Company.id,
        AggregatorExtension.aggregator == aggregator,
        AggregatorExtension.status == ExtensionStatus.ACTIVE,
    )


def _ever_linked_session(aggregator: Aggregator) -> sa.ColumnElement[bool]:
    """The session's company has (or had) a venue linked by this aggregator."""
    return sa.exists().where(
        AggregatorVenueLink.venue_id == Venue.id,
        AggregatorVenueLink.aggregator == aggregator,
        Venue.company_id == ClassSession.company_id,
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
        .join(Company, Company.id == Venue.company_id)
        .where(Venue.id == venue_id, _active_company(aggregator))
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
    """Venues of connected companies, oldest first."""
    stmt = (
        select(Venue)
        .join(Company, Company.id == Venue.company_id)
        .where(_active_company(aggregator))
    )
    if company_id is not None:
        stmt = stmt.where(Venue.company_id == company_id)
    order = (Venue.created_at, Venue.id)
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    return list(await db.scalars(stmt.order_by(*order).limit(limit)))


async def get_activity(
    *, db: AsyncSession, aggregator: Aggregator, activity_id: uuid.UUID
) -> Activity:
    activity = await db.scalar(
        select(Activity)
        .join(Company, Company.id == Activity.company_id)
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
        .join(Company, Company.id == Activity.company_id)
        .where(_active_company(aggregator), Activity.archived.is_(False))  # type: ignore[attr-defined]
        .distinct()
    )
    if after is not None:
        stmt = stmt.where(Activity.sport > after)
    return list(await db.scalars(stmt.order_by(Activity.sport).limit(limit)))


@dataclass(frozen=True)
class SessionQuery:
    """The partner API's `sessions` arguments, checked."""

    range_days: float = DEFAULT_RANGE_DAYS
    venue_id: uuid.UUID | None = None
    cancelled: bool | None = None
    has_online_stream: bool | None = None
    changed_after: datetime | None = None


def check_range_days(value: float | None) -> float:
    if value is None:
        return DEFAULT_RANGE_DAYS
    if not MIN_RANGE_DAYS <= value <= MAX_RANGE_DAYS:
        raise DomainError(
            ErrorCode.VALIDATION,
            f"timeRangeInDays must be between {MIN_RANGE_DAYS} and {MAX_RANGE_DAYS}",
            field="timeRangeInDays",
        )
    return value


def shown_cancelled(aggregator: Aggregator) -> sa.ColumnElement[bool]:
    """SQL: the session appears cancelled to this aggregator (cancelled by the studio,
    or no longer offered to it)."""
    return sa.or_(
        ClassSession.cancelled_at.is_not(None),  # type: ignore[union-attr]
        sa.not_(offered_clause()),
        sa.not_(active_extension_clause(aggregator)),
    )


async def list_sessions(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    query: SessionQuery,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ClassSession]:
    """Sessions an aggregator sees within the time range.

    Without `changed_after`: sessions on offer, in start order. With it: every session
    whose aggregator-visible state changed since then (withdrawn ones included, they
    appear cancelled), in order of change, so a poller can page through a feed.
    """
    now = utcnow()
    stmt = (
        select(ClassSession)
        .join(Activity, Activity.id == ClassSession.activity_id)
        .where(
            ClassSession.ends_at > now,
            ClassSession.starts_at < now + timedelta(days=query.range_days),
        )
    )
    if query.changed_after is None:
        stmt = stmt.where(active_extension_clause(aggregator), offered_clause())
        if query.cancelled is not None:
            col = ClassSession.cancelled_at
            stmt = stmt.where(col.is_not(None) if query.cancelled else col.is_(None))  # type: ignore[union-attr]
        order = (ClassSession.starts_at, ClassSession.id)
    else:
        stmt = stmt.where(
            _ever_linked_session(aggregator), ClassSession.updated_at > query.changed_after
        )
        if query.cancelled is not None:
            cancelled = shown_cancelled(aggregator)
            stmt = stmt.where(cancelled if query.cancelled else sa.not_(cancelled))
        order = (ClassSession.updated_at, ClassSession.id)  # type: ignore[assignment]
    if query.venue_id is not None:
        stmt = stmt.where(ClassSession.venue_id == query.venue_id)
    if query.has_online_stream:
        return []  # no session is streamed (yet)
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    return list(await db.scalars(stmt.order_by(*order).limit(limit)))


async def get_session(
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
    order = (Booking.booked_at, Booking.id)
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    return list(await db.scalars(stmt.order_by(*order).limit(limit)))
