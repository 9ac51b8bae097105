"""Liveness (/healthz) and readiness (/readyz) for load balancers and orchestrators.

/healthz answers while the process serves requests; it checks nothing else, so a
database outage does not get every server restarted. /readyz answers 200 only when the
database and (when configured) Redis answer, else 503 naming what failed; the reasons go
to the log, not to the caller. Each check has a timeout, and one result is shared by
all probes within a second, so a flood of probes costs the database one query a second.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from classbridge.models.db import Database

log = logging.getLogger("classbridge.health")

CHECK_TIMEOUT_SECONDS = 3.0
RESULT_TTL_SECONDS = 1.0


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def _timed(name: str, check: Callable[[], Awaitable[object]]) -> str:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await check()
    except Exception as exc:  # any failure means "not ready"; the details are for the log
        log.warning("readiness: %s is unavailable: %s", name, type(exc).__name__, exc_info=True)
        return "unavailable"
    return "ok"


class Readiness:
    """The /readyz endpoint of one app: its database and, if set, its Redis."""

    def __init__(self, database: Database, redis_url: str | None) -> None:
        self.database = database
        self.redis_url = redis_url
        self._lock = asyncio.Lock()
        self._result: tuple[float, dict[str, str]] | None = None

    async def _redis_ping(self) -> None:
        assert self.redis_url is not None
        redis = Redis.from_url(
            self.redis_url,
            socket_connect_timeout=CHECK_TIMEOUT_SECONDS,
            socket_timeout=CHECK_TIMEOUT_SECONDS,
        )
        try:
            await redis.ping()
        finally:
            await redis.aclose()

    async def checks(self) -> dict[str, str]:
        async with self._lock:  # one probe at a time checks; the others reuse its answer
            now = time.monotonic()
            if self._result is not None and now - self._result[0] < RESULT_TTL_SECONDS:
                return self._result[1]
            names = ["database"]
            probes = [_timed("database", self.database.check)]
            if self.redis_url:
                names.append("redis")
                probes.append(_timed("redis", self._redis_ping))
            result = dict(zip(names, await asyncio.gather(*probes), strict=True))
            self._result = (time.monotonic(), result)
            return result

    async def endpoint(self, _request: Request) -> Response:
        checks = await self.checks()
        ready = all(state == "ok" for state in checks.values())
        return JSONResponse(
            {"status": "ok" if ready else "unavailable", "checks": checks},
            status_code=200 if ready else 503,
        )
