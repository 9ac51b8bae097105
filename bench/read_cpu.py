"""CPU per request of the read pages, in one process: the app called through httpx's ASGI
transport (no HTTP server, no wrk), so a change's effect is not lost in a load tool's
noise. SQLite; the seed and documents of bench/read_paths.py.

    .venv/bin/python bench/read_cpu.py [--rounds 7] [--requests 10] [--in-flight 1]
                                       [--compare-sqlite] [--database-url URL]
                                       [--old CHECKOUT --alternations 6]

Prints, for each path, the process's CPU time per request (every thread: the event
loop's and aiosqlite's), minimum and median over the rounds; the paths alternate round by
round. `--in-flight N`: N requests at a time, each round N times the requests (a server
under load has several; costs that only concurrency brings show here, e.g. the GIL
passing between threads). `--compare-sqlite` also serves the same file through
SQLAlchemy's own aiosqlite adapter (models/sqlite_driver.py is the default), alternating
with it, and prints the ratios. `--database-url`: a PostgreSQL database (empty) instead
of a temporary SQLite file. `--old CHECKOUT`: this tree against another checkout (a `git
worktree`), each run in a process of its own (bench/bare.py imports classbridge from the
checkout), alternating `--alternations` times on the same seeded database; prints each
path's median CPU per request of both and their ratio.
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bare  # first: with BENCH_CHECKOUT set, it imports classbridge from that tree
import httpx
import read_paths

from classbridge.migrate import upgrade
from classbridge.models.db import Database
from classbridge.ops.gc_tuning import tune_for_serving


async def seed(url: str) -> tuple[str, str, str]:
    await asyncio.to_thread(upgrade, url)
    database = Database(url)
    try:
        return await read_paths.seed(database)
    finally:
        await database.dispose()


async def run(rounds: int, requests: int, in_flight: int, compare: bool, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        tokens = await seed(url)
        cpu = await measure(url, tokens, rounds, requests, in_flight, compare)
        print(f"CPU ms per request, {rounds} rounds x {requests} requests x {in_flight} at once")
        for path_name in PATHS:
            line = f"  {path_name:28}"
            variants = ["one trip", "sqlalchemy's adapter"] if compare else ["one trip"]
            for variant in variants:
                values = cpu[(path_name, variant)]
                line += (
                    f"  {variant}: min {min(values):6.2f} median {statistics.median(values):6.2f}"
                )
            if compare:
                ours = statistics.median(cpu[(path_name, "one trip")])
                theirs = statistics.median(cpu[(path_name, "sqlalchemy's adapter")])
                line += f"  ratio {ours / theirs:.2f}"
            print(line)


PATHS = ("staff { __typename }", "partner sessions(first:100)", "staff sessions(first:100)")
PATHS += ("staff signInList (50)",)


async def measure(
    url: str,
    tokens: tuple[str, str, str],
    rounds: int,
    requests: int,
    in_flight: int,
    compare: bool,
) -> dict[tuple[str, str], list[float]]:
    """CPU ms per request of each path (and variant), one value per round."""
    paths = read_paths.in_process_requests(tokens)
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
                await asyncio.gather(*(calls(client, target, requests) for _ in range(in_flight)))
                spent = (time.process_time() - start) / (requests * in_flight) * 1000
                cpu.setdefault((path_name, variant), []).append(spent)
    for client in clients.values():
        await client.aclose()
    return cpu


def alternate(old: Path, url: str | None, alternations: int, argv: list[str]) -> None:
    """This tree and `old`, each measured in a process of its own, alternating."""
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        tokens = asyncio.run(seed(url))
        trees: dict[str, Path | None] = {"this tree": None, "old": old}
        medians: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for i in range(alternations):
            for name in list(trees)[:: 1 if i % 2 == 0 else -1]:
                env = dict(os.environ)
                env.pop("BENCH_CHECKOUT", None)
                if trees[name] is not None:
                    env["BENCH_CHECKOUT"] = str(trees[name])
                command = [sys.executable, __file__, *argv, "--database-url", url]
                command += ["--child-of", json.dumps(tokens)]
                out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
                medians[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"  {name}: " + "  ".join(f"{v:.3f}" for v in medians[name][-1].values()))
        print(f"median CPU ms per request over {alternations} alternations: this tree / old")
        for path_name in PATHS:
            ours = statistics.median(m[path_name] for m in medians["this tree"])
            theirs = statistics.median(m[path_name] for m in medians["old"])
            print(f"  {path_name:28} {ours:7.3f} / {theirs:7.3f}  ratio {ours / theirs:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=1, help="requests at a time")
    parser.add_argument("--compare-sqlite", action="store_true")
    parser.add_argument("--database-url", help="an empty PostgreSQL database")
    parser.add_argument("--old", type=Path, help="a checkout to alternate with")
    parser.add_argument("--alternations", type=int, default=6)
    parser.add_argument("--child-of", help=argparse.SUPPRESS)  # seeded tokens, as JSON
    args = parser.parse_args()
    if args.child_of:
        tokens = tuple(json.loads(args.child_of))
        cpu = asyncio.run(
            measure(args.database_url, tokens, args.rounds, args.requests, args.in_flight, False)
        )
        print(json.dumps({p: statistics.median(cpu[(p, "one trip")]) for p in PATHS}))
    elif args.old:
        argv = ["--rounds", str(args.rounds), "--requests", str(args.requests)]
        alternate(
            args.old,
            args.database_url,
            args.alternations,
            [*argv, "--in-flight", str(args.in_flight)],
        )
    else:
        asyncio.run(
            run(args.rounds, args.requests, args.in_flight, args.compare_sqlite, args.database_url)
        )


if __name__ == "__main__":
    main()
