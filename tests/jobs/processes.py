"""Real processes for the push tests: the aggregator simulator, arq workers, the server.

Every process binds a free port the OS gave us, logs to a file in the test's tmp dir (shown
when a test fails), and is ended in fixture teardown.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from tests import zygote
from tests.services import REDIS_URL, TLS

SECRET = "whsec_" + "dGVzdC1zZWNyZXQtZm9yLXRoZS1wdXNoLXRlc3RzIQ=="


def free_port() -> int:
    """A port nobody used a moment ago; anyone may take it by now (another test worker's
    process started with `--port 0`). Where a test needs nothing to listen on a port, or
    starts a server there later, `ClosedPort` holds it meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ClosedPort:
    """A port bound but not listening, for as long as it is held: connecting to it is
    refused, and no other process can take it. `release()` frees it for a server of the
    test's own, started right after."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])

    def release(self) -> int:
        self._sock.close()
        return self.port

    def __enter__(self) -> "ClosedPort":
        return self

    def __exit__(self, *_: object) -> None:
        self._sock.close()


class Process:
    """A child process with its log; `kill()` sends SIGKILL, `stop()` asks nicely first."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._file = log.open("wb")
        # Forked from the worker's zygote where it can be (tests/zygote.py).
        self.proc = zygote.popen(
            args, env=env, stdout=self._file, stderr=zygote.STDOUT, stdin=zygote.DEVNULL
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self._file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def classbridge_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "classbridge.cli", *args]


SIMULATOR_LISTENS = re.compile(r"aggregator simulator on http://\S+:(?P<port>\d+)")


def announced_port(proc: Process, says: re.Pattern[str], deadline: float = 20.0) -> int:
    """The port a process started with `--port 0` says (in its log) it bound: `says`
    has a group named `port`."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        found = says.search(proc.log.read_text(errors="replace"))
        if found:
            return int(found.group("port"))
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited:\n{proc.output()}")
        time.sleep(0.02)
    raise AssertionError(f"{proc.name} named no port:\n{proc.output()}")


def wait_port(proc: Process, port: int, deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited:\n{proc.output()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{proc.name} did not listen on {port}:\n{proc.output()}")


def push_env(database_url: str, receiver_url: str, queue: str, **extra: Any) -> dict[str, str]:
    """Environment of a worker or server process: small intervals so tests stay fast."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBRIDGE_")}
    env.update(
        CLASSBRIDGE_DATABASE_URL=database_url,
        CLASSBRIDGE_REDIS_URL=REDIS_URL,
        CLASSBRIDGE_QUEUE_NAME=queue,
        CLASSBRIDGE_EGYM_WELLPASS_PUSH_URL=receiver_url,
        CLASSBRIDGE_EGYM_WELLPASS_PUSH_SECRET=SECRET,
        CLASSBRIDGE_PUSH_COALESCE_SECONDS="0.1",
        CLASSBRIDGE_PUSH_LEASE_SECONDS="3",
        CLASSBRIDGE_RETRY_BACKOFF_BASE_SECONDS="0.2",
        CLASSBRIDGE_RETRY_BACKOFF_MAX_SECONDS="1",
        CLASSBRIDGE_PUSH_MAX_ATTEMPTS="100",
        CLASSBRIDGE_RECONCILE_INTERVAL_SECONDS="3600",
    )
    env.update({f"CLASSBRIDGE_{k.upper()}": str(v) for k, v in extra.items()})
    return env


class Receiver:
    """The simulator process, read and steered over real HTTP."""

    def __init__(self, tmp: Path, *args: str) -> None:
        # --port 0: the simulator binds any free port and names it (a port picked here
        # could be taken by another worker's process before the simulator binds it).
        self.process = Process(
            "simulator",
            classbridge_args("simulate-aggregator", "--port", "0", "--secret", SECRET, *args),
            {k: v for k, v in os.environ.items() if not k.startswith("CLASSBRIDGE_")},
            tmp / f"simulator-{uuid.uuid4().hex[:8]}.log",
        )
        self.port = announced_port(self.process, SIMULATOR_LISTENS)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_port(self.process, self.port)

    async def state(self) -> dict[str, Any]:
        async with httpx.AsyncClient(verify=TLS) as http:
            return (await http.get(f"{self.url}/state")).raise_for_status().json()

    async def faults(self, **faults: Any) -> None:
        async with httpx.AsyncClient(verify=TLS) as http:
            (await http.post(f"{self.url}/admin/faults", json=faults)).raise_for_status()

    async def reset(self) -> None:
        async with httpx.AsyncClient(verify=TLS) as http:
            (await http.post(f"{self.url}/admin/reset")).raise_for_status()


async def eventually(
    check: Callable[[], Awaitable[Any]], *, deadline: float = 30.0, what: str = "condition"
) -> Any:
    """Poll `check` until it returns something truthy, or fail at the deadline."""
    import asyncio

    end = time.monotonic() + deadline
    last: Any = None
    while time.monotonic() < end:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} not reached within {deadline}s (last: {last!r})")
