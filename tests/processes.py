"""Real `classbridge` processes for tests: the console script's command lines, a free port,
real HTTP. The processes are forked from the worker's zygote (tests/zygote.py), which has
the CLI's modules imported already."""

import asyncio
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests import zygote

CLASSBRIDGE = zygote.CLASSBRIDGE
# What `classbridge serve --port 0` logs once it listens: the URL, with the port it got.
SERVER_LISTENS = re.compile(r"Uvicorn running on (?P<url>http://\S+:(?P<port>\d+))")


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str


async def run_cli(
    *args: str,
    database_url: str,
    cwd: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Completed:
    """Run `classbridge ARGS` to completion (within a minute)."""
    env = {**os.environ, "CLASSBRIDGE_DATABASE_URL": database_url, **(extra_env or {})}
    process = await zygote.create_process(CLASSBRIDGE, *args, env=env, cwd=cwd)
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Completed(process.returncode, out.decode(), err.decode())


@dataclass
class Server:
    process: "zygote.AsyncForked | asyncio.subprocess.Process"
    url: str = ""
    lines: list[str] = field(default_factory=list)


@asynccontextmanager
async def running_server(
    database_url: str, *, deadline: float = 60.0, extra_env: dict[str, str] | None = None
) -> AsyncIterator[Server]:
    """`classbridge serve --port 0` (the OS picks a free port); yields once /healthz is ok.
    Its stderr (the log) is kept in `Server.lines`."""
    env = {**os.environ, "CLASSBRIDGE_DATABASE_URL": database_url, **(extra_env or {})}
    process = await zygote.create_process(
        CLASSBRIDGE,
        *("serve", "--host", "127.0.0.1", "--port", "0"),
        env=env,
        stdout=zygote.DEVNULL,
    )
    server = Server(process)
    listening = asyncio.Event()

    async def read_log() -> None:  # uvicorn names the port it bound; keep draining the pipe
        assert process.stderr is not None
        async for raw in process.stderr:
            line = raw.decode(errors="replace")
            server.lines.append(line)
            match = SERVER_LISTENS.search(line)
            if match:
                server.url = match.group("url")
                listening.set()

    reader = asyncio.create_task(read_log())
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    try:
        while not listening.is_set():
            assert not reader.done(), "server exited:\n" + "".join(server.lines)
            assert loop.time() < until, "server did not start:\n" + "".join(server.lines)
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=server.url) as client:
            while (await client.get("/healthz")).status_code != 200:
                assert loop.time() < until, "/healthz never became ok"
                await asyncio.sleep(0.05)
        yield server
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        await reader
