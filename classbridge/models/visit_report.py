"""The aggregator visit report: what a studio is paid for by an aggregator, per
aggregator, month and venue, with drill-downs per activity and per member id.

Counts come from the append-only booking history (`BookingHistory`), never from the
bookings and sessions as they are now: each aggregator booking counts once, by its latest
history row — its outcome, and the session's venue, activity and venue-local day as they
were when that row was written. Editing or moving a session afterwards changes nothing
here; a correction of a booking (a check-in taken back, a no-show marked after all) is a
new history row, and the booking then counts by it in its session's month.

Every report is one SQL statement, whatever the period or the number of bookings.
"""

import enum
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from classbridge.models.company import get_venue
from classbridge.models.fields import REFUSED
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.booking import (
    BookingHistory,
    BookingSource,
    BookingStatus,
    CancellationType,
)
from classbridge.models.tables.company import Venue
from classbridge.models.validation import Input

MAX_REPORT_DAYS = 3 * 366


class VisitReportQuery(Input):
    """Which visits to count: venue-local days `from_date` to `to_date` (inclusive) of the
    sessions, optionally one aggregator and one venue."""

    from_date: date
    to_date: date
    aggregator: Aggregator | None = None
    venue_id: uuid.UUID | None = None

    @field_validator("to_date")
    @classmethod
    def _a_period(cls, value: date, info: ValidationInfo) -> date:
        first = info.data.get("from_date")
        if first is not None and value < first:
            raise PydanticCustomError(REFUSED, "must not be before the from date")
        if first is not None and (value - first).days > MAX_REPORT_DAYS:
            raise PydanticCustomError(REFUSED, f"a report spans at most {MAX_REPORT_DAYS} days")
        return value


class Breakdown(enum.StrEnum):
    VENUE = "VENUE"
    """Per aggregator, month and venue."""
    ACTIVITY = "ACTIVITY"
    """... and activity."""
    MEMBER = "MEMBER"
    """... and the aggregator's member id."""


@dataclass(frozen=True)
class VisitCounts:
    check_ins: int
    late_cancellations: int
    no_shows: int
    early_cancellations: int
    session_cancellations: int
    open: int
    """Still booked: the session has not been signed in (or not yet taken place)."""


@dataclass(frozen=True)
class VisitRow:
    aggregator: Aggregator
    month: str
    """`YYYY-MM`, venue-local."""
    venue_id: uuid.UUID
    venue_name: str
    counts: VisitCounts
    activity_id: uuid.UUID | None = None
    activity_name: str | None = None
    member_id: str | None = None


def _statement(company_id: uuid.UUID, query: VisitReportQuery, by: Breakdown) -> Any:
    h = BookingHistory
    history = select(h).where(
        col(h.company_id) == company_id,
        col(h.source) == BookingSource.AGGREGATOR,
        col(h.session_local_date) >= query.from_date,
        col(h.session_local_date) <= query.to_date,
    )
    if query.aggregator is not None:
        history = history.where(col(h.aggregator) == query.aggregator)
    if query.venue_id is not None:
        history = history.where(col(h.venue_id) == query.venue_id)
    # Each booking once: its latest row (ids grow in commit order per booking, since every
    # change of a booking holds its session's lock). An anti-join on the (booking_id, id)
    # index: no later row of the same booking.
    later = sa.orm.aliased(BookingHistory)
    rows = history.where(
        ~sa.exists().where(col(later.booking_id) == col(h.booking_id), col(later.id) > col(h.id))
    ).subquery()
    cancelled = rows.c.status == BookingStatus.CANCELLED

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return func.count().filter(condition)

    keys: list[Any] = [
        rows.c.aggregator,
        rows.c.session_month,
        rows.c.venue_id,
        col(Venue.name),
    ]
    if by is Breakdown.ACTIVITY:
        keys += [rows.c.activity_id, col(Activity.name)]
    if by is Breakdown.MEMBER:
        keys += [rows.c.member_id]
    stmt = (
        sa.select(
            *keys,
            count(rows.c.status == BookingStatus.CHECKED_IN),
            count(cancelled & (rows.c.cancellation_type == CancellationType.LATE)),
            count(rows.c.status == BookingStatus.NO_SHOW),
            count(cancelled & (rows.c.cancellation_type == CancellationType.EARLY)),
            count(cancelled & (rows.c.cancellation_type == CancellationType.SESSION)),
            count(rows.c.status == BookingStatus.BOOKED),
        )
        .join(Venue, col(Venue.id) == rows.c.venue_id)
        .group_by(*keys)
        .order_by(*keys)
    )
    if by is Breakdown.ACTIVITY:
        stmt = stmt.join(Activity, col(Activity.id) == rows.c.activity_id)
    return stmt


def _row(values: sa.Row, by: Breakdown) -> VisitRow:  # type: ignore[type-arg]
    aggregator, month, venue_id, venue_name, *rest = values
    activity_id = activity_name = member_id = None
    if by is Breakdown.ACTIVITY:
        activity_id, activity_name, *rest = rest
    if by is Breakdown.MEMBER:
        member_id, *rest = rest
    return VisitRow(
        aggregator=Aggregator(aggregator),
        month=month,
        venue_id=venue_id,
        venue_name=venue_name,
        counts=VisitCounts(*rest),
        activity_id=activity_id,
        activity_name=activity_name,
        member_id=member_id,
    )


async def check_scope(*, db: AsyncSession, company_id: uuid.UUID, query: VisitReportQuery) -> None:
    """Refuse a venue of another company as not found, as an unknown one."""
    if query.venue_id is not None:
        await get_venue(db=db, company_id=company_id, venue_id=query.venue_id)


async def visit_report(
    *, db: AsyncSession, company_id: uuid.UUID, query: VisitReportQuery, by: Breakdown
) -> list[VisitRow]:
    """The report's rows at one level of detail (one statement; a venue of another company
    is reported as not found, as an unknown one)."""
    await check_scope(db=db, company_id=company_id, query=query)
    rows = await db.execute(_statement(company_id, query, by))
    return [_row(r, by) for r in rows]


async def stream_visit_report(
    *, db: AsyncSession, company_id: uuid.UUID, query: VisitReportQuery, by: Breakdown
) -> AsyncGenerator[VisitRow]:
    """The same rows, read as they are sent (for the CSV download)."""
    await check_scope(db=db, company_id=company_id, query=query)
    # Fetched in batches: row by row, each fetch would be a round trip (a thread hop on
    # SQLite) costing more than the row.
    result = await db.stream(_statement(company_id, query, by).execution_options(yield_per=500))
    async for batch in result.partitions():
        for r in batch:
            yield _row(r, by)
