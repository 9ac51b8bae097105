"""Rolling series are extended by the `classbridge worker`'s cron (a real arq worker on
real Redis), and the new sessions go out with the push like any other."""

import uuid
from datetime import datetime, timedelta

from sqlmodel import select

from classbridge.models import session as session_model
from classbridge.models.base import utcnow
from classbridge.models.inputs.session import SessionSchedule, WeeklyRepeat
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import ClassSession, SessionSeries, Venue
from tests.jobs.conftest import Workers, connect
from tests.jobs.processes import Receiver, eventually
from tests.studio import Studio


async def test_the_worker_cron_extends_a_rolling_series_to_the_horizon(
    studio: Studio, receiver: Receiver, workers: Workers
) -> None:
    await connect(studio)
    async with studio.database.transaction() as db:
        venue = await db.get(Venue, studio.venue_id)
        assert venue is not None
        today = utc_to_local(utcnow(), venue.zone).date()
        first = today + timedelta(days=1)
        sessions = await session_model.schedule_sessions(
            db=db,
            company_id=studio.company_id,
            schedule=SessionSchedule(
                activity_id=studio.activity_id,
                venue_id=studio.venue_id,
                start=datetime(first.year, first.month, first.day, 7, 30),
                repeat=WeeklyRepeat(weekdays=[1, 2, 3, 4, 5, 6, 7]),  # daily, no end
            ),
            horizon_days=3,
        )
    series_id = sessions[0].series_id
    assert series_id is not None and len(sessions) == 3

    workers.start(series_horizon_days=10)  # the cron runs at start, then every hour

    async def extended() -> bool:
        async with studio.database.read() as db:
            series = await db.get(SessionSeries, series_id, populate_existing=True)
            assert series is not None
            return series.scheduled_through == today + timedelta(days=10)

    await eventually(extended, what=workers.logs())

    async def pushed() -> bool:
        state = await receiver.state()
        held = {uuid.UUID(sid) for sid in state["sessions"]}
        async with studio.database.read() as db:
            ids = set(
                await db.scalars(select(ClassSession.id).where(ClassSession.series_id == series_id))
            )
        return len(ids) == 10 and ids <= held

    await eventually(pushed, what=workers.logs())  # old and new sessions, pushed alike
