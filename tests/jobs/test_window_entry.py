"""Sessions that enter the 14-day window by the passing of time are pushed when they
enter (a scheduled wake-up), not at the next 30-minute reconciliation."""

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.push import mark_differing, mark_entering_window
from classbridge.models.tables import Aggregator, ClassSession, PushDelivery
from tests.jobs.conftest import Workers, all_arrived, connect, versions
from tests.jobs.processes import Receiver, eventually
from tests.studio import Studio


async def _starts_at(studio: Studio, sid):  # type: ignore[no-untyped-def]
    async with studio.database.read() as db:
        session = await db.get(ClassSession, sid)
    assert session is not None
    return session.starts_at


async def test_the_push_wakes_up_when_the_next_session_enters_the_window(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    far = await studio.session(days_ahead=20)
    scheduled: list = []

    async def schedule(at):  # type: ignore[no-untyped-def]
        scheduled.append(at)

    runtime.schedule = schedule
    await push_changes(runtime)

    assert str(far) not in (await receiver.state())["sessions"]
    window = timedelta(days=runtime.settings.reconcile_window_days)
    assert scheduled == [await _starts_at(studio, far) - window]

    # Time passes (a wider window stands in for it): the next ordinary run sends it.
    runtime.settings.reconcile_window_days = 21
    await push_changes(runtime)
    assert all_arrived(await receiver.state(), await versions(studio.database, [far]))


async def test_a_worker_pushes_a_session_within_seconds_of_entering_the_window(
    studio: Studio, receiver: Receiver, workers: Workers
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=2)
    # A window the session enters ~10 s from now (time for the worker to start and make its
    # start-up run first); the reconciliation is an hour away.
    margin = timedelta(seconds=10)
    window = (await _starts_at(studio, sid)) - utcnow() - margin
    workers.start(reconcile_window_days=window / timedelta(days=1))

    async def held_back() -> bool:
        async with studio.database.read() as db:
            row = await db.scalar(select(PushDelivery).where(PushDelivery.session_id == sid))
        return row is not None and not row.pending and row.acked_version is None

    await eventually(held_back, deadline=8, what="the start-up run holding it back")
    assert str(sid) not in (await receiver.state())["sessions"]

    async def arrived() -> bool:
        return all_arrived(await receiver.state(), await versions(studio.database, [sid]))

    await eventually(arrived, deadline=60, what=workers.logs())


@pytest.mark.parametrize("backend", ["postgres"])  # on SQLite there is no plan cache
async def test_the_scans_for_owed_sessions_are_planned_for_their_values(
    database: Database,
) -> None:
    """asyncpg prepares statements, and PostgreSQL may keep a generic plan costed with
    stale statistics: after a bulk change such a plan took seconds (docs/performance.md).
    Both scans plan for their values, for their transaction only."""
    window = timedelta(days=14)
    for scan in (
        lambda db: mark_entering_window(db=db, aggregators=list(Aggregator), window=window),
        lambda db: mark_differing(db=db, aggregator=Aggregator.EGYM_WELLPASS, window=window),
    ):
        async with database.transaction() as db:
            await scan(db)
            assert await db.scalar(text("SHOW plan_cache_mode")) == "force_custom_plan"
        async with database.read() as db:
            assert await db.scalar(text("SHOW plan_cache_mode")) == "auto"
