"""The `classbridge` command as an operator runs it: real processes, real HTTP."""

import json
import os
import socket
import sqlite3
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from classbridge.migrate import alembic_config
from classbridge.models import partner_token as token_model
from classbridge.models.db import Database
from tests.graph.rows import row_counts
from tests.processes import run_cli, running_server
from tests.services import pg_url

ROOT = Path(__file__).resolve().parents[2]
COMPANY = "{ company { __typename id name } venues { id timezone } }"
SESSIONS = "{ sessions(first: 100) { edges { node { activity { name } counts { booked } } } } }"
LOGIN = """
mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token user { role } } }
"""


def _head() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


async def test_export_schema_is_the_committed_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"
    printed = await run_cli("export-schema", database_url=url)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == (ROOT / "schema.graphql").read_text()
    written = await run_cli(
        "export-schema", "--output", str(tmp_path / "s.graphql"), database_url=url
    )
    assert written.returncode == 0
    assert (tmp_path / "s.graphql").read_text() == printed.stdout


async def test_migrate_creates_a_fresh_sqlite_file_and_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    for _ in range(2):
        result = await run_cli("migrate", database_url=f"sqlite+aiosqlite:///{path}")
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    with sqlite3.connect(path) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert version == [(_head(),)]
    assert {"company", "venue", "activity", "class_session", "customer", "booking"} <= tables
    assert journal == "wal"


async def test_seed_demo_gives_a_working_token_and_reruns_duplicate_nothing(
    database_url: str, database: Database
) -> None:
    first = await run_cli("seed-demo", "--json", database_url=database_url)
    assert first.returncode == 0, first.stderr
    demo = json.loads(first.stdout.strip().splitlines()[-1])
    assert {"staffToken", "companyId", "venueIds"} <= demo.keys()
    assert len(demo["venueIds"]) == 2 and demo["created"] is True
    counts = await row_counts(database)
    assert counts["activity"] >= 3 and counts["customer"] >= 3 and counts["booking"] > 0

    second = await run_cli("seed-demo", "--json", database_url=database_url)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout.strip().splitlines()[-1])
    assert again["created"] is False
    assert (again["companyId"], again["venueIds"]) == (demo["companyId"], demo["venueIds"])
    assert again["staffToken"] != demo["staffToken"]
    recount = await row_counts(database)
    # Only fresh tokens: one for the owner, one for the demo's EGYM Wellpass partner.
    assert recount == {
        **counts,
        "staff_token": counts["staff_token"] + 1,
        "partner_token": counts["partner_token"] + 1,
    }
    # The earlier partner token is revoked (tokens are stored hashed: it cannot be shown
    # again), so however often seed-demo runs, one demo partner token stays live.
    old_partner = demo["aggregatorTokens"]["EGYM_WELLPASS"]
    new_partner = again["aggregatorTokens"]["EGYM_WELLPASS"]
    async with database.read() as db:
        live = [t for t in await token_model.list_tokens(db=db) if t.revoked_at is None]
        assert [(t.aggregator.value, t.label) for t in live] == [("EGYM_WELLPASS", "seed-demo")]
        assert await token_model.authenticate(db=db, token=old_partner) is None
        assert await token_model.authenticate(db=db, token=new_partner) is not None

    async with (
        running_server(database_url) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        for token in (demo["staffToken"], again["staffToken"]):
            response = await client.post(
                "/graphql", json={"query": COMPANY}, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            assert data["company"] == {
                "__typename": "Company",
                "id": demo["companyId"],
                "name": "Demo Studio",
            }
            assert sorted(v["id"] for v in data["venues"]) == sorted(demo["venueIds"])
            assert {v["timezone"] for v in data["venues"]} == {"Europe/Berlin"}
        response = await client.post(
            "/graphql",
            json={"query": SESSIONS},
            headers={"Authorization": f"Bearer {demo['staffToken']}"},
        )
        edges = response.json()["data"]["sessions"]["edges"]
        assert len({e["node"]["activity"]["name"] for e in edges}) >= 3
        assert any(e["node"]["counts"]["booked"] > 0 for e in edges)


async def test_create_owner_then_login(database_url: str) -> None:
    env = {"CLASSBRIDGE_OWNER_PASSWORD": "s3cret-owner-pass"}
    args = ("create-owner", "--company", "Loft", "--email", "Me@Loft.example", "--name", "Me")
    created = await run_cli(*args, database_url=database_url, extra_env=env)
    assert created.returncode == 0, created.stderr
    again = await run_cli(*args, database_url=database_url, extra_env=env)
    assert again.returncode != 0
    assert again.stderr.strip().splitlines()[-1].startswith("classbridge: CONFLICT: ")
    assert "Traceback" not in again.stderr
    async with (
        running_server(database_url) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        variables = {"e": "me@loft.example", "p": "s3cret-owner-pass"}
        response = await client.post("/graphql", json={"query": LOGIN, "variables": variables})
        login = response.json()["data"]["login"]
        assert login["user"] == {"role": "OWNER"}
        response = await client.post(
            "/graphql",
            json={"query": COMPANY},
            headers={"Authorization": f"Bearer {login['token']}"},
        )
        assert response.json()["data"]["company"]["name"] == "Loft"


BAD_URLS = [
    "not a url",
    "postgresql+asyncpg://user:hunter2@localhost:notaport/db",
    "mysql://root@localhost/db",
    pg_url("db").replace(":5432", ":1"),  # nothing listens on port 1
    "postgresql+asyncpg://postgres@no-such-host.invalid/db",
]


@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize("url", BAD_URLS)
async def test_a_bad_database_url_stops_with_one_line(
    command: str, url: str, tmp_path: Path
) -> None:
    result = (
        await run_cli(command, "--port", "0", database_url=url, cwd=tmp_path)
        if (command == "serve")
        else await run_cli(command, database_url=url, cwd=tmp_path)
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("classbridge: ")
    assert "CLASSBRIDGE_DATABASE_URL" in lines[0] or "cannot reach the database" in lines[0]
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    assert os.listdir(tmp_path) == []  # and no stray SQLite file


async def test_serve_applies_migrations_to_a_fresh_database(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    async with (
        running_server(f"sqlite+aiosqlite:///{path}") as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        variables = {"e": "nobody@example.com", "p": "whatever-pass"}
        response = await client.post("/graphql", json={"query": LOGIN, "variables": variables})
        assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIALS"
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(_head(),)]


async def test_create_owner_without_a_password_or_with_a_short_one_is_one_line(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'owner.db'}"
    args = ("create-owner", "--company", "Loft", "--email", "me@loft.example", "--name", "Me")
    no_terminal = await run_cli(*args, database_url=url)  # stdin is not a terminal
    assert no_terminal.returncode != 0
    assert no_terminal.stderr.strip().splitlines() == [
        "classbridge: no terminal to ask for the password: set CLASSBRIDGE_OWNER_PASSWORD"
    ]
    short = await run_cli(
        *args, database_url=url, extra_env={"CLASSBRIDGE_OWNER_PASSWORD": "short"}
    )
    assert short.returncode != 0 and "Traceback" not in short.stderr
    assert short.stderr.strip().splitlines()[-1].startswith("classbridge: VALIDATION: password")


async def test_a_bad_setting_is_named_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    env = {"CLASSBRIDGE_TOKEN_TTL_DAYS": "soon", "CLASSBRIDGE_MAX_BODY_BYTES": "5"}
    result = await run_cli("serve", "--port", "0", database_url=url, extra_env=env)
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert "CLASSBRIDGE_TOKEN_TTL_DAYS" in line and "CLASSBRIDGE_MAX_BODY_BYTES" in line


async def test_create_owner_refuses_a_common_password(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'common.db'}"
    args = ("create-owner", "--company", "Loft", "--email", "me@loft.example", "--name", "Me")
    for common in ("password", "qwertyuiop", "Password1!"):
        result = await run_cli(
            *args, database_url=url, extra_env={"CLASSBRIDGE_OWNER_PASSWORD": common}
        )
        assert result.returncode != 0 and "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("classbridge: VALIDATION: password is too common"), last


async def test_create_staff_adds_an_account_that_signs_in(tmp_path: Path) -> None:
    path = tmp_path / "staff.db"
    url = f"sqlite+aiosqlite:///{path}"
    owner = await run_cli(
        "create-owner",
        "--company",
        "Loft",
        "--email",
        "me@loft.example",
        "--name",
        "Me",
        database_url=url,
        extra_env={"CLASSBRIDGE_OWNER_PASSWORD": "owner keeps the keys"},
    )
    assert owner.returncode == 0, owner.stderr
    company_id = owner.stdout.split()[1].rstrip(",")
    args = ("create-staff", "--company-id", company_id, "--email", "Desk@Loft.example")
    weak = await run_cli(
        *args,
        "--name",
        "Desk",
        database_url=url,
        extra_env={"CLASSBRIDGE_STAFF_PASSWORD": "password"},
    )
    assert weak.returncode != 0 and "VALIDATION: password" in weak.stderr
    made = await run_cli(
        *args,
        "--name",
        "Desk",
        database_url=url,
        extra_env={"CLASSBRIDGE_STAFF_PASSWORD": "front desk at dawn"},
    )
    assert made.returncode == 0, made.stderr
    assert "(STAFF)" in made.stdout
    unknown = await run_cli(
        "create-staff",
        "--company-id",
        "00000000-0000-0000-0000-000000000000",
        "--email",
        "x@loft.example",
        "--name",
        "X",
        database_url=url,
        extra_env={"CLASSBRIDGE_STAFF_PASSWORD": "front desk at dawn"},
    )
    assert unknown.returncode != 0 and "no company" in unknown.stderr
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT email, role FROM staff_user ORDER BY email").fetchall()
    assert rows == [("desk@loft.example", "STAFF"), ("me@loft.example", "OWNER")]


async def test_the_simulator_refuses_a_bad_secret_or_a_taken_port_in_one_line(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        refusals = {
            "--secret": ("simulate-aggregator", "--port", "0", "--secret", "not base64!"),
            f"cannot listen on 127.0.0.1:{port}": (
                *("simulate-aggregator", "--port", port, "--secret", secret),
            ),
        }
        for says, args in refusals.items():
            result = await run_cli(*args, database_url=url)
            assert result.returncode == 2
            [line] = result.stderr.strip().splitlines()
            assert line.startswith("classbridge: ") and says in line, line
