"""Instructions per request of the read pages, counted by valgrind's callgrind: this tree
against an older checkout, in one run. Unlike a clock, the count repeats to a few parts
in a thousand whatever else the machine does, so a change of a few percent shows.

    apt-get install valgrind
    git worktree add /tmp/prev <commit>              # the version to compare with
    .venv/bin/python bench/read_instructions.py --old /tmp/prev [--database-url URL]

Each variant runs in its own process under callgrind, instrumentation off; the app is
called in process through httpx's ASGI transport (as bench/read_cpu.py does), warmed up,
and only the measured requests are counted (`callgrind_control -i on`, then off). The
count is of the server process alone: on PostgreSQL the database server's own work is
not in it. The seed and documents are bench/read_paths.py's; without --database-url a
fresh SQLite file, and a PostgreSQL URL must name an empty database.
"""

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PATHS = ("staff { __typename }", "partner sessions(first:100)", "staff sessions(first:100)")
PATHS += ("staff signInList (50)",)


def _requests(tokens: tuple[str, str, str]) -> dict[str, tuple[str, str, str]]:
    import read_paths

    requests = read_paths.in_process_requests(tokens)
    assert tuple(requests) == PATHS
    return requests


def inner(url: str, tokens_file: str, path: str, requests: int) -> None:
    """Under callgrind: warm up, then count `requests` requests of `path`."""
    import bare  # first: with BENCH_CHECKOUT set, it imports classbridge from that tree
    import httpx

    from classbridge.ops.gc_tuning import tune_for_serving

    target = _requests(tuple(json.loads(Path(tokens_file).read_text())))[path]

    async def run() -> None:
        app = bare.build(url, plain=False)
        tune_for_serving()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
            route, content, token = target
            headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

            async def call() -> None:
                response = await client.post(route, content=content, headers=headers)
                answer: Any = response.json()
                assert response.status_code == 200 and "errors" not in answer, response.text

            for _ in range(5):  # caches, pools, compiled statements
                await call()
            _instrument("on")
            for _ in range(requests):
                await call()
            _instrument("off")

    asyncio.run(run())


def _instrument(state: str) -> None:
    command = ["callgrind_control", "-i", state, str(os.getpid())]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def count(url: str, tokens_file: str, path: str, requests: int, checkout: Path | None) -> float:
    """Instructions per request of one variant, in millions."""
    env = dict(os.environ)
    if checkout is not None:
        env["BENCH_CHECKOUT"] = str(checkout)
    with tempfile.TemporaryDirectory() as tmp:
        command = ["valgrind", "--tool=callgrind", "--instr-atstart=no"]
        command += [f"--callgrind-out-file={tmp}/callgrind.out", sys.executable, __file__]
        command += ["--inner", url, tokens_file, path, str(requests)]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"callgrind run failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return int(found.group(1)) / requests / 1e6


def main() -> None:
    if sys.argv[1:2] == ["--inner"]:
        url, tokens_file, path, requests = sys.argv[2:6]
        inner(url, tokens_file, path, int(requests))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="an empty database; default: a temporary SQLite")
    parser.add_argument("--old", type=Path, help="an older checkout to compare with")
    parser.add_argument("--requests", type=int, default=5, help="counted per variant and path")
    parser.add_argument("--rounds", type=int, default=1, help="each variant counted again")
    args = parser.parse_args()
    import read_paths

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        tokens_file = f"{tmp}/tokens.json"
        Path(tokens_file).write_text(json.dumps(read_paths.seeded(url)))
        variants: dict[str, Path | None] = {"this tree": None}
        if args.old is not None:
            variants["old"] = args.old
        print(f"backend={url.split(':', 1)[0]} {args.requests} requests counted per variant")
        print("millions of instructions per request (callgrind)")
        for path in PATHS:
            counts: dict[str, list[float]] = {name: [] for name in variants}
            for _ in range(args.rounds):
                for name, checkout in variants.items():
                    counts[name].append(count(url, tokens_file, path, args.requests, checkout))
            line = f"  {path:28}"
            for name, values in counts.items():
                line += f"  {name} " + " ".join(f"{v:7.2f}" for v in values)
            if args.old is not None:
                ratio = min(counts["this tree"]) / min(counts["old"])
                line += f"  this/old {ratio:.3f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
