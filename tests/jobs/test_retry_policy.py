"""The one retry rule of the contract, answer by answer, against the simulator over real
HTTP: every 5xx, 408, 425, 429, timeouts and connection errors are retried with backoff;
any other 4xx gives up at once (the reconciliation tries again later)."""

import uuid

import pytest
from sqlalchemy import select

from classbridge.jobs.client import AggregatorClient
from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.models.tables import PushDelivery
from tests.jobs.conftest import connect
from tests.jobs.processes import ClosedPort, Receiver
from tests.studio import Studio

EVERY_5XX = [500, 501, 502, 503, 504, 505, 507, 508, 511]
RETRIED_4XX = [408, 425, 429]
GIVEN_UP_4XX = [400, 401, 403, 404, 405, 409, 410, 413, 415, 422]


@pytest.fixture
async def slow_retries(studio: Studio, runtime: PushRuntime) -> PushRuntime:
    """A retried row stays waiting for the rest of the test, so each push run sends only
    the session the test just scheduled."""
    await connect(studio)
    runtime.settings.retry_backoff_base_seconds = 600
    runtime.settings.retry_backoff_max_seconds = 600
    return runtime


async def _row(studio: Studio, session_id: uuid.UUID) -> PushDelivery:
    async with studio.database.read() as db:
        row = await db.scalar(select(PushDelivery).where(PushDelivery.session_id == session_id))
    assert row is not None
    return row


async def _answered(
    studio: Studio, receiver: Receiver, rt: PushRuntime, status: int
) -> PushDelivery:
    sid = await studio.session(days_ahead=1)
    await receiver.faults(failStatus=status, failCount=1)
    await push_changes(rt)
    return await _row(studio, sid)


def _retried(row: PushDelivery) -> bool:
    return (
        row.pending
        and row.failed_at is None
        and row.attempts == 1
        and row.next_attempt_at is not None
        and row.acked_version is None
    )


def _given_up(row: PushDelivery) -> bool:
    return row.failed_at is not None and row.next_attempt_at is None and row.acked_version is None


async def test_every_5xx_is_retried(
    studio: Studio, receiver: Receiver, slow_retries: PushRuntime
) -> None:
    for status in EVERY_5XX:
        row = await _answered(studio, receiver, slow_retries, status)
        assert _retried(row), status
        assert row.last_error is not None and f"HTTP {status}" in row.last_error


async def test_408_425_and_429_are_retried(
    studio: Studio, receiver: Receiver, slow_retries: PushRuntime
) -> None:
    for status in RETRIED_4XX:
        row = await _answered(studio, receiver, slow_retries, status)
        assert _retried(row), status


async def test_any_other_4xx_gives_up_at_once(
    studio: Studio, receiver: Receiver, slow_retries: PushRuntime
) -> None:
    for status in GIVEN_UP_4XX:
        row = await _answered(studio, receiver, slow_retries, status)
        assert _given_up(row), status
        assert row.last_error is not None and f"HTTP {status}" in row.last_error
    # A given-up item is not sent again by ordinary runs: only the reconciliation retries.
    before = (await receiver.state())["counters"]
    await push_changes(slow_retries)
    assert (await receiver.state())["counters"] == before


async def test_timeouts_and_connection_errors_are_retried(
    studio: Studio, receiver: Receiver, slow_retries: PushRuntime
) -> None:
    rt = slow_retries
    await rt.client.aclose()
    rt.client = AggregatorClient(rt.settings.model_copy(update={"push_timeout_seconds": 0.3}))
    await receiver.faults(latencyMs=2000)
    slow = await studio.session(days_ahead=1)
    await push_changes(rt)
    row = await _row(studio, slow)
    assert _retried(row) and row.last_error is not None and "Timeout" in row.last_error

    await receiver.faults(latencyMs=0)
    with ClosedPort() as closed:
        rt.client.settings.egym_wellpass_push_url = f"http://127.0.0.1:{closed.port}"
        unreachable = await studio.session(days_ahead=2)
        await push_changes(rt)
    row = await _row(studio, unreachable)
    assert _retried(row) and row.last_error is not None and "Connect" in row.last_error
