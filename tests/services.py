"""Real services for tests: PostgreSQL and Redis on 127.0.0.1, skipped with a reason where
missing on a laptop, and a failure under CI=true (a skipped service test is no test).

Redis is shared with other test runs (and maybe a developer's own classbridge), so a run
stays in its lane: every key and pub/sub channel it uses contains `REDIS_PREFIX`
(`cbtest:<run id>:`), and the code under test talks to Redis as an ACL user of this run that
may touch nothing else — the production defaults (`classbridge:push`, `classbridge:live`,
arq's `arq:queue`) are refused with NOPERM. The run's first process creates that user and,
at the end, checks that no key is left under the prefix and removes the user
(tests/conftest.py). `CLASSBRIDGE_TEST_REDIS_ACL=0` turns the ACL user off for a Redis where
the tests may not create one (the prefix and the check stay).
"""

import os
import socket
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

from classbridge.jobs.client import tls_context

PG_HOST = os.environ.get("CLASSBRIDGE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CLASSBRIDGE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CLASSBRIDGE_TEST_PG_USER", "postgres")

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# One id per run, shared by the pytest-xdist workers (they inherit the environment).
RUN_ID = os.environ.setdefault("CLASSBRIDGE_TEST_RUN_ID", uuid.uuid4().hex[:12])
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")

ADMIN_REDIS_URL = os.environ.get("CLASSBRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_PREFIX = f"cbtest:{RUN_ID}:"
REDIS_ACL = os.environ.get("CLASSBRIDGE_TEST_REDIS_ACL", "1") != "0"
REDIS_USER = f"cbtest-{RUN_ID}"


def _as_user(url: str, user: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


# What the code under test gets: the run's ACL user (the run id doubles as its password; the
# user guards against mistakes, not attackers).
REDIS_URL = _as_user(ADMIN_REDIS_URL, REDIS_USER, RUN_ID) if REDIS_ACL else ADMIN_REDIS_URL

# Anything that reads its names from the environment without a test choosing them lands in
# the run's lane too (and the end-of-run check reports it), never on the production defaults.
UNSCOPED = f"{REDIS_PREFIX}unscoped"
for _setting in ("QUEUE_NAME", "LIVE_CHANNEL_PREFIX", "RATE_LIMIT_KEY_PREFIX"):
    os.environ[f"CLASSBRIDGE_{_setting}"] = UNSCOPED


def redis_acl_rules() -> list[str]:
    """ACL SETUSER rules of the run's user: its own keys and channels, no server admin."""
    return [
        "reset",
        "on",
        f">{RUN_ID}",
        f"~*{REDIS_PREFIX}*",  # arq puts the queue name inside its keys: arq:job:<queue>:…
        "~arq:abort",  # arq's one shared key: a finishing job takes its id out (ZREM)
        f"&{REDIS_PREFIX}*",
        "+@all",
        "-@dangerous",
        "+info",  # arq logs the server's version at start-up
    ]


def new_redis_namespace() -> str:
    """A prefix for one test's queue names and live channels (`cbtest:<run>:<worker>:<id>`)."""
    return f"{REDIS_PREFIX}{WORKER}:{uuid.uuid4().hex[:8]}"


# For every httpx client the tests make (most talk plain HTTP on loopback, where it is
# unused): building a TLS context loads the CA bundle, and polling loops made hundreds.
TLS = tls_context()


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


def redis_address() -> tuple[str, int]:
    parts = urlsplit(ADMIN_REDIS_URL)
    return parts.hostname or "127.0.0.1", parts.port or 6379


def require_redis() -> None:
    require_service("Redis", *redis_address())


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"
