"""The aggregator visit report: what a studio is paid for by an aggregator, per
aggregator, month and venue, with drill-downs per activity and per member id.

Counts come from the append-only booking history (`BookingHistory`), never from the
bookings and sessions as they are now: each aggregator booking counts once, by its latest
history row — its outcome, and the session's venue, activity and venue-local day as they
were when that row was written. Editing or moving a session afterwards changes nothing
here; a correction of a booking (a check-in taken back, a no-show marked after all) is a
new history row, and the booking then counts by it in its session's month.

Every report is one SQL statement, whatever the period, the number of bookings or how
many levels of detail are asked for together.
"""

import enum
import uuid
from collections.abc import AsyncGenerator, Collection, Sequence
from datetime import date
from typing import Any, NamedTuple

import sqlalchemy as sa
from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func

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


class VisitRow(NamedTuple):
    """One row of the report, flat (a tuple: thousands are built per report)."""

    aggregator: Aggregator
    month: str
    """`YYYY-MM`, venue-local."""
    venue_id: uuid.UUID
    venue_name: str
    activity_id: uuid.UUID | None
    """ACTIVITY rows only."""
    activity_name: str | None
    member_id: str | None
    """MEMBER rows only: the aggregator's member id."""
    check_ins: int
    late_cancellations: int
    no_shows: int
    early_cancellations: int
    session_cancellations: int
    open: int
    """Still booked: the session has not been signed in (or not yet taken place)."""


_KEYS = {
    Breakdown.VENUE: ("aggregator", "session_month", "venue_id"),
    Breakdown.ACTIVITY: ("aggregator", "session_month", "venue_id", "activity_id"),
    Breakdown.MEMBER: ("aggregator", "session_month", "venue_id", "member_id"),
}


def _statement(company_id: uuid.UUID, query: VisitReportQuery, levels: Sequence[Breakdown]) -> Any:
    """One statement for the rows of every level asked for: the latest history row of each
    booking is found once (a CTE) and grouped per level; the levels' rows come one level
    after the other (the first column says which), each in key order."""
    h = BookingHistory
    history = sa.select(  # sqlmodel's select() stops its overloads at four columns
        col(h.aggregator),
        col(h.session_month),
        col(h.venue_id),
        col(h.activity_id),
        col(h.member_id),
        col(h.status),
        col(h.cancellation_type),
    ).where(
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
    latest = history.where(
        ~sa.exists().where(col(later.booking_id) == col(h.booking_id), col(later.id) > col(h.id))
    ).cte("latest")
    cancelled = latest.c.status == BookingStatus.CANCELLED

    def count(condition: sa.ColumnElement[bool], name: str) -> Any:
        return func.count().filter(condition).label(name)

    counts = [
        count(latest.c.status == BookingStatus.CHECKED_IN, "check_ins"),
        count(cancelled & (latest.c.cancellation_type == CancellationType.LATE), "late"),
        count(latest.c.status == BookingStatus.NO_SHOW, "no_shows"),
        count(cancelled & (latest.c.cancellation_type == CancellationType.EARLY), "early"),
        count(cancelled & (latest.c.cancellation_type == CancellationType.SESSION), "session"),
        count(latest.c.status == BookingStatus.BOOKED, "open"),
    ]
    # Typed NULLs where a level has no such key: the union's first branch types every row.
    no_activity_id = sa.cast(sa.null(), h.__table__.c.activity_id.type)  # type: ignore[attr-defined]
    no_text = sa.cast(sa.null(), sa.String)
    branches = []
    for level in levels:
        keys = [latest.c[k] for k in _KEYS[level]]
        grouped = sa.select(*keys, *counts).group_by(*keys).subquery()
        branch = sa.select(
            sa.literal(levels.index(level)).label("level"),
            grouped.c.aggregator,
            grouped.c.session_month,
            grouped.c.venue_id,
            col(Venue.name).label("venue_name"),
            # Labelled alike in every branch: the union's columns are named by the first.
            (grouped.c.activity_id if level is Breakdown.ACTIVITY else no_activity_id).label(
                "activity_id"
            ),
            (col(Activity.name) if level is Breakdown.ACTIVITY else no_text).label("activity_name"),
            (grouped.c.member_id if level is Breakdown.MEMBER else no_text).label("member_id"),
            *(grouped.c[c.name] for c in counts),
        ).join(Venue, col(Venue.id) == grouped.c.venue_id)
        if level is Breakdown.ACTIVITY:
            branch = branch.join(Activity, col(Activity.id) == grouped.c.activity_id)
        branches.append(branch)
    union = sa.union_all(*branches) if len(branches) > 1 else branches[0]
    ordered = union.subquery("report")
    c = ordered.c  # in each level, by its keys (a name follows its id)
    return sa.select(ordered).order_by(
        c.level, c.aggregator, c.session_month, c.venue_id, c.activity_id, c.member_id
    )


async def check_scope(*, db: AsyncSession, company_id: uuid.UUID, query: VisitReportQuery) -> None:
    """Refuse a venue of another company as not found, as an unknown one."""
    if query.venue_id is not None:
        await get_venue(db=db, company_id=company_id, venue_id=query.venue_id)


async def visit_reports(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    query: VisitReportQuery,
    levels: Collection[Breakdown],
) -> dict[Breakdown, list[VisitRow]]:
    """The report's rows at several levels of detail, in one statement (the caller checked
    the scope with `check_scope`)."""
    asked = [b for b in Breakdown if b in levels]
    found: dict[Breakdown, list[VisitRow]] = {b: [] for b in asked}
    if not asked:
        return found
    make = VisitRow._make
    lists = [found[b] for b in asked]
    # Core, not the ORM session's execute: plain rows, without the ORM's per-row loading.
    connection = await db.connection()
    for row in await connection.execute(_statement(company_id, query, asked)):
        lists[row[0]].append(make(row[1:]))
    return found


async def visit_report(
    *, db: AsyncSession, company_id: uuid.UUID, query: VisitReportQuery, by: Breakdown
) -> list[VisitRow]:
    """The report's rows at one level of detail (one statement; a venue of another company
    is reported as not found, as an unknown one)."""
    await check_scope(db=db, company_id=company_id, query=query)
    return (await visit_reports(db=db, company_id=company_id, query=query, levels=[by]))[by]


async def stream_visit_report(
    *, db: AsyncSession, company_id: uuid.UUID, query: VisitReportQuery, by: Breakdown
) -> AsyncGenerator[list[VisitRow]]:
    """The same rows in batches, read as they are sent (for the CSV download), through a
    server-side cursor: on PostgreSQL only in a transaction (`db.in_transaction`)."""
    await check_scope(db=db, company_id=company_id, query=query)
    # Fetched in batches: row by row, each fetch would be a round trip (a thread hop on
    # SQLite) costing more than the row.
    connection = await db.connection()
    result = await connection.stream(
        _statement(company_id, query, [by]).execution_options(yield_per=1000)
    )
    make = VisitRow._make
    async for batch in result.partitions():
        yield [make(r[1:]) for r in batch]
