"""SQLite through models/sqlite_driver.py against SQLAlchemy's own aiosqlite adapter (every
statement on aiosqlite's thread, four trips for a query), or against another checkout,
in one run.

    .venv/bin/python bench/sqlite_trips.py [--seconds 5] [--rounds 3] [--against CHECKOUT]

Two server processes over one SQLite file (bench/bare.py; the second with
`--stock-sqlite`, or importing classbridge from CHECKOUT, e.g. a `git worktree` of the
commit before a change), the seed and documents of bench/read_paths.py, wrk as the
client (bench/loadgen.py), the variants alternating round by round. Paths:
`{ __typename }` (authentication and nothing else), the partner and staff
`sessions(first: 100)` pages and the 50-booking `signInList`, each over GraphQL and
through its bare endpoint.
"""

import argparse
import asyncio
import tempfile
from pathlib import Path

import loadgen
import read_paths

from classbridge.migrate import upgrade
from classbridge.models.db import Database


def run(url: str, rounds: int, seconds: float, connections: int, against: Path | None) -> None:
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
        "bare partner sessions": loadgen.lua_get("/bare/partner-sessions?first=100", partner_token),
        "bare staff sessions": loadgen.lua_get("/bare/staff-sessions?first=100", staff_token),
        "bare signInList": loadgen.lua_get(f"/bare/sign-in-list?id={signin_id}", staff_token),
    }
    ours = "this tree"
    if against is None:
        theirs, other = "sqlalchemy's adapter", loadgen.server(url, options=("--stock-sqlite",))
    else:
        theirs, other = str(against), loadgen.server(url, checkout=against)
    print(f"connections={connections} {seconds}s x {rounds} rounds")
    print(f"machine: {loadgen.uptime()}")
    results = []
    with loadgen.server(url) as this, other as that:
        for name, script in paths.items():
            print(name)
            rates = loadgen.alternate(
                {ours: (this, script), theirs: (that, script)},
                rounds=rounds,
                connections=connections,
                seconds=seconds,
            )
            results.append((name, {k: loadgen.median(v) for k, v in rates.items()}))
    print(f"machine after: {loadgen.uptime()}")
    print("medians (requests/s) and ratios")
    print(f"  ({ours} / {theirs})")
    for name, m in results:
        print(f"  {name:28} {m[ours]:7.1f}  {m[theirs]:7.1f}  ratio {m[ours] / m[theirs]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--against", type=Path, help="another checkout instead of the adapter")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        run(url, args.rounds, args.seconds, args.connections, args.against)


if __name__ == "__main__":
    main()
