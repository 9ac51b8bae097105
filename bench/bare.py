"""The floor the GraphQL layer is measured against: bare Starlette endpoints that make the
same domain calls and build the same JSON as the GraphQL documents of the benches, served
by one process next to the classbridge app (same engine, same settings).

    .venv/bin/python bench/bare.py --database-url URL --port 8001 [--plain]

`--plain` serves the classbridge app alone (used to run an older checkout of classbridge
with PYTHONPATH pointing at it: only functions that exist there are imported).
`--stock-sqlite` reads SQLite through SQLAlchemy's own aiosqlite adapter instead of
models/sqlite_driver.py (bench/sqlite_trips.py compares the two).
"""

import argparse
import functools
import os
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

# BENCH_CHECKOUT: serve another source tree's classbridge (the editable install's finder
# would otherwise win over PYTHONPATH).
if os.environ.get("BENCH_CHECKOUT"):
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in str(f)]
    sys.path.insert(0, os.environ["BENCH_CHECKOUT"])

import orjson
import uvicorn
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from classbridge.graph.app import create_app
from classbridge.graph.pagination import encode_cursor
from classbridge.models import catalog
from classbridge.models import partner_token as token_model
from classbridge.models import reservation as reservation_model
from classbridge.models import session as session_model
from classbridge.models import staff as staff_model
from classbridge.models.booking import (
    SIGN_IN_ORDER,
    BookingCounts,
    available_spots,
    booking_counts,
    spot_counts,
)
from classbridge.models.db import Database, rows_by_id
from classbridge.models.inputs.customer import Member
from classbridge.models.inputs.session import SessionFilter
from classbridge.models.localtime import utc_to_local
from classbridge.models.offer import format_local
from classbridge.models.session import effective_rules
from classbridge.models.tables import (
    Activity,
    Booking,
    ClassSession,
    Customer,
    CustomerAggregatorId,
    Product,
    Venue,
)
from classbridge.settings import Settings

try:
    from classbridge.models.db import any_of
except ImportError:  # an older checkout (BENCH_CHECKOUT) reads with IN, as it did then

    def any_of(db: Any, column: Any, values: Any) -> Any:  # type: ignore[misc]
        return column.in_(list(values))


try:
    from classbridge.models.db import table_records
except ImportError:  # an older checkout reads bookings and customers as entities
    table_records = None  # type: ignore[assignment]

try:
    from classbridge.models.sign_in_list import listed_bookings
except ImportError:  # an older checkout: products and aggregator ids read on their own
    listed_bookings = None  # type: ignore[assignment]

try:
    from classbridge.models.booking import counts_of
except ImportError:  # an older checkout counts in a query of their own (`booking_counts`)
    counts_of = None  # type: ignore[assignment]


Handler = Callable[[Request], Awaitable[Response]]


def _json(data: Any) -> Response:
    # As the GraphQL endpoints encode (graph/http.py `encode_json`); an older checkout
    # served with --plain does not use this.
    body = orjson.dumps({"data": data}, default=str)
    return Response(body, media_type="application/json")


def _token(request: Request) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ").strip()


@functools.lru_cache(maxsize=4096)  # as graph/partner/types.py name_id
def _name_id(*parts: object) -> str:
    names = uuid.UUID("6f1c2a4e-3b8d-4f7a-9c1e-2d5b8a7f0c31")  # graph/partner/types.py
    return str(uuid.uuid5(names, "/".join(str(p).casefold() for p in parts)))


def bare_routes(database: Database) -> list[Route]:
    # Here, not at the top: `--plain` serves older checkouts, which may not have them.
    from classbridge.models import audit
    from classbridge.models.offer import offers_of
    from classbridge.models.tables import AuditActorKind

    async def reserve(request: Request) -> Response:
        body = await request.json()
        async with database.read() as db:
            actor = await token_model.authenticate(db=db, token=_token(request))
        if actor is None:
            return Response(status_code=401)
        user = body["user"]
        async with database.transaction() as db:
            # Recorded in the audit log as every partner change is (graph/context.py
            # `audit_actor`): the log is domain work, not the GraphQL layer's.
            audit.act_as(
                db,
                audit.AuditActor(
                    kind=AuditActorKind.AGGREGATOR,
                    id=actor.token_id,
                    label=actor.aggregator.display_name,
                ),
            )
            booking = await reservation_model.make_reservation(
                db=db,
                aggregator=actor.aggregator,
                session_id=uuid.UUID(body["sessionId"]),
                member=Member(
                    id=user["id"], first_name=user["firstName"], last_name=user["lastName"]
                ),
            )
        return _json({"makeReservation": {"id": str(booking.id)}})

    async def partner_sessions(request: Request) -> Response:
        """`PARTNER_POLL` of bench/read_paths.py, field by field."""
        first = int(request.query_params.get("first", "100"))
        async with database.read() as db:
            actor = await token_model.authenticate(db=db, token=_token(request))
            if actor is None:
                return Response(status_code=401)
            who = actor.aggregator
            rows = await catalog.list_sessions(
                db=db, aggregator=who, query=catalog.SessionQuery(), after=None, limit=first + 1
            )
            page = rows[:first]
            found = await offers_of(db=db, aggregator=who, sessions=page)
            offers, venues, activities = found.by_session, found.venues, found.activities
            links = found.venue_links
        edges = []
        for row in page:
            o, v, a = offers[row.id], venues[row.venue_id], activities[row.activity_id]
            node = {
                "id": str(row.id),
                "name": o.name,
                "isCancelled": o.is_cancelled or not o.offered,
                "cancelledAt": o.cancelled_at
                if o.cancelled_at is not None
                else (None if o.offered else o.updated_at),
                "totalSpots": o.total_spots,
                "totalAggregatorSpots": o.total_aggregator_spots,
                "availableSpots": o.available_spots,
                "startv2": format_local(o.start_local, with_offset=True),
                "endv2": format_local(o.end_local, with_offset=True),
                "start": format_local(o.start_local, with_offset=False),
                "end": format_local(o.end_local, with_offset=False),
                "bookingWindowStart": o.booking_window_start,
                "bookingWindowEnd": o.booking_window_end,
                "lateCancelWindow": o.late_cancel_window,
                "hasOnlineStream": False,
                "updatedAt": o.updated_at.isoformat(),
                "class": {"id": str(a.id), "name": a.name, "venue": {"id": str(v.id)}},
                "sport": {"id": _name_id("sport", o.sport), "name": o.sport},
                "venue": {
                    "id": str(v.id),
                    "timezone": v.timezone,
                    "aggregatorVenueId": links.get(v.id),
                },
                "location": {"id": str(v.id)},
                "address": {"city": v.city},
                "teachers": [{"name": row.teacher}] if row.teacher else [],
                "room": {"name": row.room} if row.room else None,
            }
            cursor = encode_cursor(("start", row.starts_at.isoformat(), row.id))
            edges.append({"cursor": cursor, "node": node})
        page_info = {"hasNextPage": len(rows) > first, "hasPreviousPage": False}
        return _json({"sessions": {"edges": edges, "pageInfo": page_info}})

    async def _bookings(
        db: Any, session_ids: list[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, list[Any]], dict[uuid.UUID, Any]]:
        """Bookings by session with their customers, from one statement, as plain rows
        (as the GraphQL side's loader reads them)."""
        grouped: dict[uuid.UUID, list[Any]] = {i: [] for i in session_ids}
        customers: dict[uuid.UUID, Any] = {}
        tables = (Booking.__table__, Customer.__table__)  # type: ignore[attr-defined]
        statement = (
            select(*(c for table in tables for c in table.c))
            .join(Customer, col(Customer.id) == Booking.customer_id)
            .where(any_of(db, col(Booking.session_id), session_ids))
            .order_by(*SIGN_IN_ORDER)
        )
        if table_records is not None:
            rows: Any = await table_records(db, statement, *tables)
        else:
            rows = await db.execute(
                select(Booking, Customer).from_statement(statement)  # type: ignore[arg-type]
            )
        for booking, customer in rows:
            grouped[booking.session_id].append(booking)
            customers[customer.id] = customer
        return grouped, customers

    async def _counts(
        db: Any, bookings: dict[uuid.UUID, list[Booking]]
    ) -> dict[uuid.UUID, BookingCounts]:
        """Counted from the bookings read, as the GraphQL side counts them."""
        if counts_of is None:
            return await booking_counts(db=db, session_ids=list(bookings))
        return {session_id: counts_of(listed) for session_id, listed in bookings.items()}

    async def _shown(
        db: Any, ids: list[uuid.UUID]
    ) -> tuple[dict[uuid.UUID, list[tuple[Any, str, str]]], dict[uuid.UUID, BookingCounts]]:
        """Each session's bookings with their customer's last name and product's name, and
        their counts, as the GraphQL side reads them (`listed_bookings`); an older
        checkout's products in a statement of their own."""
        if listed_bookings is not None:
            listed = await listed_bookings(db=db, session_ids=ids)
            counted = {i: counts_of([b.row for b in bs]) for i, bs in listed.items()}
            return {
                i: [(b.row, b.customer.last_name, b.product.name) for b in bs]
                for i, bs in listed.items()
            }, counted
        bookings, customers = await _bookings(db, ids)
        everyone = [b for bs in bookings.values() for b in bs]
        products = await rows_by_id(db, Product, {b.product_id for b in everyone})
        return {
            i: [(b, customers[b.customer_id].last_name, products[b.product_id].name) for b in bs]
            for i, bs in bookings.items()
        }, await _counts(db, bookings)

    async def staff_sessions(request: Request) -> Response:
        """`STAFF_SCHEDULE` of bench/read_paths.py."""
        first = int(request.query_params.get("first", "100"))
        async with database.read() as db:
            actor = await staff_model.authenticate(db=db, token=_token(request))
            if actor is None:
                return Response(status_code=401)
            rows = await session_model.list_sessions(
                db=db,
                company_id=actor.company_id,
                where=SessionFilter(),
                after=None,
                limit=first + 1,
            )
            page = rows[:first]
            ids = [r.id for r in page]
            venues = await rows_by_id(db, Venue, {r.venue_id for r in page})
            activities = await rows_by_id(db, Activity, {r.activity_id for r in page})
            shown, counts = await _shown(db, ids)
        edges = []
        for row in page:
            v, a = venues[row.venue_id], activities[row.activity_id]
            spots = spot_counts(effective_rules(row, a), counts[row.id])
            edges.append(
                {
                    "node": {
                        "localStart": utc_to_local(row.starts_at, v.zone).isoformat(),
                        "activity": {"name": a.name},
                        "venue": {"name": v.name},
                        "counts": {"booked": spots.booked, "available": spots.available},
                        "bookings": [
                            {
                                "status": b.status.value,
                                "customer": {"lastName": last_name},
                                "product": {"name": product_name},
                            }
                            for b, last_name, product_name in shown[row.id]
                        ],
                    }
                }
            )
        return _json({"sessions": {"edges": edges}})

    async def _listed(db: Any, session_id: uuid.UUID) -> list[tuple[Any, Any, Any, list[str]]]:
        """A session's bookings with customer, product and the customer's aggregator ids
        (external ids), as the GraphQL side reads them (`listed_bookings`); an older
        checkout's in statements of their own."""
        if listed_bookings is not None:
            listed = await listed_bookings(
                db=db, session_ids=[session_id], with_aggregator_ids=True
            )
            return [
                (b.row, b.customer, b.product, [i.external_id for i in b.aggregator_ids or ()])
                for b in listed[session_id]
            ]
        by_session, customers = await _bookings(db, [session_id])
        bookings = by_session[session_id]
        products = await rows_by_id(db, Product, {b.product_id for b in bookings})
        ids_of: dict[uuid.UUID, list[str]] = {c: [] for c in customers}
        for link in await db.scalars(
            select(CustomerAggregatorId).where(
                any_of(db, col(CustomerAggregatorId.customer_id), customers)
            )
        ):
            ids_of[link.customer_id].append(link.external_id)
        return [
            (b, customers[b.customer_id], products[b.product_id], ids_of[b.customer_id])
            for b in bookings
        ]

    async def sign_in_list(request: Request) -> Response:
        """`SIGN_IN_LIST` of bench/read_paths.py."""
        async with database.read() as db:
            actor = await staff_model.authenticate(db=db, token=_token(request))
            if actor is None:
                return Response(status_code=401)
            row, activity, venue = await session_model.get_session_with_activity_and_venue(
                db=db,
                company_id=actor.company_id,
                session_id=uuid.UUID(request.query_params["id"]),
            )
            listed = await _listed(db, row.id)
            counts = (
                counts_of([b for b, *_ in listed])
                if counts_of is not None
                else (await booking_counts(db=db, session_ids=[row.id]))[row.id]
            )
        spots = spot_counts(effective_rules(row, activity), counts)
        data = {
            "session": {
                "localStart": utc_to_local(row.starts_at, venue.zone).isoformat(),
                "activity": {"name": activity.name},
                "venue": {"name": venue.name},
            },
            "counts": {
                "booked": spots.booked,
                "capacity": spots.capacity,
                "checkedIn": spots.checked_in,
            },
            "bookings": [
                {
                    "status": b.status.value,
                    "source": b.source.value,
                    "customer": {
                        "lastName": customer.last_name,
                        "aggregatorIds": [{"externalId": e} for e in external_ids],
                    },
                    "product": {"name": product.name},
                }
                for b, customer, product, external_ids in listed
            ],
        }
        return _json({"signInList": data})

    _ = (available_spots, ClassSession)  # same imports as the GraphQL side; kept for clarity
    return [
        Route("/bare/reserve", reserve, methods=["POST"]),
        Route("/bare/partner-sessions", partner_sessions),
        Route("/bare/staff-sessions", staff_sessions),
        Route("/bare/sign-in-list", sign_in_list),
    ]


def build(database_url: str, *, plain: bool, stock_sqlite: bool = False) -> Starlette:
    # No partner rate limit: the bench measures the server, not the budget.
    settings = Settings(database_url=database_url, partner_rate_limit="")
    # An older checkout's Database may not know `one_trip`: only named when asked for.
    database = Database(database_url, one_trip=False) if stock_sqlite else Database(database_url)
    app = create_app(settings, database)
    if not plain:
        # Inside the app, so they pass the same middleware (request ids, metrics) as the
        # GraphQL endpoints: the difference measured is the GraphQL layer alone.
        app.router.routes[:0] = bare_routes(database)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--plain", action="store_true")
    parser.add_argument("--stock-sqlite", action="store_true")
    args = parser.parse_args()
    app = build(args.database_url, plain=args.plain, stock_sqlite=args.stock_sqlite)
    # As `classbridge serve` does, an older checkout too: served without its collector
    # tuning, a checkout of the same code measured 1.1-1.5x slower (an A/A run).
    try:
        from classbridge.ops.gc_tuning import tune_for_serving
    except ImportError:  # a checkout from before the tuning: served as it was then
        pass
    else:
        tune_for_serving()
    uvicorn.run(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False, lifespan="off"
    )


if __name__ == "__main__":
    main()
