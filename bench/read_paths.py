"""Read paths over HTTP: GraphQL against a bare endpoint (same domain functions, same
JSON; bench/bare.py), and against an older checkout of classbridge, in one run.

    git worktree add /tmp/oldmain <commit>          # the version to compare with
    .venv/bin/python bench/read_paths.py [--database-url URL] [--old /tmp/oldmain]

Paths: partner `sessions(first: 100)` with the reference fields of Session and its class,
venue and location (what aggregators poll); staff `sessions(first: 100)` (a schedule page
with counts and bookings) and `signInList` (50 bookings). One server process per
variant, wrk as the client (bench/loadgen.py), variants alternating round by round.
Without --database-url: a fresh SQLite file. A PostgreSQL URL must name an empty database.
"""

import argparse
import asyncio
import json
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import loadgen

from classbridge.migrate import upgrade
from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import company as company_model
from classbridge.models import customer as customer_model
from classbridge.models import extension as extension_model
from classbridge.models import partner_token as token_model
from classbridge.models import product as product_model
from classbridge.models import session as session_model
from classbridge.models import staff as staff_model
from classbridge.models import tables
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.activity import ActivityCreate, RegistrationRules
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.customer import CustomerCreate
from classbridge.models.inputs.session import SessionSchedule, WeeklyRepeat
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import Aggregator, BookingSource, ProductKind

PARTNER_POLL = """query Poll($first: Int!) {
  sessions(first: $first) {
    edges { cursor node {
      id name isCancelled cancelledAt totalSpots totalAggregatorSpots availableSpots
      startv2 endv2 start end bookingWindowStart bookingWindowEnd lateCancelWindow
      hasOnlineStream updatedAt
      class { id name venue { id } } sport { id name } venue { id timezone aggregatorVenueId }
      location { id } address { city } teachers { name } room { name }
    } }
    pageInfo { hasNextPage hasPreviousPage }
  }
}"""
STAFF_SCHEDULE = """query Schedule($first: Int) { sessions(first: $first) { edges { node {
  localStart activity { name } venue { name } counts { booked available }
  bookings { status customer { lastName } product { name } }
} } } }"""
SIGN_IN_LIST = """query SignIn($id: ID!) { signInList(sessionId: $id) {
  session { localStart activity { name } venue { name } } counts { booked capacity checkedIn }
  bookings { status source customer { lastName aggregatorIds { externalId } } product { name } }
} }"""


async def seed(database: Database) -> tuple[str, str, str]:
    """One studio connected to EGYM Wellpass: 8 classes a day for 13 days (104 sessions,
    2 bookings each) and one session of 50 bookings. Returns staff token, partner token
    and the 50-booking session's id."""
    async with database.transaction() as db:
        company = await company_model.create_company(db=db, name="Bench Studio")
        venue = await company_model.create_venue(
            db=db, company_id=company.id, venue=VenueCreate(name="Mitte", timezone="Europe/Berlin")
        )
        owner = await staff_model.create_staff_user(
            db=db,
            company_id=company.id,
            user=StaffUserCreate(
                email="bench@example.com",
                name="B",
                password="bench-password",
                role=tables.StaffRole.OWNER,
            ),
        )
        actor = staff_model.StaffActor(user_id=owner.id, company_id=company.id, role=owner.role)
        await extension_model.activate_extension(
            db=db, actor=actor, aggregator=Aggregator.EGYM_WELLPASS
        )
        await extension_model.set_aggregator_venue_id(
            db=db,
            aggregator=Aggregator.EGYM_WELLPASS,
            venue_id=venue.id,
            aggregator_venue_id="wp-1",
        )
        activity = await activity_model.create_activity(
            db=db,
            company_id=company.id,
            activity=ActivityCreate(
                name="Flow",
                rules=RegistrationRules(max_participants=60, allow_aggregator_bookings=True),
            ),
        )
        drop_in = await product_model.create_product(
            db=db, company_id=company.id, name="Drop-in", kind=ProductKind.DROP_IN
        )
        people = [
            await customer_model.create_customer(
                db=db,
                company_id=company.id,
                customer=CustomerCreate(first_name="P", last_name=f"G{i:04d}"),
            )
            for i in range(50)
        ]
        day = utc_to_local(utcnow(), venue.zone).date() + timedelta(days=1)
        sessions = []
        for hour in range(8, 16):
            sessions += await session_model.schedule_sessions(
                db=db,
                company_id=company.id,
                schedule=SessionSchedule(
                    activity_id=activity.id,
                    venue_id=venue.id,
                    start=datetime(day.year, day.month, day.day, hour),
                    repeat=WeeklyRepeat(
                        weekdays=[1, 2, 3, 4, 5, 6, 7], until=day + timedelta(days=12)
                    ),
                ),
            )
        sessions.sort(key=lambda s: (s.starts_at, s.id))
        for i, s in enumerate(sessions):
            for person in people[: 50 if i == 0 else 2]:
                await booking_model.book(
                    db=db,
                    company_id=company.id,
                    session_id=s.id,
                    customer_id=person.id,
                    product_id=drop_in.id,
                    source=BookingSource.STAFF,
                )
        staff_token = await staff_model.issue_token(db=db, user=owner, ttl_days=1)
        _, partner_token = await token_model.create_token(
            db=db, aggregator=Aggregator.EGYM_WELLPASS
        )
    return staff_token, partner_token, str(sessions[0].id)


def _body(query: str, variables: dict[str, object]) -> str:
    return json.dumps({"query": query, "variables": variables})


def in_process_requests(tokens: tuple[str, str, str]) -> dict[str, tuple[str, str, str]]:
    """The pages as (path, body, token) for a request in process (bench/read_cpu.py,
    bench/read_instructions.py), `{ __typename }` first: the fixed cost of any request."""
    staff, partner, signin_id = tokens
    return {
        "staff { __typename }": ("/graphql", _body("{ __typename }", {}), staff),
        "partner sessions(first:100)": (
            "/aggregator/v1/graphql",
            _body(PARTNER_POLL, {"first": 100}),
            partner,
        ),
        "staff sessions(first:100)": ("/graphql", _body(STAFF_SCHEDULE, {"first": 100}), staff),
        "staff signInList (50)": ("/graphql", _body(SIGN_IN_LIST, {"id": signin_id}), staff),
    }


def page_scripts(
    staff_token: str, partner_token: str, signin_id: str
) -> dict[str, tuple[str, str]]:
    """The three pages: wrk scripts of their GraphQL documents and of their bare twins."""
    return {
        "partner sessions(first:100)": (
            loadgen.lua_post(
                "/aggregator/v1/graphql", _body(PARTNER_POLL, {"first": 100}), partner_token
            ),
            loadgen.lua_get("/bare/partner-sessions?first=100", partner_token),
        ),
        "staff sessions(first:100)": (
            loadgen.lua_post("/graphql", _body(STAFF_SCHEDULE, {"first": 100}), staff_token),
            loadgen.lua_get("/bare/staff-sessions?first=100", staff_token),
        ),
        "staff signInList (50)": (
            loadgen.lua_post("/graphql", _body(SIGN_IN_LIST, {"id": signin_id}), staff_token),
            loadgen.lua_get(f"/bare/sign-in-list?id={signin_id}", staff_token),
        ),
    }


def seeded(url: str) -> tuple[str, str, str]:
    """A migrated, seeded database (see `seed`)."""
    upgrade(url)
    database = Database(url)

    async def seed_and_close() -> tuple[str, str, str]:
        try:
            return await seed(database)
        finally:  # in the loop that opened them (asyncpg's connections belong to it)
            await database.dispose()

    return asyncio.run(seed_and_close())


def run(url: str, old: Path | None, rounds: int, seconds: float, connections: int) -> None:
    paths = page_scripts(*seeded(url))
    print(f"backend={url.split(':', 1)[0]} connections={connections} {seconds}s x {rounds} rounds")
    print(f"machine: {loadgen.uptime()}")
    with loadgen.server(url) as new, _maybe_old(url, old) as old_url:
        results = []
        for name, (graphql_script, bare_script) in paths.items():
            print(name)
            variants = {"graphql": (new, graphql_script), "bare": (new, bare_script)}
            if old_url is not None:
                variants["old graphql"] = (old_url, graphql_script)
            rates = loadgen.alternate(
                variants, rounds=rounds, connections=connections, seconds=seconds
            )
            results.append((name, {k: loadgen.median(v) for k, v in rates.items()}))
    print(f"machine after: {loadgen.uptime()}")
    print("medians (pages/s) and ratios")
    for name, m in results:
        line = f"  {name:28} graphql {m['graphql']:7.1f}  bare {m['bare']:7.1f}"
        line += f"  graphql/bare {m['graphql'] / m['bare']:.2f}"
        if "old graphql" in m:
            line += (
                f"  old {m['old graphql']:7.1f}  graphql/old {m['graphql'] / m['old graphql']:.1f}x"
            )
        print(line)


class _NoServer:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


def _maybe_old(url: str, old: Path | None):  # type: ignore[no-untyped-def]
    return loadgen.server(url, checkout=old, plain=True) if old is not None else _NoServer()


Runner = Callable[[str, Path | None, int, float, int], None]


def main_of(
    runner: Runner,
    description: str | None,
    *,
    old_required: bool = False,
    rounds: int,
    seconds: float,
    connections: int,
) -> None:
    """The command line of a bench over the read pages: `runner(url, old, rounds,
    seconds, connections)` on the database given, or a temporary SQLite file."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database-url", help="an empty database; default: a temporary SQLite")
    parser.add_argument(
        "--old", type=Path, required=old_required, help="an older checkout to compare with"
    )
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--connections", type=int, default=connections)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        runner(url, args.old, args.rounds, args.seconds, args.connections)


def main() -> None:
    main_of(run, __doc__, rounds=3, seconds=5, connections=8)


if __name__ == "__main__":
    main()
