"""Partner API under a rush: N members reserve one session at once over real HTTP.

Prints throughput and latency percentiles. Runs against a fresh SQLite file by default;
pass a PostgreSQL URL (an empty database) with --database-url to measure that instead.

    .venv/bin/python bench/partner_reservations.py --members 200 --capacity 150

With --compare: `makeReservation` over GraphQL against a bare Starlette endpoint making
the same domain call (bench/bare.py `/bare/reserve`), one server process, wrk at
--connections (32) alternating the two, --rounds times; prints the ratio of medians.
Every request books a new member into one of 50 unlimited sessions.

    .venv/bin/python bench/partner_reservations.py --compare [--database-url URL]
"""

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import time
from datetime import datetime, timedelta

import httpx
import uvicorn

from classbridge.graph.app import create_app
from classbridge.migrate import upgrade
from classbridge.models import activity as activity_model
from classbridge.models import company as company_model
from classbridge.models import extension as extension_model
from classbridge.models import partner_token as token_model
from classbridge.models import session as session_model
from classbridge.models import staff as staff_model
from classbridge.models import tables
from classbridge.models.db import Database
from classbridge.models.inputs.activity import ActivityCreate, RegistrationRules
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.session import SessionSchedule
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.tables import Aggregator
from classbridge.settings import Settings

MAKE = "mutation M($s: ID!, $u: UserInput!) { makeReservation(sessionId: $s, user: $u) { id } }"


async def seed(
    database: Database, capacity: int | None, sessions: int = 1
) -> tuple[list[str], str]:
    async with database.transaction() as db:
        company = await company_model.create_company(db=db, name="Bench Studio")
        venue = await company_model.create_venue(
            db=db, company_id=company.id, venue=VenueCreate(name="Bench", timezone="Europe/Berlin")
        )
        owner = await staff_model.create_staff_user(
            db=db,
            company_id=company.id,
            user=StaffUserCreate(
                email=f"bench-{company.id}@example.com",
                name="Owner",
                password="correct horse battery",
                role=tables.StaffRole.OWNER,
            ),
        )
        actor = staff_model.StaffActor(user_id=owner.id, company_id=company.id, role=owner.role)
        await extension_model.activate_extension(
            db=db, actor=actor, aggregator=Aggregator.EGYM_WELLPASS
        )
        await extension_model.set_aggregator_venue_id(
            db=db, aggregator=Aggregator.EGYM_WELLPASS, venue_id=venue.id, aggregator_venue_id="b"
        )
        activity = await activity_model.create_activity(
            db=db,
            company_id=company.id,
            activity=ActivityCreate(
                name="Bench Flow",
                rules=RegistrationRules(max_participants=capacity, allow_aggregator_bookings=True),
            ),
        )
        scheduled = []
        for n in range(sessions):
            scheduled += await session_model.schedule_sessions(
                db=db,
                company_id=company.id,
                schedule=SessionSchedule(
                    activity_id=activity.id,
                    venue_id=venue.id,
                    start=(datetime.now() + timedelta(days=2 + n // 10)).replace(
                        hour=8 + n % 10, minute=0, second=0, microsecond=0
                    ),
                ),
            )
        _, token = await token_model.create_token(db=db, aggregator=Aggregator.EGYM_WELLPASS)
    return [str(s.id) for s in scheduled], token


async def run(database_url: str, members: int, capacity: int) -> None:
    database = Database(database_url)
    (session_id,), token = await seed(database, capacity)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(Settings(database_url=database_url), database)
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(20):
        while not server.started:  # noqa: ASYNC110  (uvicorn has no "started" event)
            await asyncio.sleep(0.01)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}

    async def one(c: httpx.AsyncClient, n: int) -> None:
        user = {"id": f"bench-{n}", "firstName": "B", "lastName": f"M{n}"}
        started = time.perf_counter()
        response = await c.post(
            "/aggregator/v1/graphql",
            json={"query": MAKE, "variables": {"s": session_id, "u": user}},
            headers={"Authorization": f"Bearer {token}"},
        )
        latencies.append(time.perf_counter() - started)
        body = response.json()
        key = (
            f"HTTP {response.status_code}"
            if response.status_code >= 500
            else "ok"
            if not body.get("errors")
            else body["errors"][0]["extensions"]["code"]
        )
        outcomes[key] = outcomes.get(key, 0) + 1

    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as c:
            started = time.perf_counter()
            await asyncio.gather(*(one(c, n) for n in range(members)))
            elapsed = time.perf_counter() - started
    finally:
        server.should_exit = True
        await task
        await database.dispose()
    q = statistics.quantiles(latencies, n=100)
    backend = database_url.split(":", 1)[0]
    print(f"backend={backend} members={members} capacity={capacity}")
    print(f"outcomes={outcomes}")
    print(f"total={elapsed:.2f}s throughput={members / elapsed:.1f} req/s")
    p50, p95, worst = q[49] * 1000, q[94] * 1000, max(latencies) * 1000
    print(f"latency p50={p50:.0f}ms p95={p95:.0f}ms max={worst:.0f}ms")


def _reserve_script(path: str, token: str, session_ids: list[str], graphql: bool) -> str:
    """wrk Lua: every request a new member (thread tag + counter), sessions in turn."""
    user = {"id": "MEMBER", "firstName": "B", "lastName": "M"}
    if graphql:
        template = json.dumps({"query": MAKE, "variables": {"s": "SESSION", "u": user}})
    else:
        template = json.dumps({"sessionId": "SESSION", "user": user})
    ids = ", ".join(f'"{i}"' for i in session_ids)
    return "\n".join(
        [
            'wrk.method = "POST"',
            'wrk.headers["Content-Type"] = "application/json"',
            f'wrk.headers["Authorization"] = "Bearer {token}"',
            f"local template = [==[{template}]==]",
            f"local ids = {{{ids}}}",
            "local n = 0",
            "local tag = tostring(math.random(1, 1e9))",
            "request = function()",
            "  n = n + 1",
            '  local body = string.gsub(template, "SESSION", ids[(n % #ids) + 1])',
            '  body = string.gsub(body, "MEMBER", "m-" .. tag .. "-" .. n)',
            f'  return wrk.format(nil, "{path}", nil, body)',
            "end",
        ]
    )


def compare(url: str, rounds: int, seconds: float, connections: int) -> None:
    import loadgen

    async def seeded() -> tuple[list[str], str]:
        # One event loop for the seed and the pool's close (PostgreSQL's connections
        # belong to the loop that opened them).
        database = Database(url)
        try:
            return await seed(database, None, sessions=50)
        finally:
            await database.dispose()

    session_ids, token = asyncio.run(seeded())
    graphql = _reserve_script("/aggregator/v1/graphql", token, session_ids, graphql=True)
    bare = _reserve_script("/bare/reserve", token, session_ids, graphql=False)
    print(f"backend={url.split(':', 1)[0]} connections={connections} {seconds}s x {rounds} rounds")
    print(f"machine: {loadgen.uptime()}")
    with loadgen.server(url) as server_url:
        rates = loadgen.alternate(
            {"graphql makeReservation": (server_url, graphql), "bare": (server_url, bare)},
            rounds=rounds,
            connections=connections,
            seconds=seconds,
        )
    print(f"machine after: {loadgen.uptime()}")
    g, b = loadgen.median(rates["graphql makeReservation"]), loadgen.median(rates["bare"])
    print(f"medians: graphql {g:.1f} req/s  bare {b:.1f} req/s  graphql/bare {g / b:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--capacity", type=int, default=150)
    parser.add_argument("--database-url", help="an empty database; default: a temporary SQLite")
    parser.add_argument("--compare", action="store_true", help="GraphQL against bare, with wrk")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    url = args.database_url
    with tempfile.TemporaryDirectory() as tmp:
        if url is None:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        upgrade(url)
        if args.compare:
            compare(url, args.rounds, args.seconds, args.connections)
        else:
            asyncio.run(run(url, args.members, args.capacity))


if __name__ == "__main__":
    main()
