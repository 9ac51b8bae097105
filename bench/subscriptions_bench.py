"""Benchmark: many dashboards on one server process (prints figures; not a test).

    .venv/bin/python bench/subscriptions_bench.py --subscribers 1000 --events 10

Starts `classbridge serve` on a fresh SQLite file (or --database-url) with the demo studio,
connects N graphql-transport-ws subscribers to one session's signInUpdates, then books and
cancels through the staff API and measures, per event, how long each subscriber waited:
from sending the mutation to receiving the event (commit + payload + fan-out + network).
Prints p50/p95/max over all deliveries, and the server's RSS before and after connecting.
The clients run in this one Python process, so the figures include their own work too.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

_STARTED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

SUBSCRIPTION = """subscription($id: ID!) { signInUpdates(sessionId: $id) {
  change session { sequence counts { booked available } }
  booking { id status customer { firstName lastName } } } }"""

SETUP = "{ sessions(first: 1) { edges { node { id } } } products { id builtIn archived } }"
BOOK = """mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id } }"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def gql(client: httpx.AsyncClient, token: str, query: str, **variables: Any) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def subscriber(url: str, token: str, session_id: str, deflate: bool) -> ClientConnection:
    ws = await connect(
        url,
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        max_size=None,
        compression="deflate" if deflate else None,
    )
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(
        json.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIPTION, "variables": {"id": session_id}},
            }
        )
    )
    first = json.loads(await ws.recv())
    if (first.get("payload") or {}).get("data") is None:
        raise RuntimeError(f"subscription refused: {first}")
    return ws


async def main(args: argparse.Namespace) -> None:
    workdir = tempfile.mkdtemp(prefix="cb-bench-")
    env = {
        **os.environ,
        "CLASSBRIDGE_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{workdir}/bench.db",
        "CLASSBRIDGE_LIVE_QUEUE_SIZE": "256",
    }
    if args.redis_url:
        env["CLASSBRIDGE_REDIS_URL"] = args.redis_url
        env["CLASSBRIDGE_LIVE_CHANNEL_PREFIX"] = f"cbbench:{os.getpid()}"
    seed = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "classbridge.cli",
        "seed-demo",
        "--json",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await seed.communicate()
    demo = json.loads(out.decode().strip().splitlines()[-1])
    token = demo["staffToken"]

    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "classbridge.cli",
        "serve",
        "--port",
        "0",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stderr is not None
    port = None
    while port is None:
        line = (await server.stderr.readline()).decode()
        if not line:
            raise RuntimeError("server exited")
        if m := _STARTED.search(line):
            port = int(m.group(1))
    drain = asyncio.create_task(server.stderr.read())
    base = f"http://127.0.0.1:{port}"
    sockets: list[ClientConnection] = []
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            data = await gql(
                client,
                token,
                SETUP,
            )
            session_id = data["sessions"]["edges"][0]["node"]["id"]
            product_id = next(
                p["id"] for p in data["products"] if not p["builtIn"] and not p["archived"]
            )
            created = await gql(
                client,
                token,
                'mutation { createCustomer(input: {firstName: "Bench", lastName: "Mark"}) { id } }',
            )
            customer_id = created["createCustomer"]["id"]
            await gql(client, token, "{ me { id } }")  # warm up
            before = rss_mib(server.pid)

            started = time.perf_counter()
            limit = asyncio.Semaphore(100)

            async def one() -> ClientConnection:
                async with limit:
                    return await subscriber(
                        f"ws://127.0.0.1:{port}/graphql", token, session_id, not args.no_deflate
                    )

            sockets = list(await asyncio.gather(*(one() for _ in range(args.subscribers))))
            connect_seconds = time.perf_counter() - started
            after = rss_mib(server.pid)

            latencies: list[float] = []
            worst: list[float] = []
            booking_id = None
            for n in range(args.events):
                received: list[float] = []

                async def receive(ws: ClientConnection, into: list[float]) -> None:
                    json.loads(await ws.recv())
                    into.append(time.perf_counter())

                waiting = [asyncio.create_task(receive(ws, received)) for ws in sockets]
                await asyncio.sleep(0)
                t0 = time.perf_counter()
                if n % 2 == 0:
                    result = await gql(
                        client,
                        token,
                        BOOK,
                        s=session_id,
                        c=customer_id,
                        p=product_id,
                    )
                    booking_id = result["bookCustomer"]["id"]
                else:
                    await gql(
                        client,
                        token,
                        "mutation($id: ID!) { cancelBooking(id: $id) { id } }",
                        id=booking_id,
                    )
                await asyncio.gather(*waiting)
                deltas = [(t - t0) * 1000 for t in received]
                latencies.extend(deltas)
                worst.append(max(deltas))
            after_events = rss_mib(server.pid)
    finally:
        for ws in sockets:
            await ws.close()
        server.terminate()
        await server.wait()
        drain.cancel()

    q = statistics.quantiles(latencies, n=100)
    deflate = "without" if args.no_deflate else "with"
    print(
        f"subscribers:            {args.subscribers} (graphql-transport-ws, one session, "
        f"{deflate} permessage-deflate)"
    )
    print(
        f"bus:                    {'Redis' if args.redis_url else 'in-process'}; "
        f"database {env['CLASSBRIDGE_DATABASE_URL'].split(':')[0]}"
    )
    print(f"connect + snapshot:     {connect_seconds:.2f} s for all")
    print(
        f"server RSS:             {before:.1f} MiB before, {after:.1f} MiB after connecting "
        f"(+{(after - before) * 1024 / args.subscribers:.1f} KiB per subscriber), "
        f"{after_events:.1f} MiB after the events"
    )
    print(
        f"delivery latency:       {args.events} events x {args.subscribers} subscribers, "
        "from sending the mutation to each subscriber's receipt"
    )
    print(
        f"  p50 {q[49]:.1f} ms   p95 {q[94]:.1f} ms   max {max(latencies):.1f} ms   "
        f"(last subscriber per event: median {statistics.median(worst):.1f} ms)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", help="use the Redis bus (default: in-process)")
    parser.add_argument(
        "--no-deflate", action="store_true", help="clients do not offer permessage-deflate"
    )
    asyncio.run(main(parser.parse_args()))
