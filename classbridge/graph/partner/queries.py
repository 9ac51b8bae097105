"""Partner queries: parse, scope to the calling aggregator, call the catalog, format."""

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry

from classbridge.graph.ids import parse_id
from classbridge.graph.inputs import arguments_to_domain
from classbridge.graph.pagination import (
    PageInfo,
    check_page_size,
    connection,
    cursor_id,
    cursor_time,
    decode_cursor,
)
from classbridge.graph.partner.context import PartnerInfo
from classbridge.graph.partner.types import (
    ClassType,
    Company,
    Connection,
    Cursor,
    Edge,
    Reservation,
    Session,
    Sport,
    Venue,
    WaitlistEntry,
    name_id,
    sessions_of,
)
from classbridge.models import catalog
from classbridge.models import reservation as reservation_model
from classbridge.models.session import SessionRow


def _time_key(raw: list[str]) -> tuple[datetime, uuid.UUID]:
    moment, row_id = raw  # a ValueError when the length is wrong
    return cursor_time(moment), cursor_id(row_id)


def _page(
    rows: list[Any],
    first: int,
    key: Callable[[Any], Sequence[Any]],
    node: Callable[[Any], Any],
    after_given: bool,
) -> Connection[Any]:
    page: Connection[Any] = connection(
        rows,
        first=first,
        key=key,
        node=node,
        after_given=after_given,
        types=(Connection, Edge, PageInfo),
    )
    return page


async def venue_page(
    info: PartnerInfo, *, after: str | None, first: int, company_id: uuid.UUID | None = None
) -> Connection[Venue]:
    size = check_page_size(first)
    cursor = decode_cursor(after, _time_key)
    async with info.context.read() as db:
        rows = await catalog.list_venues(
            db=db,
            aggregator=info.context.who,
            company_id=company_id,
            after=cursor,
            limit=size + 1,
        )
    return _page(
        rows,
        size,
        lambda r: (r.created_at.isoformat(), r.id),
        lambda r: Venue(row=r),
        cursor is not None,
    )


def _sport_key(raw: list[str]) -> str:
    (name,) = raw  # a ValueError when the length is wrong
    return name


def _session_key(mode: str) -> Callable[[list[str]], tuple[datetime, uuid.UUID]]:
    def parse(raw: list[str]) -> tuple[datetime, uuid.UUID]:
        if len(raw) != 3 or raw[0] != mode:
            raise ValueError("cursor of another listing")
        return cursor_time(raw[1]), cursor_id(raw[2])

    return parse


async def session_page(
    info: PartnerInfo,
    *,
    after: str | None,
    first: int,
    query: catalog.SessionQuery | None = None,
    venue_id: uuid.UUID | None = None,
) -> Connection[Session]:
    query = query or catalog.SessionQuery(venue_id=venue_id)
    size = check_page_size(first)
    # A change feed is ordered by change time, a schedule by start time: a cursor
    # says which it belongs to, so it cannot be replayed against the other.
    mode = "changed" if query.changed_after is not None else "start"
    cursor = decode_cursor(after, _session_key(mode))
    async with info.context.read() as db:
        rows = await catalog.list_sessions(
            db=db, aggregator=info.context.who, query=query, after=cursor, limit=size + 1
        )

    def key(r: SessionRow) -> tuple[str, str, uuid.UUID]:
        moment = r.updated_at if mode == "changed" else r.starts_at
        return (mode, moment.isoformat(), r.id)

    sessions = {s.row.id: s for s in await sessions_of(info, rows[:size])}
    return _page(rows, size, key, lambda r: sessions[r.id], cursor is not None)


async def reservation_page(
    info: PartnerInfo, *, session_id: uuid.UUID, after: str | None, first: int
) -> Connection[Reservation]:
    size = check_page_size(first)
    cursor = decode_cursor(after, _time_key)
    async with info.context.read() as db:
        rows = await catalog.list_reservations(
            db=db,
            aggregator=info.context.who,
            session_id=session_id,
            after=cursor,
            limit=size + 1,
        )
    return _page(
        rows,
        size,
        lambda r: (r.booked_at.isoformat(), r.id),
        lambda r: Reservation(row=r),
        cursor is not None,
    )


@strawberry.type
class PartnerQuery:
    @strawberry.field(description="A company connected to you (its extension for you is active).")
    async def company(self, info: PartnerInfo, id: strawberry.ID) -> Company:
        async with info.context.read() as db:
            row = await catalog.get_company(
                db=db, aggregator=info.context.who, company_id=parse_id(id)
            )
        return Company(row=row)

    @strawberry.field(description="Venues of every company connected to you.")
    async def venues(
        self, info: PartnerInfo, after: Cursor | None = None, first: int = 50
    ) -> Connection[Venue]:
        return await venue_page(info, after=after, first=first)

    @strawberry.field
    async def venue(self, info: PartnerInfo, id: strawberry.ID) -> Venue:
        async with info.context.read() as db:
            row = await catalog.get_venue(db=db, aggregator=info.context.who, venue_id=parse_id(id))
        return Venue(row=row)

    @strawberry.field(name="class")
    async def class_(self, info: PartnerInfo, id: strawberry.ID) -> ClassType:
        async with info.context.read() as db:
            row = await catalog.get_activity(
                db=db, aggregator=info.context.who, activity_id=parse_id(id)
            )
        return ClassType(row=row, venue_id=None)

    @strawberry.field(description="Sports of the classes connected studios offer.")
    async def sports(
        self, info: PartnerInfo, after: Cursor | None = None, first: int = 50
    ) -> Connection[Sport]:
        size = check_page_size(first)
        cursor = decode_cursor(after, _sport_key)
        async with info.context.read() as db:
            names = await catalog.list_sports(
                db=db, aggregator=info.context.who, after=cursor, limit=size + 1
            )
        return _page(
            names,
            size,
            lambda n: (n,),
            lambda n: Sport(id=name_id("sport", n), name=n),
            cursor is not None,
        )

    @strawberry.field(description="A session of a studio connected to you.")
    async def session(self, info: PartnerInfo, id: strawberry.ID) -> Session:
        async with info.context.read() as db:
            row = await catalog.get_class_session(
                db=db, aggregator=info.context.who, session_id=parse_id(id)
            )
        (session,) = await sessions_of(info, [row])
        return session

    @strawberry.field(
        description="Sessions on offer to you, in start order. With updatedAfter: every session "
        "whose state you can see changed since then (in order of change), including sessions "
        "the studio cancelled or stopped offering to you, which appear with isCancelled: true."
    )
    async def sessions(
        self,
        info: PartnerInfo,
        after: Cursor | None = None,
        first: int = 50,
        has_online_stream: bool | None = None,
        is_cancelled: bool | None = None,
        location_id: strawberry.ID | None = None,
        time_range_in_days: Annotated[
            float | None,
            strawberry.argument(
                description="How many days ahead to include, 1 to 28 (default 14)."
            ),
        ] = None,
        updated_after: Annotated[
            datetime | None,
            strawberry.argument(description="Only sessions changed after this moment (a feed)."),
        ] = None,
        venue_id: strawberry.ID | None = None,
    ) -> Connection[Session]:
        venue = venue_id or location_id
        if updated_after is not None and updated_after.tzinfo is None:
            updated_after = updated_after.replace(tzinfo=UTC)
        arguments: dict[str, object] = {
            "venue_id": parse_id(venue, field="venueId") if venue else None,
            "cancelled": is_cancelled,
            "has_online_stream": has_online_stream,
            "changed_after": updated_after,
        }
        if time_range_in_days is not None:
            arguments["range_days"] = time_range_in_days
        query = arguments_to_domain(
            catalog.SessionQuery,
            arguments,
            wire={"range_days": "timeRangeInDays", "changed_after": "updatedAfter"},
        )
        return await session_page(info, after=after, first=first, query=query)

    @strawberry.field(description="One of your reservations.")
    async def reservation(self, info: PartnerInfo, id: strawberry.ID) -> Reservation:
        async with info.context.read() as db:
            row = await reservation_model.get_reservation(
                db=db, aggregator=info.context.who, reservation_id=parse_id(id)
            )
        return Reservation(row=row)

    @strawberry.field(description="Your reservations of a session.")
    async def reservations(
        self,
        info: PartnerInfo,
        session_id: strawberry.ID,
        after: Cursor | None = None,
        first: int = 50,
    ) -> Connection[Reservation]:
        return await reservation_page(
            info, session_id=parse_id(session_id, field="sessionId"), after=after, first=first
        )

    @strawberry.field(
        description="Your members' waitlist entries of a session (all statuses), in order."
    )
    async def waitlist_entries(
        self, info: PartnerInfo, session_id: strawberry.ID
    ) -> list[WaitlistEntry]:
        async with info.context.read() as db:
            rows = await reservation_model.waitlist_entries(
                db=db,
                aggregator=info.context.who,
                session_id=parse_id(session_id, field="sessionId"),
            )
        return [WaitlistEntry(row=r) for r in rows]
