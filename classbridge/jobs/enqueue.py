"""Typed enqueue helpers: job names and job ids live here, nowhere else.

A change asks for a push run with leading-edge coalescing (`enqueue_push`): the first
change after a quiet window (`push_coalesce_seconds`) runs at once; a change while that run
is queued, running or just done waits for one trailing run at the end of the window, and
while changes keep coming there is one run per window. The state is one Redis key per
queue (the moment of the latest run asked for), updated atomically by a small script, so
every API process and worker of an installation shares it. Job ids are derived from the
run's moment: asking twice for the same run enqueues it once (arq keeps the first).
"""

import math
from datetime import UTC, datetime

from arq.connections import ArqRedis

from classbridge.settings import Settings

PUSH_JOB = "push_changes"
RECONCILE_JOB = "reconcile"
SERIES_JOB = "extend_series"

# KEYS[1]: the queue's throttle key; ARGV[1]: now (ms); ARGV[2]: the window (ms).
# Returns the moment (ms) of the run that will send a change made now.
_THROTTLE = """
local last = tonumber(redis.call('GET', KEYS[1]))
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local run_at
if (not last) or now >= last + window then
  run_at = now
elseif now >= last then
  run_at = last + window
else
  return last
end
redis.call('SET', KEYS[1], run_at, 'PX', run_at + window - now)
return run_at
"""


def push_job_id(settings: Settings, at: datetime) -> tuple[str, datetime]:
    """(job id, run time) of a push run asked for at moment `at` (a retry, an expiring
    lease, a session entering the window): asks within one window share one run at its end."""
    step = settings.push_coalesce_seconds
    if step <= 0:
        return f"{settings.queue_name}:push:{int(at.timestamp() * 1000)}", at
    bucket = math.ceil(at.timestamp() / step)
    run_at = datetime.fromtimestamp(bucket * step, UTC)
    return f"{settings.queue_name}:push:{int(bucket * step * 1000)}", run_at


def throttle_key(settings: Settings) -> str:
    return f"{settings.queue_name}:push:last-run"


async def enqueue_push(redis: ArqRedis, *, settings: Settings, at: datetime | None = None) -> None:
    """Ask for a push run: now (after a change: on the leading edge, or trailing within a
    window), or at a later moment `at`. Repeated asks coalesce into one run per window."""
    now = datetime.now(UTC)
    if at is not None and at > now:
        job_id, run_at = push_job_id(settings, at)
        await redis.enqueue_job(
            PUSH_JOB, _job_id=job_id, _queue_name=settings.queue_name, _defer_until=run_at
        )
        return
    # Now (a change, or a run that left work due now): throttled, so that a run asking for
    # a follow-up while changes keep coming adds nothing to the window's trailing run.
    now_ms = int(now.timestamp() * 1000)
    window_ms = int(settings.push_coalesce_seconds * 1000)
    if window_ms <= 0:
        run_ms = now_ms
    else:
        run_ms = int(
            await redis.eval(  # type: ignore[misc]
                _THROTTLE, 1, throttle_key(settings), str(now_ms), str(window_ms)
            )
        )
    if run_ms <= now_ms:  # the leading edge: no defer, the next poll of a worker takes it
        await redis.enqueue_job(
            PUSH_JOB,
            _job_id=f"{settings.queue_name}:push:now:{run_ms}",
            _queue_name=settings.queue_name,
        )
        return
    await redis.enqueue_job(
        PUSH_JOB,
        _job_id=f"{settings.queue_name}:push:{run_ms}",
        _queue_name=settings.queue_name,
        _defer_until=datetime.fromtimestamp(run_ms / 1000, UTC),
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
