"""Staff queries: every one scoped to the caller's company."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Annotated, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types.nodes import SelectedField, Selection

from classbridge.graph.context import Info
from classbridge.graph.ids import parse_id
from classbridge.graph.inputs import arguments_to_domain, to_domain
from classbridge.graph.pagination import (
    Connection,
    check_page_size,
    connection,
    cursor_id,
    cursor_time,
    decode_cursor,
)
from classbridge.graph.selection import selects
from classbridge.graph.staff.permissions import AnyStaff, OwnerOnly
from classbridge.graph.staff.types import (
    Activity,
    AggregatorVisitReport,
    Booking,
    Company,
    Customer,
    Product,
    Session,
    SessionSeries,
    SignInList,
    StaffUser,
    Venue,
    sessions_of,
)
from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import company as company_model
from classbridge.models import customer as customer_model
from classbridge.models import privacy, visit_report
from classbridge.models import product as product_model
from classbridge.models import series as series_model
from classbridge.models import session as session_model
from classbridge.models.errors import not_found
from classbridge.models.inputs.customer import CustomerFilter
from classbridge.models.inputs.session import SessionFilter
from classbridge.models.tables import Aggregator
from classbridge.models.tables import StaffUser as StaffUserRow


@strawberry.input(
    name="SessionFilter", description="Which sessions to list; dates are local days of each venue."
)
class SessionFilterInput:
    venue_id: strawberry.ID | None = None
    activity_id: strawberry.ID | None = None
    from_date: date | None = strawberry.field(default=None, description="First day (inclusive).")
    to_date: date | None = strawberry.field(default=None, description="Last day (inclusive).")
    cancelled: bool | None = None


def _session_key(raw: list[str]) -> tuple[datetime, uuid.UUID]:
    start, session_id = raw  # a ValueError when the length is wrong
    return cursor_time(start), cursor_id(session_id)


def _customer_key(raw: list[str]) -> tuple[str, str, uuid.UUID]:
    last_name, first_name, customer_id = raw
    return last_name, first_name, cursor_id(customer_id)


async def _session(
    info: Info, id: strawberry.ID, *, with_bookings: bool, with_aggregator_ids: bool
) -> Session:
    actor = info.context.require_staff()
    async with info.context.read() as db:
        row, activity, venue = await session_model.get_session_with_activity_and_venue(
            db=db, company_id=actor.company_id, session_id=parse_id(id)
        )
    loaders = info.context.loaders  # what the session's fields show, read with it
    loaders.activity.prime(activity.id, activity)
    loaders.venue.prime(venue.id, venue)
    (session,) = await sessions_of(
        info, [row], with_bookings=with_bookings, with_aggregator_ids=with_aggregator_ids
    )
    return session


@strawberry.type
class StaffQuery:
    @strawberry.field(description="The signed-in staff member.", permission_classes=[AnyStaff])
    async def me(self, info: Info) -> StaffUser:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            user = await db.get(StaffUserRow, actor.user_id)
        if user is None:
            raise not_found("staff user")
        return StaffUser(row=user)

    @strawberry.field(description="The caller's company.", permission_classes=[AnyStaff])
    async def company(self, info: Info) -> Company:
        actor = info.context.require_staff()
        row = await info.context.loaders.company.load(actor.company_id)
        if row is None:
            raise not_found("company")
        return Company(row=row)

    @strawberry.field(permission_classes=[AnyStaff])
    async def venues(self, info: Info) -> list[Venue]:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            rows = await company_model.list_venues(db=db, company_id=actor.company_id)
        return [Venue(row=r) for r in rows]

    @strawberry.field(permission_classes=[AnyStaff])
    async def venue(self, info: Info, id: strawberry.ID) -> Venue:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            row = await company_model.get_venue(
                db=db, company_id=actor.company_id, venue_id=parse_id(id)
            )
        return Venue(row=row)

    @strawberry.field(permission_classes=[AnyStaff])
    async def activities(self, info: Info, include_archived: bool = False) -> list[Activity]:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            rows = await activity_model.list_activities(
                db=db, company_id=actor.company_id, include_archived=include_archived
            )
        return [Activity(row=r) for r in rows]

    @strawberry.field(permission_classes=[AnyStaff])
    async def activity(self, info: Info, id: strawberry.ID) -> Activity:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            row = await activity_model.get_activity(
                db=db, company_id=actor.company_id, activity_id=parse_id(id)
            )
        return Activity(row=row)

    @strawberry.field(permission_classes=[AnyStaff])
    async def products(self, info: Info, include_archived: bool = False) -> list[Product]:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            rows = await product_model.list_products(
                db=db, company_id=actor.company_id, include_archived=include_archived
            )
        return [Product(row=r) for r in rows]

    @strawberry.field(
        description="Sessions in start order (at most 100 per page).", permission_classes=[AnyStaff]
    )
    async def sessions(
        self,
        info: Info,
        filter: SessionFilterInput | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Session]:
        actor = info.context.require_staff()
        size = check_page_size(first)
        where = to_domain(SessionFilter, filter, at="filter") if filter else SessionFilter()
        cursor = decode_cursor(after, _session_key)
        async with info.context.read() as db:
            rows = await session_model.list_sessions(
                db=db, company_id=actor.company_id, where=where, after=cursor, limit=size + 1
            )
        bookings = ("edges", "node", "bookings")
        listed = await sessions_of(
            info,
            rows[:size],
            with_bookings=selects(info, *bookings),
            with_aggregator_ids=selects(info, *bookings, "customer", "aggregatorIds"),
        )
        sessions = {s.row.id: s for s in listed}
        page: Connection[Session] = connection(
            rows,
            first=size,
            key=lambda r: (r.starts_at.isoformat(), r.id),
            node=lambda r: sessions[r.id],
            after_given=cursor is not None,
        )
        return page

    @strawberry.field(permission_classes=[AnyStaff])
    async def session(self, info: Info, id: strawberry.ID) -> Session:
        return await _session(
            info,
            id,
            with_bookings=selects(info, "bookings"),
            with_aggregator_ids=selects(info, "bookings", "customer", "aggregatorIds"),
        )

    @strawberry.field(
        description="Everything stored about a customer, as JSON (owners only): profile, "
        "aggregator ids, bookings.",
        permission_classes=[OwnerOnly],
    )
    async def export_customer(self, info: Info, id: strawberry.ID) -> JSON:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            data = await privacy.export_customer(
                db=db, company_id=actor.company_id, customer_id=parse_id(id)
            )
        return cast(JSON, data)  # JSON is a NewType strawberry serializes as it is

    @strawberry.field(
        description="A series of sessions scheduled together.", permission_classes=[AnyStaff]
    )
    async def session_series(self, info: Info, id: strawberry.ID) -> SessionSeries:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            row = await series_model.get_series(
                db=db, company_id=actor.company_id, series_id=parse_id(id)
            )
        return SessionSeries(row=row)

    @strawberry.field(
        description="Customers by last name; search matches name or email.",
        permission_classes=[AnyStaff],
    )
    async def customers(
        self,
        info: Info,
        search: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[Customer]:
        actor = info.context.require_staff()
        size = check_page_size(first)
        where = arguments_to_domain(CustomerFilter, {"search": search})
        cursor = decode_cursor(after, _customer_key)
        async with info.context.read() as db:
            rows = await customer_model.list_customers(
                db=db, company_id=actor.company_id, where=where, after=cursor, limit=size + 1
            )
        page: Connection[Customer] = connection(
            rows,
            first=size,
            key=lambda r: (r.last_name, r.first_name, r.id),
            node=lambda r: Customer(row=r),
            after_given=cursor is not None,
        )
        return page

    @strawberry.field(permission_classes=[AnyStaff])
    async def customer(self, info: Info, id: strawberry.ID) -> Customer:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            row = await customer_model.get_customer(
                db=db, company_id=actor.company_id, customer_id=parse_id(id)
            )
        return Customer(row=row)

    @strawberry.field(permission_classes=[AnyStaff])
    async def booking(self, info: Info, id: strawberry.ID) -> Booking:
        actor = info.context.require_staff()
        async with info.context.read() as db:
            row = await booking_model.get_booking(
                db=db, company_id=actor.company_id, booking_id=parse_id(id)
            )
        return Booking(row=row)

    @strawberry.field(
        description="Owners: aggregator bookings' outcomes per aggregator, venue-local month "
        "and venue, from the booking history (also as CSV: GET /reports/aggregator-visits.csv).",
        permission_classes=[OwnerOnly],
    )
    async def aggregator_visit_report(
        self,
        info: Info,
        from_: Annotated[date, strawberry.argument(name="from")],
        to: date,
        aggregator: Aggregator | None = None,
        venue_id: strawberry.ID | None = None,
    ) -> AggregatorVisitReport:
        actor = info.context.require_staff()
        query = arguments_to_domain(
            visit_report.VisitReportQuery,
            {
                "from_date": from_,
                "to_date": to,
                "aggregator": aggregator,
                "venue_id": parse_id(venue_id, field="venueId") if venue_id else None,
            },
            wire={"from_date": "from", "to_date": "to"},
        )
        async with info.context.read() as db:
            await visit_report.check_scope(db=db, company_id=actor.company_id, query=query)
        return AggregatorVisitReport(
            company_id=actor.company_id, query=query, levels=_visit_report_levels(info)
        )

    @strawberry.field(
        description="A session's sign-in list with its counts.", permission_classes=[AnyStaff]
    )
    async def sign_in_list(self, info: Info, session_id: strawberry.ID) -> SignInList:
        # The counts are counted from the bookings listed: no query of their own, and
        # never at odds with the list beside them.
        session = await _session(
            info,
            session_id,
            with_bookings=True,
            with_aggregator_ids=selects(info, "bookings", "customer", "aggregatorIds"),
        )
        return SignInList(
            session=session,
            bookings=await session.load_bookings(info),
            counts=await session.load_counts(info),
        )


_VISIT_REPORT_LEVELS = {
    "rows": visit_report.Breakdown.VENUE,
    "byActivity": visit_report.Breakdown.ACTIVITY,
    "byMember": visit_report.Breakdown.MEMBER,
}


def _visit_report_levels(info: Info) -> frozenset[visit_report.Breakdown]:
    """The report's lists this request selects (through fragments too), so that one
    statement reads them all."""
    levels: set[visit_report.Breakdown] = set()

    def walk(selections: Sequence[Selection]) -> None:
        for selection in selections:
            if isinstance(selection, SelectedField):
                if selection.name in _VISIT_REPORT_LEVELS:
                    levels.add(_VISIT_REPORT_LEVELS[selection.name])
            else:  # a fragment spread or an inline fragment
                walk(selection.selections)

    for field in info.selected_fields:
        walk(field.selections)
    return frozenset(levels)
