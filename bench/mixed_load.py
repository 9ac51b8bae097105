"""Mixed load over real HTTP keep-alive connections: does a failing request harm others?

Starts `classbridge serve` (a real uvicorn process) on a fresh database with the demo
studio, then runs CLIENTS concurrent keep-alive clients: one sends documents in which a
field fails while its siblings read the database, the others send ordinary schedule
queries. Counts the requests that got no answer (the connection was dropped), 5xx answers,
and "Exception in ASGI application" in the server's log.

    .venv/bin/python bench/mixed_load.py                         # SQLite
    .venv/bin/python bench/mixed_load.py --postgres              # PostgreSQL on 127.0.0.1
    .venv/bin/python bench/mixed_load.py --clients 20 --requests 20

Only the classbridge console script and HTTP are used, so the same script measures another
checkout: run it with that checkout's interpreter (e.g. main's .venv/bin/python).
"""

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg
import httpx

CLASSBRIDGE = str(Path(sys.executable).parent / "classbridge")
LISTENING = re.compile(r"Uvicorn running on (http://\S+)")

PARTNER_NORMAL = """
{ sessions(first: 50) { edges { node { id name startv2 availableSpots venue { name }
    reservations { edges { node { id status } } } } } } }
"""
# Every session's `reservations` fails (a cursor of another shape) while its siblings read.
PARTNER_FAILING = """
{ sessions(first: 50) { edges { node { id name startv2 availableSpots venue { name }
    reservations(after: "WyJ4Il0=") { edges { node { id status } } } } } } }
"""
NORMAL = """
{ sessions(first: 20) { edges { node { id localStart activity { name }
    counts { booked capacity } bookings { id status customer { lastName } } } } } }
"""
# `session(id: …)` fails (an unknown id: NOT_FOUND after its read) while `sessions` and
# `venues` read; `session` is non-null, so the whole operation fails.
FAILING = """
{ sessions(first: 50) { edges { node { id localStart bookings { id customer { lastName } }
    counts { booked } } } }
  venues { id name }
  session(id: "00000000-0000-4000-8000-000000000000") { id } }
"""


async def run(cli: list[str], env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        CLASSBRIDGE, *cli, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode:
        raise SystemExit(f"classbridge {' '.join(cli)} failed:\n{err.decode()}")
    return out.decode()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--partner", action="store_true", help="load the partner API instead")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=20, help="per client")
    parser.add_argument("--failing", type=int, default=1, help="clients sending failing documents")
    parser.add_argument("--show-log", action="store_true", help="print the server's log")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="cb-mixed-"))
    pg_name = None
    if args.postgres:
        pg_name = f"cb_bench_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
        await conn.execute(f'CREATE DATABASE "{pg_name}"')
        await conn.close()
        url = f"postgresql+asyncpg://postgres@127.0.0.1/{pg_name}"
    else:
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    env = {**os.environ, "CLASSBRIDGE_DATABASE_URL": url}
    try:
        await run(["migrate"], env)
        seeded = json.loads((await run(["seed-demo", "--json"], env)).splitlines()[-1])
        token = (
            seeded["aggregatorTokens"]["EGYM_WELLPASS"] if args.partner else seeded["staffToken"]
        )
        await measure(args, env, token)
    finally:
        if pg_name:
            conn = await asyncpg.connect(host="127.0.0.1", user="postgres", database="postgres")
            await conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
            await conn.close()


async def measure(args: argparse.Namespace, env: dict[str, str], token: str) -> None:
    server = await asyncio.create_subprocess_exec(
        CLASSBRIDGE,
        *("serve", "--host", "127.0.0.1", "--port", "0"),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    lines: list[str] = []
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def read_log() -> None:
        assert server.stderr is not None
        async for raw in server.stderr:
            line = raw.decode(errors="replace")
            lines.append(line)
            match = LISTENING.search(line)
            if match and not listening.done():
                listening.set_result(match.group(1))

    reader = asyncio.create_task(read_log())
    try:
        base = await asyncio.wait_for(listening, 60)
        outcomes = {"ok": 0, "refused as expected": 0, "dropped": 0, "5xx": 0, "errors": 0}
        headers = {"Authorization": f"Bearer {token}"}
        path = "/aggregator/v1/graphql" if args.partner else "/graphql"
        queries = (
            {True: PARTNER_FAILING, False: PARTNER_NORMAL}
            if args.partner
            else {
                True: FAILING,
                False: NORMAL,
            }
        )

        async def client(failing: bool) -> None:
            # One connection per client, kept alive between its requests.
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            async with httpx.AsyncClient(
                base_url=base, headers=headers, limits=limits, timeout=60
            ) as http:
                for _ in range(args.requests):
                    try:
                        response = await http.post(path, json={"query": queries[failing]})
                    except httpx.TransportError:
                        outcomes["dropped"] += 1
                        continue
                    if response.status_code >= 500:
                        outcomes["5xx"] += 1
                    elif failing:
                        outcomes["refused as expected"] += 1
                    else:
                        ok = response.status_code == 200 and "errors" not in response.json()
                        outcomes["ok" if ok else "errors"] += 1

        await asyncio.gather(*(client(i < args.failing) for i in range(args.clients)))
    finally:
        server.terminate()
        await server.wait()
        await reader
    log = "".join(lines)
    total = args.clients * args.requests
    backend = ("PostgreSQL" if args.postgres else "SQLite") + (
        ", partner API" if args.partner else ""
    )
    print(
        f"{backend}: {args.clients} keep-alive clients x {args.requests} requests = {total}; "
        f"{args.failing} client(s) send failing documents"
    )
    for name, count in outcomes.items():
        print(f"  {name:>20}: {count}")
    print(f"  {'ASGI exceptions':>20}: {log.count('Exception in ASGI application')}")
    print(f"  {'tracebacks in log':>20}: {log.count('Traceback')}")
    if args.show_log:
        print(log)


if __name__ == "__main__":
    asyncio.run(main())
