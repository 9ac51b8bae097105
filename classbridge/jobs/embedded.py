"""Running the push inside the API process.

Without Redis (the embedded default) a background task runs the same job functions as the
arq worker: woken by the `OutboxWritten` notice after a commit, by retry times, and by the
reconciliation period. With Redis, the API process only enqueues a push job after commit.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta
from typing import Any

from arq.connections import ArqRedis, RedisSettings, create_pool

from classbridge.jobs.client import AggregatorClient
from classbridge.jobs.enqueue import enqueue_push
from classbridge.jobs.push import PushRuntime, push_changes, run_recovering
from classbridge.jobs.reconcile import reconcile
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.outbox import OutboxWritten
from classbridge.settings import Settings

log = logging.getLogger("classbridge.push")


class EmbeddedPush:
    """The in-process push loop: one run at a time, never two concurrently; leading-edge
    coalescing (the first change after a quiet `push_coalesce_seconds` runs at once, later
    ones at most once per window)."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.settings = settings
        self.runtime = PushRuntime(
            database=database,
            client=AggregatorClient(settings),
            settings=settings,
            schedule=self.schedule,
        )
        self._wake = asyncio.Event()
        self._due: datetime | None = None

    async def on_notices(self, notices: list[Any]) -> None:
        if any(isinstance(n, OutboxWritten) for n in notices):
            self._wake.set()

    async def schedule(self, at: datetime) -> None:
        if at <= utcnow():
            # Due now (work left over, or changed while the run went on): like a change,
            # so it joins the window's trailing run instead of adding a run.
            self._wake.set()
            return
        self._due = at if self._due is None else min(self._due, at)

    async def run(self) -> None:
        interval = timedelta(seconds=self.settings.reconcile_interval_seconds)
        window = self.settings.push_coalesce_seconds
        next_reconcile = utcnow()  # once at start: repairs whatever happened while down
        last_run: float | None = None  # loop time when the latest run for changes started
        loop = asyncio.get_running_loop()
        while True:
            now = utcnow()
            wake_at = min(next_reconcile, self._due or next_reconcile)
            timeout = max((wake_at - now).total_seconds(), 0.0)
            woken = False
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
                woken = True
            if woken and last_run is not None:
                # Leading edge: a change after a quiet window goes out at once. A change
                # made while the previous run went on, or shortly after it, waits for the
                # rest of that run's window: a burst goes out once per window.
                rest = last_run + window - loop.time()
                if rest > 0:
                    await asyncio.sleep(rest)
            self._wake.clear()
            self._due = None
            if woken:  # runs for changes open a window; timed runs (retries) do not
                last_run = loop.time()
            if utcnow() >= next_reconcile:
                next_reconcile = utcnow() + interval
                await run_recovering(self.runtime, reconcile)
            else:
                await run_recovering(self.runtime, push_changes)

    async def aclose(self) -> None:
        await self.runtime.client.aclose()


@asynccontextmanager
async def push_lifespan(database: Database, settings: Settings) -> AsyncIterator[None]:
    """Wire the push into the API process for as long as it runs."""
    if settings.redis_url:
        redis: ArqRedis = await create_pool(
            RedisSettings.from_dsn(settings.redis_url), default_queue_name=settings.queue_name
        )

        async def enqueue(notices: list[Any]) -> None:
            if any(isinstance(n, OutboxWritten) for n in notices):
                try:
                    await enqueue_push(redis, settings=settings)
                except Exception:  # the outbox row is safe; the worker's next run sends it
                    log.exception("could not enqueue the push job")

        database.after_commit.add(enqueue)
        try:
            yield
        finally:
            database.after_commit.remove(enqueue)
            await redis.aclose()
        return
    runner = EmbeddedPush(database, settings)
    database.after_commit.add(runner.on_notices)
    task = asyncio.create_task(runner.run(), name="classbridge-push")
    try:
        yield
    finally:
        database.after_commit.remove(runner.on_notices)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await runner.aclose()
