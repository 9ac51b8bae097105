"""arq worker settings for `classbridge worker`: functions, the reconciliation cron, and
start-up/shut-down building and closing one database engine, one HTTP client and the
live sign-in bus."""

from typing import Any

from arq import cron, func
from arq.connections import RedisSettings

from classbridge.jobs.client import AggregatorClient
from classbridge.jobs.enqueue import (
    PUSH_JOB,
    RECONCILE_JOB,
    SERIES_JOB,
    cron_times,
    enqueue_push,
)
from classbridge.jobs.push import PushRuntime, push_changes, run_recovering
from classbridge.jobs.reconcile import reconcile
from classbridge.jobs.series import extend_rolling_series
from classbridge.live import attach_publisher, create_bus
from classbridge.models.db import Database
from classbridge.settings import get_settings

settings = get_settings()


async def push_job(ctx: dict[str, Any]) -> int:
    runtime: PushRuntime = ctx["push"]
    return await run_recovering(runtime, push_changes)


async def reconcile_job(ctx: dict[str, Any]) -> int:
    runtime: PushRuntime = ctx["push"]
    return await run_recovering(runtime, reconcile)


async def series_job(ctx: dict[str, Any]) -> int:
    runtime: PushRuntime = ctx["push"]
    scheduled = await extend_rolling_series(
        runtime.database, horizon_days=runtime.settings.series_horizon_days
    )
    if scheduled:  # the new sessions' outbox rows go out now, as the API's would
        await enqueue_push(ctx["redis"], settings=runtime.settings)
    return scheduled


async def startup(ctx: dict[str, Any]) -> None:
    redis = ctx["redis"]

    async def schedule(at: Any) -> None:
        await enqueue_push(redis, settings=settings, at=at)

    database = Database(settings.database_url, pool_size=settings.database_pool_size)
    # Changes a job commits reach live dashboards like the API's own (through Redis).
    ctx["bus"] = create_bus(settings)
    attach_publisher(database, ctx["bus"])
    ctx["push"] = PushRuntime(
        database=database,
        client=AggregatorClient(settings),
        settings=settings,
        schedule=schedule,
    )
    # Whatever waited while no worker ran (or a dead worker left leased) goes out now.
    await enqueue_push(redis, settings=settings)


async def shutdown(ctx: dict[str, Any]) -> None:
    runtime: PushRuntime | None = ctx.get("push")
    if runtime is not None:
        await runtime.client.aclose()
        await runtime.database.dispose()
    bus = ctx.get("bus")
    if bus is not None:
        await bus.close()


class WorkerSettings:
    functions = [
        func(push_job, name=PUSH_JOB, keep_result=0, max_tries=3),
        func(reconcile_job, name=RECONCILE_JOB, keep_result=0, max_tries=1),
        func(series_job, name=SERIES_JOB, keep_result=0, max_tries=1),
    ]
    cron_jobs = [
        cron(
            reconcile_job,
            # The queue name in the cron's name keeps its job ids apart from other queues'.
            name=f"{settings.queue_name}:{RECONCILE_JOB}",
            # arq types each cron field separately; cron_times gives second (and minute).
            **cron_times(settings.reconcile_interval_seconds),  # type: ignore[arg-type]
        ),
        cron(
            series_job,
            name=f"{settings.queue_name}:{SERIES_JOB}",
            # At start too: a series is extended as soon as a worker runs.
            run_at_startup=True,
            **cron_times(settings.series_extend_interval_seconds),  # type: ignore[arg-type]
        ),
    ]
    on_startup = startup
    on_shutdown = shutdown
    queue_name = settings.queue_name
    redis_settings = RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0")
    max_jobs = 10
    # A job starts at most this late after it is due: a change on the leading edge waits
    # for nothing else (docs/push-operations.md).
    poll_delay = settings.worker_poll_seconds
    handle_signals = True
