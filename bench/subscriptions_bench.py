"""Benchmark: one event to many dashboards of one session (prints figures; not a test).

    .venv/bin/python bench/subscriptions_bench.py --subscribers 1000 --events 20 --rounds 2

Compares, in one run and alternating, the two fan-outs of live sign-in
(docs/performance.md, "Live fan-out"):

- per-subscriber: every subscription executes every event itself
  (`CLASSBRIDGE_LIVE_MULTIPLEX=false`, the fan-out before issue 10);
- multiplexed: one execution per event for all subscribers of the same document,
  variables and scope; each gets the same serialized payload.

Per variant and round: a fresh SQLite file (or --database-url) with the demo studio, one
`classbridge serve` process, and the clients in a separate process (this script with
--client): N graphql-transport-ws subscribers to one session's signInUpdates. Then it books
and cancels through the staff API, one event at a time, and measures per subscriber:

- send → receipt: from sending the mutation to the subscriber's receipt of the event
  (the mutation's own work and commit, building the message, fan-out, network and the
  client's work): an upper bound of commit → receipt;
- built → receipt: from the event's `occurredAt` (stamped when the message is built, right
  after the commit) to receipt, wall clock of this machine.

And the server's memory per subscriber: RSS after connecting minus RSS before, over N.
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
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

_STARTED = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")

SUBSCRIPTION = """subscription($id: ID!) { signInUpdates(sessionId: $id) {
  change occurredAt session { sequence counts { booked available } }
  booking { id status customer { firstName lastName } } } }"""

SETUP = "{ sessions(first: 1) { edges { node { id } } } products { id builtIn archived } }"
BOOK = """mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id } }"""
CANCEL = "mutation($id: ID!) { cancelBooking(id: $id) { id } }"

VARIANTS = {"per-subscriber": "false", "multiplexed": "true"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


# -- the client process ------------------------------------------------------------------


async def client_main(args: argparse.Namespace) -> None:
    """Connect N subscribers, report receipts per event on stdout (one JSON line each)."""
    received: dict[int, list[tuple[float, float]]] = {}

    def emit(value: object) -> None:
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    async def open_one() -> ClientConnection:
        ws = await connect(
            args.client,
            subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
            max_size=None,
            compression="deflate" if args.deflate else None,
            open_timeout=120,
        )
        await ws.send(
            json.dumps(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {args.token}"}}
            )
        )
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": SUBSCRIPTION, "variables": {"id": args.session}},
                }
            )
        )
        first = json.loads(await ws.recv())
        if (first.get("payload") or {}).get("data") is None:
            raise RuntimeError(f"subscription refused: {first}")
        return ws

    async def read(ws: ClientConnection) -> None:
        async for raw in ws:
            at_monotonic, at_wall = time.monotonic(), time.time()
            message = json.loads(raw)
            update = message["payload"]["data"]["signInUpdates"]
            built = datetime.fromisoformat(update["occurredAt"]).timestamp()
            seq = update["session"]["sequence"]
            times = received.setdefault(seq, [])
            times.append((at_monotonic, (at_wall - built) * 1000))
            if len(times) == args.count:
                emit({"seq": seq, "times": times})
                del received[seq]

    limit = asyncio.Semaphore(50)

    async def limited() -> ClientConnection:
        async with limit:
            return await open_one()

    started = time.monotonic()
    sockets = await asyncio.gather(*(limited() for _ in range(args.count)))
    readers = [asyncio.create_task(read(ws)) for ws in sockets]
    emit({"ready": time.monotonic() - started})
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "quit"
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


# -- the driver --------------------------------------------------------------------------


@dataclass
class Result:
    variant: str
    connect_seconds: float
    rss_before: float
    rss_after: float
    sent_to_receipt: list[float] = field(default_factory=list)
    built_to_receipt: list[float] = field(default_factory=list)
    last_per_event: list[float] = field(default_factory=list)


async def gql(client: httpx.AsyncClient, token: str, query: str, **variables: Any) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def run_variant(args: argparse.Namespace, variant: str) -> Result:
    workdir = tempfile.mkdtemp(prefix="cb-bench-")
    env = {
        **os.environ,
        "CLASSBRIDGE_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{workdir}/bench.db",
        "CLASSBRIDGE_LIVE_QUEUE_SIZE": "256",
        "CLASSBRIDGE_LIVE_MULTIPLEX": VARIANTS[variant],
    }
    if args.redis_url:
        env["CLASSBRIDGE_REDIS_URL"] = args.redis_url
        env["CLASSBRIDGE_LIVE_CHANNEL_PREFIX"] = f"cbbench:{os.getpid()}"
        env["CLASSBRIDGE_QUEUE_NAME"] = f"cbbench:{os.getpid()}:push"
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
    token = json.loads(out.decode().strip().splitlines()[-1])["staffToken"]

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
    clients = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            data = await gql(http, token, SETUP)
            session_id = data["sessions"]["edges"][0]["node"]["id"]
            product_id = next(
                p["id"] for p in data["products"] if not p["builtIn"] and not p["archived"]
            )
            created = await gql(
                http,
                token,
                'mutation { createCustomer(input: {firstName: "Bench", lastName: "Mark"}) { id } }',
            )
            customer_id = created["createCustomer"]["id"]
            await gql(http, token, "{ me { id } }")  # warm up
            before = rss_mib(server.pid)

            clients = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "--client",
                f"ws://127.0.0.1:{port}/graphql",
                "--token",
                token,
                "--session",
                session_id,
                "--count",
                str(args.subscribers),
                *(["--deflate"] if args.deflate else []),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=2**24,
            )
            assert clients.stdout is not None and clients.stdin is not None

            async def report() -> dict[str, Any]:
                assert clients is not None and clients.stdout is not None
                line = await clients.stdout.readline()
                if not line:
                    raise RuntimeError("the client process exited")
                return json.loads(line)  # type: ignore[no-any-return]

            ready = await report()
            result = Result(variant, ready["ready"], before, rss_mib(server.pid))

            booking_id = None
            for n in range(args.events):
                t0 = time.monotonic()
                if n % 2 == 0:
                    booked = await gql(http, token, BOOK, s=session_id, c=customer_id, p=product_id)
                    booking_id = booked["bookCustomer"]["id"]
                else:
                    await gql(http, token, CANCEL, id=booking_id)
                receipts = (await report())["times"]
                sent = [(at - t0) * 1000 for at, _ in receipts]
                result.sent_to_receipt.extend(sent)
                result.built_to_receipt.extend(built for _, built in receipts)
                result.last_per_event.append(max(sent))
            clients.stdin.write(b"quit\n")
            await clients.stdin.drain()
            await clients.wait()
            return result
    finally:
        if clients is not None and clients.returncode is None:
            clients.kill()
            await clients.wait()
        server.terminate()
        await server.wait()
        drain.cancel()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def quantiles(values: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(values, n=100)
    return q[49], q[94]


async def main(args: argparse.Namespace) -> None:
    order = [v for _ in range(args.rounds) for v in args.variants]
    print(f"load average (1/5/15 min): {load_average()}")
    results: list[Result] = []
    for variant in order:
        result = await run_variant(args, variant)
        results.append(result)
        p50, p95 = quantiles(result.sent_to_receipt)
        b50, b95 = quantiles(result.built_to_receipt)
        per_sub = (result.rss_after - result.rss_before) * 1024 / args.subscribers
        print(
            f"{variant:>15}: send→receipt p50 {p50:7.1f} ms  p95 {p95:7.1f} ms | "
            f"built→receipt p50 {b50:7.1f} ms  p95 {b95:7.1f} ms | "
            f"RSS {result.rss_before:.1f}→{result.rss_after:.1f} MiB "
            f"({per_sub:.1f} KiB/subscriber) | connect+snapshot {result.connect_seconds:.1f} s",
            flush=True,
        )
    print(
        f"\n{args.subscribers} graphql-transport-ws subscribers of one session, clients in a "
        f"separate process ({'with' if args.deflate else 'without'} permessage-deflate), "
        f"{args.events} events per run, {args.rounds} round(s); bus "
        f"{'Redis' if args.redis_url else 'in-process'}, database "
        f"{(args.database_url or 'sqlite').split(':')[0]}"
    )
    summary: dict[str, tuple[float, float, float]] = {}
    for variant in args.variants:
        mine = [r for r in results if r.variant == variant]
        p50, p95 = quantiles([v for r in mine for v in r.sent_to_receipt])
        kib = statistics.median(
            (r.rss_after - r.rss_before) * 1024 / args.subscribers for r in mine
        )
        summary[variant] = (p50, p95, kib)
        print(
            f"{variant:>15}: send→receipt p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
            f"{kib:.1f} KiB per subscriber (median of rounds)"
        )
    if set(summary) == set(VARIANTS):
        old, new = summary["per-subscriber"], summary["multiplexed"]
        print(
            f"multiplexed vs per-subscriber: p95 {old[1] / new[1]:.1f}x lower, "
            f"p50 {old[0] / new[0]:.1f}x lower, memory per subscriber {new[2] / old[2]:.2f}x"
        )
        print(
            f"goals (multiplexed): p95 ≤ 100 ms: {'met' if new[1] <= 100 else 'NOT met'}; "
            f"≤ 100 KiB per subscriber: {'met' if new[2] <= 100 else 'NOT met'}"
        )
    print(f"load average (1/5/15 min): {load_average()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="each variant this many times")
    parser.add_argument(
        "--variants",
        type=lambda s: s.split(","),
        default=list(VARIANTS),
        help="comma-separated: per-subscriber,multiplexed (alternating in this order)",
    )
    parser.add_argument("--database-url", help="default: a fresh SQLite file per run")
    parser.add_argument("--redis-url", help="use the Redis bus (default: in-process)")
    parser.add_argument(
        "--deflate", action="store_true", help="clients offer permessage-deflate (default: no)"
    )
    # The client process (started by the driver).
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--token", help=argparse.SUPPRESS)
    parser.add_argument("--session", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    asyncio.run(client_main(arguments) if arguments.client else main(arguments))
