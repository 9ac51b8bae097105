"""Push benchmark: prints figures, asserts nothing (not a test).

1. Sync lag, commit -> receipt at the simulator (p50, p95), the simulator a real process:
   with the embedded runner (in this process, no Redis, as `classbridge serve` by default)
   and with a real `classbridge worker` on Redis. Isolated changes, one at a time: each
   comes a random moment more than the coalescing window after the previous one was
   received (a burst's later changes wait for the window by design; the tests bound those
   by request counts).
2. Throughput: N session changes (10,000 by default) batched (the default settings: 100
   states per request, 4 requests in flight) versus one request per change (batch 1, one
   in flight; on the first --single-changes sessions, 1,000 by default, as it is slow),
   alternating, --rounds times, through the same job functions the worker runs (in this
   process, so both see the same machine). The ratio compares changes per second.

    .venv/bin/python bench/push_bench.py                  # temporary SQLite file
    .venv/bin/python bench/push_bench.py --postgres       # temporary PostgreSQL database

Needs Redis at CLASSBRIDGE_REDIS_URL (default redis://127.0.0.1:6379/0) for the worker.
"""

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import IO

import asyncpg
import httpx
import sqlalchemy as sa
from sqlmodel import col

from classbridge.jobs.client import AggregatorClient
from classbridge.jobs.embedded import push_lifespan
from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.migrate import upgrade
from classbridge.models import activity as activity_model
from classbridge.models import company as company_model
from classbridge.models import session as session_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.activity import ActivityCreate, RegistrationRules
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.session import SessionEdit, SessionSchedule
from classbridge.models.outbox import touch_sessions
from classbridge.models.tables import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueLink,
    ClassSession,
    ExtensionStatus,
)
from classbridge.settings import Settings

SECRET = "whsec_" + "YmVuY2htYXJrLXNlY3JldC1mb3ItdGhlLXB1c2gtYmVuY2g="
PG = dict(host="127.0.0.1", port=5432, user="postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "classbridge.cli", *args]


def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early ({proc.args})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def spawn(args: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)


def env_for(database_url: str, receiver: str, redis_url: str, queue: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBRIDGE_")}
    env.update(
        CLASSBRIDGE_DATABASE_URL=database_url,
        CLASSBRIDGE_REDIS_URL=redis_url,
        CLASSBRIDGE_QUEUE_NAME=queue,
        CLASSBRIDGE_EGYM_WELLPASS_PUSH_URL=receiver,
        CLASSBRIDGE_EGYM_WELLPASS_PUSH_SECRET=SECRET,
    )
    return env


async def setup_studio(database: Database) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    async with database.transaction() as db:
        company = await company_model.create_company(db=db, name="Bench Studio")
        venue = await company_model.create_venue(
            db=db,
            company_id=company.id,
            venue=VenueCreate(name="Bench Mitte", timezone="Europe/Berlin"),
        )
        activity = await activity_model.create_activity(
            db=db,
            company_id=company.id,
            activity=ActivityCreate(
                name="Bench Flow",
                rules=RegistrationRules(max_participants=20, allow_aggregator_bookings=True),
            ),
        )
        db.add(
            AggregatorExtension(
                company_id=company.id,
                aggregator=Aggregator.EGYM_WELLPASS,
                status=ExtensionStatus.ACTIVE,
            )
        )
        db.add(
            AggregatorVenueLink(
                venue_id=venue.id, aggregator=Aggregator.EGYM_WELLPASS, aggregator_venue_id="b-1"
            )
        )
    return company.id, venue.id, activity.id


async def versions_at(http: httpx.AsyncClient, receiver: str) -> dict[str, list[float]]:
    return (await http.get(f"{receiver}/versions")).json()["sessions"]


async def measure_lag(
    database: Database, settings: Settings, receiver: str, ids: tuple, samples: int
) -> list[float]:
    company_id, venue_id, activity_id = ids
    async with database.transaction() as db:
        [session] = await session_model.schedule_sessions(
            db=db,
            company_id=company_id,
            schedule=SessionSchedule(
                activity_id=activity_id,
                venue_id=venue_id,
                start=(utcnow() + timedelta(days=2)).replace(tzinfo=None, microsecond=0),
            ),
        )
    sid = str(session.id)
    lags = []
    window = settings.push_coalesce_seconds
    async with push_lifespan(database, settings), httpx.AsyncClient() as http:
        for i in range(samples + 1):
            async with database.transaction() as db:
                row = await session_model.edit_session(
                    db=db,
                    company_id=company_id,
                    session_id=session.id,
                    changes=SessionEdit(room=f"R{i}"),
                )
                committed = time.time()  # the commit follows at once when the block ends
            want = row.version
            deadline = time.monotonic() + 30
            while True:
                got = (await versions_at(http, receiver)).get(sid)
                if got and got[0] >= want:
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"change {i} did not arrive within 30 s")
                await asyncio.sleep(0.002)
            if i:  # the first sample pays for the first connections
                lags.append(got[1] - committed)
            # Isolated changes at random moments: after the window the last one opened.
            await asyncio.sleep(window + random.uniform(0.05, 0.5))
    return lags


async def create_sessions(database: Database, ids: tuple, n: int) -> list[uuid.UUID]:
    """Insert N sessions straight into the table (set-up, not what is measured)."""
    company_id, venue_id, activity_id = ids
    start = utcnow() + timedelta(hours=3)
    rows = []
    for i in range(n):
        at = start + timedelta(minutes=(i * 17) % (13 * 24 * 60))
        rows.append(
            dict(
                id=uuid.uuid4(),
                company_id=company_id,
                activity_id=activity_id,
                venue_id=venue_id,
                starts_at=at,
                ends_at=at + timedelta(hours=1),
                aggregator_mode="FOLLOW_ACTIVITY",
                aggregator_allowed=False,
                version=1,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    async with database.transaction() as db:
        for chunk in range(0, n, 1000):
            await db.execute(sa.insert(ClassSession), rows[chunk : chunk + 1000])
    return [r["id"] for r in rows]


async def measure_throughput(
    database: Database,
    settings: Settings,
    receiver: str,
    session_ids: list[uuid.UUID],
    batch: int,
    parallel: int,
) -> tuple[float, int, float]:
    """Change every session once, then push until all are acknowledged: (seconds, requests,
    CPU seconds of this process — less sensitive to a loaded machine than the wall clock)."""
    async with database.transaction() as db:
        for chunk in range(0, len(session_ids), 1000):
            await touch_sessions(db, col(ClassSession.id).in_(session_ids[chunk : chunk + 1000]))
    async with database.read() as db:
        want = dict(
            (
                await db.execute(
                    sa.select(ClassSession.id, ClassSession.version).where(
                        col(ClassSession.id).in_(session_ids)
                    )
                )
            ).all()
        )
    run_settings = settings.model_copy(
        update={"push_batch_size": batch, "push_parallel_requests": parallel}
    )

    async def schedule(_at: object) -> None:
        pass

    rt = PushRuntime(
        database=database,
        client=AggregatorClient(run_settings),
        settings=run_settings,
        schedule=schedule,
    )
    try:
        started, cpu = time.perf_counter(), time.process_time()
        while await push_changes(rt):  # each run is bounded; go on until nothing is left
            pass
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await rt.client.aclose()
    async with httpx.AsyncClient() as http:
        held = await versions_at(http, receiver)
    missing = [s for s in session_ids if held.get(str(s), [0])[0] != want[s]]
    if missing:
        raise SystemExit(f"{len(missing)} sessions did not arrive at their new version")
    return elapsed, rt.stats.get("requests", 0), cpu


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", action="store_true", help="use a temporary PG database")
    parser.add_argument("--samples", type=int, default=40, help="lag samples per runner")
    parser.add_argument("--changes", type=int, default=10_000, help="changes for throughput")
    parser.add_argument("--coalesce", type=float, default=0.5, help="push_coalesce_seconds")
    parser.add_argument(
        "--single-changes", type=int, default=1000, help="changes sent one request each"
    )
    parser.add_argument("--rounds", type=int, default=2, help="batched/single alternations")
    args = parser.parse_args()
    redis_url = os.environ.get("CLASSBRIDGE_REDIS_URL", "redis://127.0.0.1:6379/0")

    tmp = Path(tempfile.mkdtemp(prefix="push-bench-"))
    pg_name = f"cb_bench_{uuid.uuid4().hex[:8]}"
    if args.postgres:
        conn = await asyncpg.connect(database="postgres", **PG)
        await conn.execute(f'CREATE DATABASE "{pg_name}"')
        await conn.close()
        url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{pg_name}"
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    await asyncio.to_thread(upgrade, url)

    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    queue = f"bench:{uuid.uuid4().hex[:8]}"
    env = env_for(url, receiver, redis_url, queue)
    env["CLASSBRIDGE_PUSH_COALESCE_SECONDS"] = str(args.coalesce)
    log = (tmp / "procs.log").open("wb")
    sim = spawn(cli("simulate-aggregator", "--port", str(port), "--secret", SECRET), env, log)
    worker = None
    database = Database(url)
    rounds: list[tuple[float, int, float, float, int, float]] = []
    try:
        wait_port(port, sim)
        settings = Settings(
            database_url=url,
            redis_url=redis_url,
            queue_name=queue,
            egym_wellpass_push_url=receiver,
            egym_wellpass_push_secret=SECRET,  # type: ignore[arg-type]
            push_coalesce_seconds=args.coalesce,
        )
        ids = await setup_studio(database)
        embedded = settings.model_copy(update={"redis_url": None})
        lags_embedded = await measure_lag(database, embedded, receiver, ids, args.samples)
        worker = spawn(cli("worker"), env, log)
        lags_worker = await measure_lag(database, settings, receiver, ids, args.samples)
        worker.terminate()
        worker.wait(10)

        session_ids = await create_sessions(database, ids, args.changes)
        single_ids = session_ids[: args.single_changes]
        defaults = Settings()
        for _ in range(args.rounds):
            batched, batched_requests, batched_cpu = await measure_throughput(
                database,
                settings,
                receiver,
                session_ids,
                defaults.push_batch_size,
                defaults.push_parallel_requests,
            )
            single, single_requests, single_cpu = await measure_throughput(
                database, settings, receiver, single_ids, 1, 1
            )
            rounds.append(
                (batched, batched_requests, batched_cpu, single, single_requests, single_cpu)
            )
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
        sim.terminate()
        sim.wait(10)
        await database.dispose()
        if args.postgres:
            conn = await asyncpg.connect(database="postgres", **PG)
            await conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await conn.close()

    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"backend: {backend}; coalescing window {args.coalesce:g} s; load {os.getloadavg()}")
    for name, lags in (("embedded runner", lags_embedded), ("worker on Redis", lags_worker)):
        ms = [lag * 1000 for lag in lags]
        print(
            f"sync lag commit->receipt, {name} ({len(ms)} isolated changes): "
            f"p50 {pct(ms, 50):.0f} ms, p95 {pct(ms, 95):.0f} ms, max {max(ms):.0f} ms"
        )
    n, n1 = args.changes, len(single_ids)
    ratios = []
    for i, (batched, batched_requests, b_cpu, single, single_requests, s_cpu) in enumerate(
        rounds, 1
    ):
        ratio = (n / batched) / (n1 / single)
        ratios.append(ratio)
        print(
            f"round {i}: {n} changes batched: {batched:.2f} s, {n / batched:.0f} changes/s, "
            f"{batched_requests} requests, {b_cpu:.2f} s CPU | {n1} changes one request each: "
            f"{single:.2f} s, {n1 / single:.0f} changes/s, {single_requests} requests, "
            f"{s_cpu:.2f} s CPU | "
            f"batched {ratio:.1f}x the changes/s"
        )
    best = min(r[0] for r in rounds)
    print(
        f"batched: best {n / best:.0f} changes/s; ratio batched/one-per-change: "
        f"median {statistics.median(ratios):.1f}x"
    )


if __name__ == "__main__":
    asyncio.run(main())
