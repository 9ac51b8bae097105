"""What an operator meets at the command line: one-line failures, a refused port,
`--version`, help texts that name the settings, and no Alembic chatter."""

import os
import tomllib
from pathlib import Path

import pytest

from classbridge.cli import SETTINGS_READ, build_parser
from classbridge.settings import Settings
from tests.jobs.processes import ClosedPort
from tests.processes import run_cli

ROOT = Path(__file__).resolve().parents[2]


# "{closed}" becomes a port nothing listens on (chosen when the test runs: test ids must
# be the same in every pytest-xdist worker).
BAD_REDIS_URLS = [
    "not-a-redis-url",
    "http://127.0.0.1:6379/0",
    "redis://127.0.0.1:{closed}/0",
    "redis://user:hunter2@127.0.0.1:{closed}/0",
    "redis://127.0.0.1:notaport/0",
]


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize("url", BAD_REDIS_URLS)
async def test_a_bad_redis_url_stops_with_one_line(command: str, url: str, tmp_path: Path) -> None:
    with ClosedPort() as closed:
        url = url.replace("{closed}", str(closed.port))
        args = ("serve", "--port", "0") if command == "serve" else ("worker",)
        result = await run_cli(
            *args,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
            cwd=tmp_path,
            extra_env={"CLASSBRIDGE_REDIS_URL": url},
        )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("classbridge: ")
    assert "CLASSBRIDGE_REDIS_URL" in lines[0] or "cannot reach Redis" in lines[0]
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    assert os.listdir(tmp_path) == []  # refused before anything was created


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
async def test_serve_refuses_a_port_that_is_no_port(port: str, tmp_path: Path) -> None:
    result = await run_cli(
        "serve", "--port", port, database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    )
    assert result.returncode == 2
    assert "argument --port:" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []


async def test_version_is_pyprojects(tmp_path: Path) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    result = await run_cli("--version", database_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert result.returncode == 0
    assert result.stdout.strip() == f"classbridge {version}"


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices[command].format_help()  # type: ignore[index]


def test_every_command_has_a_description_and_names_its_settings() -> None:
    commands = set(next(a for a in build_parser()._actions if a.dest == "command").choices)
    assert commands == set(SETTINGS_READ)
    for command in commands:
        text = _help(command)
        usage_and_description = text.split("options:")[0].strip().splitlines()
        assert len(usage_and_description) >= 3, f"{command} --help has no description"
        for name in SETTINGS_READ[command]:
            assert f"CLASSBRIDGE_{name.upper()}" in text, f"{command} --help misses {name}"
        if not SETTINGS_READ[command]:
            assert "Reads no CLASSBRIDGE_* setting" in text
    # serve reads every setting, and each is described.
    serve = _help("serve")
    for name, field in Settings.model_fields.items():
        assert f"CLASSBRIDGE_{name.upper()}" in serve
        assert field.description, f"Settings.{name} has no description for --help"
    assert "CLASSBRIDGE_OWNER_PASSWORD" in _help("create-owner")


async def test_a_real_help_text_from_the_command(tmp_path: Path) -> None:
    result = await run_cli("worker", "--help", database_url=f"sqlite+aiosqlite:///{tmp_path}/x")
    assert result.returncode == 0
    assert "arq worker" in result.stdout and "CLASSBRIDGE_REDIS_URL" in result.stdout


async def test_migrations_say_what_they_did_without_alembics_lines(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    first = await run_cli("migrate", database_url=url)
    assert first.returncode == 0, first.stderr
    [line] = first.stderr.strip().splitlines()
    assert "database upgraded to" in line and "0001" in line
    again = await run_cli("migrate", database_url=url)
    [line] = again.stderr.strip().splitlines()
    assert line.endswith("database is up to date")
    token = await run_cli("aggregator-token", "list", database_url=url)
    assert token.returncode == 0
    assert "alembic" not in (first.stderr + again.stderr + token.stderr).lower()
    assert "Context impl" not in token.stderr and "Will assume" not in token.stderr
