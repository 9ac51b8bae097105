"""SQLite with one trip to aiosqlite's thread per statement (models/sqlite_driver.py)
against SQLAlchemy's own aiosqlite adapter (four trips for a query), in one run.

    .venv/bin/python bench/sqlite_trips.py [--seconds 5] [--rounds 3]

Two server processes over one SQLite file (bench/bare.py, the second with
`--stock-sqlite`), the seed and documents of bench/read_paths.py, wrk as the client
(bench/loadgen.py), the variants alternating round by round. Paths: `{ __typename }`
(authentication and nothing else), the partner and staff `sessions(first: 100)` pages
and the 50-booking `signInList`.
"""

import argparse
import asyncio
import tempfile

import loadgen
import read_paths

from classbridge.migrate import upgrade
from classbridge.models.db import Database


def run(url: str, rounds: int, seconds: float, connections: int) -> None:
    upgrade(url)
    database = Database(url)
    staff_token, partner_token, signin_id = asyncio.run(read_paths.seed(database))
    asyncio.run(database.dispose())
    body = read_paths._body
    paths = {
        "staff { __typename }": loadgen.lua_post(
            "/graphql", body("{ __typename }", {}), staff_token
        ),
        "partner sessions(first:100)": loadgen.lua_post(
            "/aggregator/v1/graphql",
            body(read_paths.PARTNER_POLL, {"first": 100}),
            partner_token,
        ),
        "staff sessions(first:100)": loadgen.lua_post(
            "/graphql", body(read_paths.STAFF_SCHEDULE, {"first": 100}), staff_token
        ),
        "staff signInList (50)": loadgen.lua_post(
            "/graphql", body(read_paths.SIGN_IN_LIST, {"id": signin_id}), staff_token
        ),
    }
    print(f"connections={connections} {seconds}s x {rounds} rounds")
    print(f"machine: {loadgen.uptime()}")
    results = []
    with (
        loadgen.server(url) as one_trip,
        loadgen.server(url, options=("--stock-sqlite",)) as stock,
    ):
        for name, script in paths.items():
            print(name)
            rates = loadgen.alternate(
                {"one trip": (one_trip, script), "sqlalchemy's adapter": (stock, script)},
                rounds=rounds,
                connections=connections,
                seconds=seconds,
            )
            results.append((name, {k: loadgen.median(v) for k, v in rates.items()}))
    print(f"machine after: {loadgen.uptime()}")
    print("medians (requests/s) and ratios")
    for name, m in results:
        ours, theirs = m["one trip"], m["sqlalchemy's adapter"]
        print(f"  {name:28} one trip {ours:7.1f}  adapter {theirs:7.1f}  ratio {ours / theirs:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(f"sqlite+aiosqlite:///{tmp}/bench.db", args.rounds, args.seconds, args.connections)


if __name__ == "__main__":
    main()
