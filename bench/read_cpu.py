"""CPU per request of the read pages, in one process: the app called through httpx's ASGI
transport (no HTTP server, no wrk), so a change's effect is not lost in a load tool's
noise. SQLite; the seed and documents of bench/read_paths.py.

    .venv/bin/python bench/read_cpu.py [--rounds 7] [--requests 10] [--in-flight 1]
                                       [--compare-sqlite]

Prints, for each path, the process's CPU time per request (every thread: the event
loop's and aiosqlite's), minimum and median over the rounds; the paths alternate round by
round. `--in-flight N`: N requests at a time, each round N times the requests (a server
under load has several; costs that only concurrency brings show here, e.g. the GIL
passing between threads). `--compare-sqlite` also serves the same file through
SQLAlchemy's own aiosqlite adapter (models/sqlite_driver.py is the default), alternating
with it, and prints the ratios. To compare with another checkout, run it alternately
with and without `BENCH_CHECKOUT=/path/to/checkout` (bench/bare.py imports classbridge
from there).
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

import bare  # first: with BENCH_CHECKOUT set, it imports classbridge from that tree
import httpx
import read_paths

from classbridge.migrate import upgrade
from classbridge.models.db import Database
from classbridge.ops.gc_tuning import tune_for_serving


async def run(rounds: int, requests: int, in_flight: int, compare: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(upgrade, url)
        database = Database(url)
        staff, partner, signin_id = await read_paths.seed(database)
        await database.dispose()
        body = read_paths._body
        paths: dict[str, tuple[str, str, str]] = {
            "staff { __typename }": ("/graphql", body("{ __typename }", {}), staff),
            "partner sessions(first:100)": (
                "/aggregator/v1/graphql",
                body(read_paths.PARTNER_POLL, {"first": 100}),
                partner,
            ),
            "staff sessions(first:100)": (
                "/graphql",
                body(read_paths.STAFF_SCHEDULE, {"first": 100}),
                staff,
            ),
            "staff signInList (50)": (
                "/graphql",
                body(read_paths.SIGN_IN_LIST, {"id": signin_id}),
                staff,
            ),
        }
        apps = {"one trip": bare.build(url, plain=False)}
        if compare:
            apps["sqlalchemy's adapter"] = bare.build(url, plain=False, stock_sqlite=True)
        tune_for_serving()
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
            for name, app in apps.items()
        }

        async def call(client: httpx.AsyncClient, path: str, content: str, token: str) -> None:
            response = await client.post(
                path,
                content=content,
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            )
            answer: Any = response.json()
            assert response.status_code == 200 and "errors" not in answer, response.text[:300]

        async def calls(client: httpx.AsyncClient, target: tuple[str, str, str], n: int) -> None:
            for _ in range(n):
                await call(client, *target)

        for client in clients.values():  # warm-up: caches, pools, compiled statements
            for target in paths.values():
                for _ in range(3):
                    await call(client, *target)
        cpu: dict[tuple[str, str], list[float]] = {}
        for _ in range(rounds):
            for path_name, target in paths.items():
                for variant, client in clients.items():
                    start = time.process_time()
                    await asyncio.gather(
                        *(calls(client, target, requests) for _ in range(in_flight))
                    )
                    spent = (time.process_time() - start) / (requests * in_flight) * 1000
                    cpu.setdefault((path_name, variant), []).append(spent)
        for client in clients.values():
            await client.aclose()
        print(f"CPU ms per request, {rounds} rounds x {requests} requests x {in_flight} at once")
        for path_name in paths:
            line = f"  {path_name:28}"
            for variant in clients:
                values = cpu[(path_name, variant)]
                line += (
                    f"  {variant}: min {min(values):6.2f} median {statistics.median(values):6.2f}"
                )
            if compare:
                ours = statistics.median(cpu[(path_name, "one trip")])
                theirs = statistics.median(cpu[(path_name, "sqlalchemy's adapter")])
                line += f"  ratio {ours / theirs:.2f}"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=1, help="requests at a time")
    parser.add_argument("--compare-sqlite", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.requests, args.in_flight, args.compare_sqlite))


if __name__ == "__main__":
    main()
