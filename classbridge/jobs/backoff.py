"""The one backoff policy of the background work: push deliveries, push runs that failed
as a whole, and emails all wait this long before their next attempt. Configured in one
place: `CLASSBRIDGE_RETRY_BACKOFF_BASE_SECONDS` and `CLASSBRIDGE_RETRY_BACKOFF_MAX_SECONDS`."""

import random
from datetime import timedelta

from classbridge.settings import Settings


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: spreads retries of many items over time."""
    return random.uniform(min(base, cap) / 2, min(cap, base * 2 ** max(attempt - 1, 0)))


def retry_delay(settings: Settings, attempt: int) -> timedelta:
    """How long to wait after the `attempt`-th failure in a row (1, 2, …)."""
    return timedelta(
        seconds=backoff_seconds(
            attempt,
            base=settings.retry_backoff_base_seconds,
            cap=settings.retry_backoff_max_seconds,
        )
    )
