"""Session series (issue 13.4): sessions scheduled together form a SessionSeries; editSeries
and cancelSeries change or cancel them from a date on, each as if one by one; a series
without `until` runs for a rolling horizon extended by a periodic job."""

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from sqlmodel import func, select

from classbridge.jobs.series import extend_rolling_series, series_lifespan
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import ClassSession, OutboxItem, SessionSeries, Venue
from classbridge.settings import Settings
from tests.graph.rows import diff, snapshot
from tests.studio import Studio, error_codes, gql

SCHEDULE = """
mutation($input: ScheduleSessionsInput!) {
  scheduleSessions(input: $input) { id localStart series { id } }
}
"""
SERIES = """
query($id: ID!) {
  sessionSeries(id: $id) {
    id weekdays startTime durationMinutes room firstDate until scheduledThrough
    sessions { id localStart room version isCancelled cancellationReason
               bookings { status cancellationType } }
  }
}
"""
EDIT_SERIES = """
mutation($id: ID!, $from: Date!, $input: EditSeriesInput!) {
  editSeries(id: $id, fromDate: $from, input: $input) {
    series { room startTime }
    sessions { id localStart room }
  }
}
"""
CANCEL_SERIES = """
mutation($id: ID!, $from: Date!) {
  cancelSeries(id: $id, fromDate: $from, reason: "Summer break") {
    series { until }
    sessions { id isCancelled }
  }
}
"""
BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id }
}
"""


async def _ok(client: httpx.AsyncClient, studio: Studio, query: str, **variables: Any) -> Any:
    body = await gql(client, query, variables, token=studio.token)
    assert "errors" not in body, body
    return body["data"]


async def _today(studio: Studio) -> date:
    async with studio.database.read() as db:
        venue = await db.get(Venue, studio.venue_id)
        assert venue is not None
        return utc_to_local(utcnow(), venue.zone).date()


async def _weekly(
    client: httpx.AsyncClient, studio: Studio, *, weeks: int | None = 4, hour: int = 18
) -> tuple[str, list[dict[str, Any]]]:
    """A weekly series on the weekday of tomorrow (venue-local), starting tomorrow."""
    tomorrow = await _today(studio) + timedelta(days=1)
    repeat: dict[str, Any] = {"weekdays": [tomorrow.isoweekday()]}
    if weeks is not None:
        repeat["until"] = (tomorrow + timedelta(weeks=weeks - 1)).isoformat()
    data = await _ok(
        client,
        studio,
        SCHEDULE,
        input={
            "activityId": str(studio.activity_id),
            "venueId": str(studio.venue_id),
            "start": f"{tomorrow.isoformat()}T{hour:02d}:00",
            "room": "Studio 1",
            "repeat": repeat,
        },
    )
    sessions = data["scheduleSessions"]
    series_ids = {s["series"]["id"] for s in sessions}
    assert len(series_ids) == 1
    return series_ids.pop(), sessions


async def _series(client: httpx.AsyncClient, studio: Studio, series_id: str) -> dict[str, Any]:
    return (await _ok(client, studio, SERIES, id=series_id))["sessionSeries"]  # type: ignore[no-any-return]


async def _outbox_rows(database: Database, session_ids: list[str]) -> dict[str, int]:
    async with database.read() as db:
        rows = await db.execute(
            select(OutboxItem.session_id, func.count())
            .where(OutboxItem.session_id.in_([uuid.UUID(s) for s in session_ids]))  # type: ignore[union-attr]
            .group_by(OutboxItem.session_id)
        )
        return {str(sid): n for sid, n in rows}


async def test_sessions_scheduled_together_form_a_series(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    series_id, sessions = await _weekly(client, studio, weeks=4)
    series = await _series(client, studio, series_id)
    assert [s["id"] for s in series["sessions"]] == [s["id"] for s in sessions]
    assert len(sessions) == 4
    assert series["startTime"] == "18:00:00" and series["room"] == "Studio 1"
    assert (
        series["until"] == series["scheduledThrough"] == series["sessions"][-1]["localStart"][:10]
    )
    single = await _ok(
        client,
        studio,
        SCHEDULE,
        input={
            "activityId": str(studio.activity_id),
            "venueId": str(studio.venue_id),
            "start": f"{(await _today(studio) + timedelta(days=2)).isoformat()}T09:00",
        },
    )
    assert single["scheduleSessions"][0]["series"] is None  # one session is no series


async def test_edit_series_from_a_date_changes_each_later_session_as_edit_session_would(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    series_id, sessions = await _weekly(client, studio, weeks=4)
    ids = [s["id"] for s in sessions]
    booking = (
        await _ok(
            client, studio, BOOK, s=ids[3], c=str(studio.customer_id), p=str(studio.product_id)
        )
    )["bookCustomer"]["id"]
    before = await _series(client, studio, series_id)
    outbox_before = await _outbox_rows(studio.database, ids)
    from_date = sessions[2]["localStart"][:10]  # the third and fourth change

    data = await _ok(
        client,
        studio,
        EDIT_SERIES,
        id=series_id,
        **{"from": from_date},
        input={"startTime": "19:30", "room": "Studio 2"},
    )
    changed = data["editSeries"]
    assert [s["id"] for s in changed["sessions"]] == ids[2:]
    assert changed["series"] == {"room": "Studio 2", "startTime": "19:30:00"}

    after = await _series(client, studio, series_id)
    for old, new in zip(before["sessions"], after["sessions"], strict=True):
        if new["id"] in ids[2:]:
            assert new["localStart"][:10] == old["localStart"][:10]
            assert new["localStart"][11:16] == "19:30" and new["room"] == "Studio 2"
            assert new["version"] == old["version"] + 1  # one edit each, as one by one
        else:
            assert new == old
    outbox_after = await _outbox_rows(studio.database, ids)
    assert {s: outbox_after[s] - outbox_before[s] for s in ids} == {
        ids[0]: 0,
        ids[1]: 0,
        ids[2]: 1,
        ids[3]: 1,
    }
    assert after["sessions"][3]["bookings"] == [{"status": "BOOKED", "cancellationType": "NONE"}]
    assert booking


async def test_cancel_series_from_a_date_cancels_each_later_session_and_ends_the_series(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    series_id, sessions = await _weekly(client, studio, weeks=3)
    ids = [s["id"] for s in sessions]
    await _ok(client, studio, BOOK, s=ids[2], c=str(studio.customer_id), p=str(studio.product_id))
    from_date = date.fromisoformat(sessions[1]["localStart"][:10])
    data = await _ok(client, studio, CANCEL_SERIES, id=series_id, **{"from": from_date.isoformat()})
    assert data["cancelSeries"]["series"]["until"] == (from_date - timedelta(days=1)).isoformat()
    assert [s["id"] for s in data["cancelSeries"]["sessions"]] == ids[1:]
    after = await _series(client, studio, series_id)
    assert [(s["isCancelled"], s["cancellationReason"]) for s in after["sessions"]] == [
        (False, None),
        (True, "Summer break"),
        (True, "Summer break"),
    ]
    assert after["sessions"][2]["bookings"] == [
        {"status": "CANCELLED", "cancellationType": "SESSION"}
    ]
    # Again: nothing left to cancel, nothing changes.
    again = await _ok(
        client, studio, CANCEL_SERIES, id=series_id, **{"from": from_date.isoformat()}
    )
    assert again["cancelSeries"]["sessions"] == []


async def test_a_refused_series_edit_changes_nothing(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    series_id, _ = await _weekly(client, studio, weeks=2)
    before = await snapshot(studio.database)
    body = await gql(
        client,
        EDIT_SERIES,
        {"id": series_id, "from": "2000-01-01", "input": {"room": "X", "durationMinutes": 0}},
        token=studio.token,
    )
    assert error_codes(body) == ["VALIDATION"]
    assert body["errors"][0]["extensions"]["field"] == "input.durationMinutes"
    body = await gql(
        client, CANCEL_SERIES, {"id": str(uuid.uuid4()), "from": "2000-01-01"}, token=studio.token
    )
    assert error_codes(body) == ["NOT_FOUND"]
    body = await gql(
        client, CANCEL_SERIES, {"id": series_id, "from": "0001-01-01"}, token=studio.token
    )
    assert error_codes(body) == ["VALIDATION"]
    assert body["errors"][0]["extensions"]["field"] == "fromDate"
    after = await snapshot(studio.database)
    assert after == before, diff(before, after)


async def _session_count(database: Database, series_id: str) -> int:
    async with database.read() as db:
        return int(
            await db.scalar(
                select(func.count())
                .select_from(ClassSession)
                .where(ClassSession.series_id == uuid.UUID(series_id))
            )
            or 0
        )


async def test_a_series_without_until_runs_for_the_rolling_horizon_and_is_extended(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    series_id, sessions = await _weekly(client, studio, weeks=None)
    series = await _series(client, studio, series_id)
    today = await _today(studio)
    assert series["until"] is None
    assert series["scheduledThrough"] == (today + timedelta(days=90)).isoformat()
    assert len(sessions) in (12, 13)  # one a week for 90 days from tomorrow
    assert sessions[-1]["localStart"][:10] <= series["scheduledThrough"]

    # Later (a longer horizon stands for days passing): the job schedules the new weeks.
    added = await extend_rolling_series(studio.database, horizon_days=120)
    assert added in (4, 5)
    assert await _session_count(studio.database, series_id) == len(sessions) + added
    assert await extend_rolling_series(studio.database, horizon_days=120) == 0  # idempotent
    extended = await _series(client, studio, series_id)
    assert extended["scheduledThrough"] == (today + timedelta(days=120)).isoformat()
    assert {s["localStart"][11:16] for s in extended["sessions"]} == {"18:00"}
    assert {s["room"] for s in extended["sessions"]} == {"Studio 1"}

    # A cancelled series is not extended any more.
    cancel_from = extended["sessions"][-3]["localStart"][:10]
    await _ok(client, studio, CANCEL_SERIES, id=series_id, **{"from": cancel_from})
    assert await extend_rolling_series(studio.database, horizon_days=200) == 0


async def test_the_embedded_runner_extends_rolling_series(
    client: httpx.AsyncClient, studio: Studio, database_url: str
) -> None:
    series_id, sessions = await _weekly(client, studio, weeks=None)
    settings = Settings(
        database_url=database_url,
        redis_url=None,  # the embedded default: the API process extends series itself
        series_horizon_days=150,
        series_extend_interval_seconds=1,
    )
    async with series_lifespan(studio.database, settings):
        deadline = asyncio.get_running_loop().time() + 30
        while await _session_count(studio.database, series_id) == len(sessions):
            assert asyncio.get_running_loop().time() < deadline, "not extended in time"
            await asyncio.sleep(0.05)
    async with studio.database.read() as db:
        row = await db.get(SessionSeries, uuid.UUID(series_id))
        assert row is not None
    assert row.scheduled_through == await _today(studio) + timedelta(days=150)
