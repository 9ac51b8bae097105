"""Extending rolling session series (without `until`) to the horizon, periodically.

The same function runs as an arq cron in `classbridge worker` (with Redis) and as a
background task in the API process (the embedded default, without Redis)."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from classbridge.models import series as series_model
from classbridge.models.db import Database
from classbridge.settings import Settings

log = logging.getLogger("classbridge.series")


async def extend_rolling_series(database: Database, *, horizon_days: int) -> int:
    """One run: every rolling series scheduled up to `horizon_days` ahead, each in its own
    transaction (one failing series does not hold the others back). Returns how many
    sessions were scheduled."""
    async with database.read() as db:
        series_ids = await series_model.rolling_series_ids(db=db)
    scheduled = 0
    for series_id in series_ids:
        try:
            async with database.transaction() as db:
                added = await series_model.extend_series(
                    db=db, series_id=series_id, horizon_days=horizon_days
                )
        except Exception:
            log.exception("extending series %s failed; the next run tries again", series_id)
            continue
        scheduled += len(added)
    if scheduled:
        log.info("series extension: %d sessions scheduled", scheduled)
    return scheduled


@asynccontextmanager
async def series_lifespan(database: Database, settings: Settings) -> AsyncIterator[None]:
    """Without Redis, extend series in this process: once at start, then every
    `series_extend_interval_seconds`. With Redis the worker's cron does it."""
    if settings.redis_url:
        yield
        return

    async def run() -> None:
        while True:
            try:
                await extend_rolling_series(database, horizon_days=settings.series_horizon_days)
            except Exception:
                log.exception("series extension failed; trying again next period")
            await asyncio.sleep(settings.series_extend_interval_seconds)

    task = asyncio.create_task(run(), name="classbridge-series")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
