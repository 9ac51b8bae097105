"""Each partner token's request budget (CLASSBRIDGE_PARTNER_RATE_LIMIT, e.g. 600/minute).

The algorithm is the `limits` library's moving window: at most N requests in any window
of the given length, exactly. Its storage is Redis when CLASSBRIDGE_REDIS_URL is set, so
every server process counts against the same budget, and this process's memory otherwise.
A store that does not answer within `STORE_WAIT_SECONDS` is treated as away: the request
is served uncounted (it holds the request's database session meanwhile, so the wait is
bounded).
"""

import asyncio
import logging
import math
import time
import uuid

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter

from classbridge.graph.rate_limit_storage import close_storage, limits_storage
from classbridge.settings import Settings

log = logging.getLogger("classbridge.ratelimit")

STORE_WAIT_SECONDS = 1.0
"""How long a request waits for the rate limit's store (Redis) before it goes uncounted."""


class PartnerRateLimit:
    def __init__(self, settings: Settings) -> None:
        text = settings.partner_rate_limit  # validated by Settings
        self.item: RateLimitItem | None = parse(text) if text else None
        self.storage: Storage = limits_storage(settings)
        self.limiter = MovingWindowRateLimiter(self.storage)

    def describe(self) -> str:
        return str(self.item) if self.item else "unlimited"

    async def retry_after(self, token_id: uuid.UUID) -> int | None:
        """Count one request of this token: None when within its budget, else the whole
        seconds until the next one is allowed."""
        if self.item is None:
            return None
        key = str(token_id)
        try:
            async with asyncio.timeout(STORE_WAIT_SECONDS):
                if await self.limiter.hit(self.item, key):
                    return None
                stats = await self.limiter.get_window_stats(self.item, key)
        except Exception as exc:  # the shared store is away: serve rather than refuse all
            log.warning("rate limit not counted (%s: %s)", type(exc).__name__, exc)
            return None
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def close(self) -> None:
        await close_storage(self.storage)
