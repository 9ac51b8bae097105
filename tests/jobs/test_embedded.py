"""Without Redis: `classbridge serve` pushes in-process, woken by the commit; `classbridge
reconcile` runs one reconciliation by hand."""

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from classbridge.models.db import Database
from tests import zygote
from tests.jobs.conftest import all_arrived, connect, versions
from tests.jobs.processes import (
    Process,
    Receiver,
    announced_port,
    classbridge_args,
    eventually,
    push_env,
    wait_port,
)
from tests.processes import SERVER_LISTENS
from tests.studio import Studio

SCHEDULE = """
mutation ($input: ScheduleSessionsInput!) { scheduleSessions(input: $input) { id version } }
"""
EDIT = """
mutation ($id: ID!, $input: EditSessionInput!) { editSession(id: $id, input: $input) { version } }
"""


@pytest.fixture
def server(tmp_path: Path, database_url: str, receiver: Receiver) -> Iterator[str]:
    env = push_env(database_url, receiver.url, "unused")
    del env["CLASSBRIDGE_REDIS_URL"]  # the embedded default
    env["CLASSBRIDGE_RECONCILE_INTERVAL_SECONDS"] = "3600"
    proc = Process(
        "server",
        classbridge_args("serve", "--port", "0"),
        {**env, "PYTHONUNBUFFERED": "1", "PATH": os.environ.get("PATH", "")},
        tmp_path / "server.log",
    )
    try:
        port = announced_port(proc, SERVER_LISTENS, deadline=30)
        wait_port(proc, port, deadline=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


async def test_serve_without_redis_pushes_changes_within_seconds(
    studio: Studio, receiver: Receiver, server: str, database: Database
) -> None:
    await connect(studio)
    day = date.today() + timedelta(days=2)
    async with httpx.AsyncClient(base_url=server, headers=studio.headers()) as http:
        body = (
            await http.post(
                "/graphql",
                json={
                    "query": SCHEDULE,
                    "variables": {
                        "input": {
                            "activityId": str(studio.activity_id),
                            "venueId": str(studio.venue_id),
                            "start": f"{day.isoformat()}T18:00",
                        }
                    },
                },
            )
        ).json()
        sid = body["data"]["scheduleSessions"][0]["id"]
        await eventually(
            lambda: _has(receiver, sid), deadline=10, what="the new session at the receiver"
        )
        await http.post(
            "/graphql",
            json={"query": EDIT, "variables": {"id": sid, "input": {"room": "Garden"}}},
        )

    async def edited() -> bool:
        state = await receiver.state()
        return all_arrived(state, await versions(database, [uuid.UUID(sid)])) and (
            state["sessions"][sid]["room"] == "Garden"
        )

    await eventually(edited, deadline=10, what="the edit at the receiver")


async def _has(receiver: Receiver, sid: str) -> bool:
    return sid in (await receiver.state())["sessions"]


async def test_operator_runs_a_reconciliation_from_the_command_line(
    studio: Studio, receiver: Receiver, database: Database, database_url: str, tmp_path: Path
) -> None:
    await connect(studio)
    sid = await studio.session()
    env = push_env(database_url, receiver.url, "unused")
    del env["CLASSBRIDGE_REDIS_URL"]
    result = await asyncio.to_thread(zygote.run, classbridge_args("reconcile"), env=env)
    assert result.returncode == 0, result.stderr
    assert "reconciled: 1 session states acknowledged" in result.stdout
    assert all_arrived(await receiver.state(), await versions(database, [sid]))
