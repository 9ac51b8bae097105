"""The shipped systemd units, run as systemd would run them: two `classbridge serve`
processes and one `classbridge worker` from the units' ExecStart lines, with the example
environment file, against PostgreSQL and Redis; a change made through one server reaches
the aggregator through the worker."""

import asyncio
import os
import shlex
import signal
import subprocess
import uuid
from pathlib import Path

import asyncpg
import httpx
import pytest

from classbridge.migrate import MIGRATION_LOCK
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.databases import pg_admin
from tests.jobs.conftest import connect
from tests.jobs.processes import SECRET, Process, Receiver, eventually, free_port, wait_port
from tests.processes import CLASSBRIDGE
from tests.services import (
    PG_HOST,
    PG_PORT,
    PG_USER,
    REDIS_URL,
    pg_url,
    require_postgres,
    require_redis,
)
from tests.studio import Studio

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
ENV_EXAMPLE = ROOT / "deploy" / "classbridge.env.example"
INSTALLED = "/opt/classbridge/venv/bin/classbridge"
ENV_FILE = "/etc/classbridge/classbridge.env"
EDIT_ROOM = 'mutation($id: ID!) { editSession(id: $id, input: {room: "Garden"}) { version } }'


def read_unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections and their settings (a key may repeat, as in systemd)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def exec_start(unit: str, instance: str = "") -> list[str]:
    """The unit's command, with %i filled in and this test environment's classbridge."""
    [line] = read_unit(unit)["Service"]["ExecStart"]
    args = shlex.split(line.replace("%i", instance))
    assert args[0] == INSTALLED, line
    return [CLASSBRIDGE, *args[1:]]


def test_the_units_fit_together() -> None:
    serve, worker = (
        read_unit("classbridge-serve@.service"),
        read_unit("classbridge-worker@.service"),
    )
    migrate = read_unit("classbridge-migrate.service")
    for unit in (serve, worker):
        assert unit["Unit"]["Requires"] == ["classbridge-migrate.service"]
        assert "classbridge-migrate.service" in unit["Unit"]["After"][0].split()
        assert unit["Unit"]["PartOf"] == ["classbridge.target"]
        assert unit["Install"]["WantedBy"] == ["classbridge.target"]
        assert unit["Service"]["Restart"] == ["on-failure"]
    assert migrate["Service"]["Type"] == ["oneshot"]
    for unit in (serve, worker, migrate):
        assert unit["Service"]["EnvironmentFile"] == [ENV_FILE]
    assert exec_start("classbridge-serve@.service", "8001")[1:] == [
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "8001",
    ]
    assert exec_start("classbridge-worker@.service", "1")[1:] == ["worker"]
    assert exec_start("classbridge-migrate.service")[1:] == ["migrate"]


def test_the_example_environment_is_valid_settings() -> None:
    values = read_env_file(ENV_EXAMPLE)
    assert all(key.startswith("CLASSBRIDGE_") for key in values)
    fields = {key.removeprefix("CLASSBRIDGE_").lower(): value for key, value in values.items()}
    assert set(fields) <= set(Settings.model_fields)
    settings = Settings(**fields)  # type: ignore[arg-type]
    assert settings.database_url.startswith("postgresql+asyncpg://")
    assert settings.redis_url and settings.log_format == "json"


def _environment(database_url: str, receiver: Receiver, queue: str) -> dict[str, str]:
    """What systemd would give the processes: the example file, pointed at this test's
    database, Redis names and aggregator simulator (and quick push timings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLASSBRIDGE_")}
    env.update(read_env_file(ENV_EXAMPLE))
    env.pop("CLASSBRIDGE_SMTP_URL")  # no mail server here; emails stay queued
    env.update(
        CLASSBRIDGE_DATABASE_URL=database_url,
        CLASSBRIDGE_REDIS_URL=REDIS_URL,
        CLASSBRIDGE_QUEUE_NAME=queue,
        CLASSBRIDGE_LIVE_CHANNEL_PREFIX=f"{queue}:live",
        CLASSBRIDGE_RATE_LIMIT_KEY_PREFIX=f"{queue}:ratelimit",
        CLASSBRIDGE_EGYM_WELLPASS_PUSH_URL=receiver.url,
        CLASSBRIDGE_EGYM_WELLPASS_PUSH_SECRET=SECRET,
        CLASSBRIDGE_PUSH_COALESCE_SECONDS="0.1",
        CLASSBRIDGE_RECONCILE_INTERVAL_SECONDS="3600",
    )
    return env


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
async def test_two_servers_and_a_worker_from_the_units(
    database_url: str,
    database: Database,
    studio: Studio,
    receiver: Receiver,
    queue: str,
    tmp_path: Path,
) -> None:
    require_redis()
    env = _environment(database_url, receiver, queue)
    token = env["CLASSBRIDGE_METRICS_TOKEN"]
    await connect(studio)
    session_id = await studio.session(days_ahead=3)

    migrate = await asyncio.to_thread(
        _run, exec_start("classbridge-migrate.service"), env, tmp_path / "migrate.log"
    )
    assert migrate == 0, (tmp_path / "migrate.log").read_text()

    ports = [free_port(), free_port()]
    processes = [
        Process(
            f"serve@{p}",
            exec_start("classbridge-serve@.service", str(p)),
            env,
            tmp_path / f"serve-{p}.log",
        )
        for p in ports
    ]
    processes.append(
        Process(
            "worker@1",
            exec_start("classbridge-worker@.service", "1"),
            env,
            tmp_path / "worker-1.log",
        )
    )
    try:
        for proc, port in zip(processes, ports, strict=False):
            await asyncio.to_thread(wait_port, proc, port, 60)
        async with httpx.AsyncClient(timeout=15) as http:
            for port in ports:
                ready = await http.get(f"http://127.0.0.1:{port}/readyz")
                assert ready.json() == {
                    "status": "ok",
                    "checks": {"database": "ok", "redis": "ok"},
                }

            # The worker's start-up push sends the session scheduled before it ran.
            async def offered() -> bool:
                return str(session_id) in (await receiver.state())["sessions"]

            await eventually(offered, what="the scheduled session at the receiver")

            # A change through the second server: enqueued in Redis, sent by the worker.
            response = await http.post(
                f"http://127.0.0.1:{ports[1]}/graphql",
                json={"query": EDIT_ROOM, "variables": {"id": str(session_id)}},
                headers=studio.headers(),
            )
            assert "errors" not in response.json(), response.text

            async def garden() -> bool:
                held = (await receiver.state())["sessions"].get(str(session_id), {})
                return held.get("room") == "Garden"

            await eventually(garden, what="the room change at the receiver")

            # The first server's metrics, read with the token from the environment file.
            metrics = await http.get(
                f"http://127.0.0.1:{ports[0]}/metrics",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert metrics.status_code == 200
            assert "classbridge_backlog_up 1.0" in metrics.text
            assert (await http.get(f"http://127.0.0.1:{ports[0]}/metrics")).status_code == 401
    finally:
        for proc in processes:
            proc.stop()
    # SIGTERM (systemctl stop) ends each one cleanly. systemd counts exit 0 and death by
    # SIGTERM as clean (uvicorn re-raises the signal after its graceful shutdown), so
    # Restart=on-failure stays quiet.
    logs = "\n".join(f"--- {p.name}\n{p.output()}" for p in processes)
    assert all(p.proc.returncode in (0, -signal.SIGTERM) for p in processes), logs
    for proc in processes[:2]:
        assert "Application shutdown complete." in proc.output(), logs
    assert "shutdown on SIGTERM" in processes[2].output(), logs


def _run(args: list[str], env: dict[str, str], log: Path) -> int:

    with log.open("wb") as out:
        return subprocess.run(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode


async def test_servers_migrating_at_once_wait_for_each_other(tmp_path: Path) -> None:
    """Several `classbridge serve` (or migrate) processes on a new PostgreSQL database:
    each waits for the migration lock; one upgrades, the others find nothing left to do.
    The test holds the lock first, so it sees all of them wait."""
    require_postgres()
    name = f"cb_deploy_{uuid.uuid4().hex[:12]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    holder = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    runs: list[asyncio.Task[int]] = []
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        env = {**os.environ, "CLASSBRIDGE_DATABASE_URL": pg_url(name)}
        runs = [
            asyncio.create_task(
                asyncio.to_thread(_run, [CLASSBRIDGE, "migrate"], env, tmp_path / f"m{i}.log")
            )
            for i in range(3)
        ]

        async def all_waiting() -> bool:
            assert not any(r.done() for r in runs), "a migration ran without waiting"
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = $1",
                name,
            )
            return bool(waiting == 3)

        await eventually(all_waiting, deadline=60, what="three migrations waiting")
        await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        codes = await asyncio.gather(*runs)
        logs = [(tmp_path / f"m{i}.log").read_text() for i in range(3)]
        assert codes == [0, 0, 0], logs
        assert sum("database upgraded to" in log for log in logs) == 1, logs
        assert sum("database is up to date" in log for log in logs) == 2, logs
    finally:
        await holder.close()
        await asyncio.gather(*runs, return_exceptions=True)
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
