"""Typed enqueue helpers: job names and job ids live here, nowhere else.

Job ids are deterministic per coalescing bucket: every change committed within one bucket
(`push_coalesce_seconds`) enqueues the same id, and arq keeps only the first, so a burst
becomes one job that runs at the end of the bucket and sends the newest state.
"""

import math
from datetime import UTC, datetime

from arq.connections import ArqRedis

from classbridge.settings import Settings

PUSH_JOB = "push_changes"
RECONCILE_JOB = "reconcile"
SERIES_JOB = "extend_series"


def push_job_id(settings: Settings, at: datetime) -> tuple[str, datetime]:
    """(job id, run time) of the push job covering moment `at`."""
    step = settings.push_coalesce_seconds
    if step <= 0:
        return f"{settings.queue_name}:push:{int(at.timestamp() * 1000)}", at
    bucket = math.ceil(at.timestamp() / step)
    run_at = datetime.fromtimestamp(bucket * step, UTC)
    return f"{settings.queue_name}:push:{int(bucket * step * 1000)}", run_at


async def enqueue_push(redis: ArqRedis, *, settings: Settings, at: datetime | None = None) -> None:
    """Ask for a push run soon (or at `at`); repeated asks in one bucket coalesce."""
    job_id, run_at = push_job_id(settings, at or datetime.now(UTC))
    await redis.enqueue_job(
        PUSH_JOB, _job_id=job_id, _queue_name=settings.queue_name, _defer_until=run_at
    )


async def enqueue_reconcile(redis: ArqRedis, *, settings: Settings, key: str) -> None:
    """Ask for a reconciliation now (operators and tests; the cron runs it regularly)."""
    await redis.enqueue_job(
        RECONCILE_JOB,
        _job_id=f"{settings.queue_name}:reconcile:{key}",
        _queue_name=settings.queue_name,
    )


def cron_times(interval_seconds: int) -> dict[str, set[int]]:
    """arq cron fields for "every `interval_seconds`" (the interval must divide an hour)."""
    if 3600 % interval_seconds:
        raise ValueError("a cron interval must divide 3600 seconds")
    if interval_seconds < 60:
        return {"second": set(range(0, 60, interval_seconds))}
    return {"minute": set(range(0, 60, interval_seconds // 60)), "second": {0}}
