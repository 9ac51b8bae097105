"""Real services for tests: PostgreSQL and Redis on 127.0.0.1, skipped with a reason where
missing on a laptop, and a failure under CI=true (a skipped service test is no test)."""

import os
import socket

import pytest

PG_HOST = os.environ.get("CLASSBRIDGE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CLASSBRIDGE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CLASSBRIDGE_TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("CLASSBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if port_open(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: service tests must run, not skip)")
    pytest.skip(reason)


def require_postgres() -> None:
    require_service("PostgreSQL", PG_HOST, PG_PORT)


def require_redis() -> None:
    host_port = REDIS_URL.split("//", 1)[1].split("/", 1)[0]
    host, _, port = host_port.rpartition(":")
    require_service("Redis", host or "127.0.0.1", int(port or 6379))


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"
