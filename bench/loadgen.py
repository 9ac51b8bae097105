"""Shared by the HTTP benches: server processes (bench/bare.py) and wrk as the client.

wrk runs in its own process (apt-get install wrk); each measurement is one wrk run of
`seconds` at `connections` connections and 1 thread, its Lua script building the requests.
Variants are measured alternately, several rounds, so load from elsewhere on the machine
hits them alike; ratios are of medians.
"""

import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    database_url: str,
    *,
    checkout: Path | None = None,
    plain: bool = False,
    options: tuple[str, ...] = (),
) -> Iterator[str]:
    """A bench/bare.py server process; `checkout`: another classbridge source tree (its
    package is imported instead of this one's); `options`: more of bare.py's options."""
    with server_process(database_url, checkout=checkout, plain=plain, options=options) as (
        url,
        _,
    ):
        yield url


@contextmanager
def server_process(
    database_url: str,
    *,
    checkout: Path | None = None,
    plain: bool = False,
    options: tuple[str, ...] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`server`, with the process (to read its memory, say)."""
    port = free_port()
    env = dict(os.environ)
    if checkout is not None:
        env["BENCH_CHECKOUT"] = str(checkout)
    command = [sys.executable, str(BENCH / "bare.py"), "--database-url", database_url]
    command += ["--port", str(port)] + (["--plain"] if plain else []) + list(options)
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the bench server did not start") from None
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # still busy with a slow page: stop it
            process.kill()
            process.wait()


def lua_post(path: str, body: str, token: str, *, vary: str | None = None) -> str:
    """A wrk script POSTing `body` (JSON text); `vary`: a placeholder in it replaced by a
    number unique to each request (per thread, with the thread's id)."""
    lines = [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f'wrk.headers["Authorization"] = "Bearer {token}"',
        f"local body = [==[{body}]==]",
        f'local path = "{path}"',
        "local n = 0",
        "local tag = tostring(math.random(1, 1e9))",
    ]
    if vary is None:
        lines.append("request = function() return wrk.format(nil, path, nil, body) end")
    else:
        lines += [
            "request = function()",
            "  n = n + 1",
            f'  local b = string.gsub(body, "{vary}", tag .. "-" .. n)',
            "  return wrk.format(nil, path, nil, b)",
            "end",
        ]
    return "\n".join(lines) + "\n"


def lua_get(path: str, token: str) -> str:
    return (
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        f'request = function() return wrk.format("GET", "{path}") end\n'
    )


def wrk(url: str, script: str, *, connections: int, seconds: float) -> tuple[float, float, int]:
    """Requests per second, p50 latency (ms) and non-2xx count of one wrk run."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{round(seconds)}s",
                "--timeout",  # wrk's default (2 s) would drop slow pages from the count
                "60s",
                "--latency",
                "-s",
                f.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 120,
        ).stdout
    finally:
        os.unlink(f.name)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)\b", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = float(p50.group(1)) * scale[p50.group(2)] if p50 else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, latency, int(errors.group(1)) if errors else 0


def alternate(
    variants: dict[str, tuple[str, str]], *, rounds: int, connections: int, seconds: float
) -> dict[str, list[float]]:
    """Run each variant (base URL, wrk script) once per round, in turn; rates per variant.

    Each round starts one variant later than the one before: in a fixed order the last
    variant (always after the bare endpoint's heavy run) measured a checkout of the very
    same code 1.1-1.2x slower on PostgreSQL."""
    rates: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            url, script = variants[name]
            rate, p50, errors = wrk(url, script, connections=connections, seconds=seconds)
            rates[name].append(rate)
            note = f"  non-2xx={errors}" if errors else ""
            print(f"  round {round_ + 1} {name:28} {rate:8.1f} req/s  p50 {p50:7.1f} ms{note}")
            sys.stdout.flush()
    return rates


def median(values: list[float]) -> float:
    return statistics.median(values)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"
