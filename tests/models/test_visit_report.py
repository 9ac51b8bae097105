"""The aggregator visit report (GraphQL and CSV): counts from the booking history, per
aggregator, venue-local month and venue with drill-downs; later session edits do not change
them; corrections do, as new history rows; owners only; constant SQL statements."""

import csv
import io
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from classbridge.models import booking as booking_model
from classbridge.models import reservation as reservation_model
from classbridge.models import session_cancellation
from classbridge.models import staff as staff_model
from classbridge.models.base import utcnow
from classbridge.models.inputs.customer import Member
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import (
    Aggregator,
    Booking,
    BookingHistory,
    BookingSource,
    ClassSession,
    StaffRole,
    Venue,
)
from tests.aggregators.partner import connect
from tests.conftest import QueryCounter
from tests.studio import Studio, error_codes, gql

REPORT = """
query($from: Date!, $to: Date!, $a: Aggregator, $v: ID) {
  aggregatorVisitReport(from: $from, to: $to, aggregator: $a, venueId: $v) {
    rows { aggregator month venueId venueName checkIns lateCancellations noShows
           earlyCancellations sessionCancellations open }
    byActivity { month activityName checkIns open }
    byMember { month memberId checkIns lateCancellations noShows earlyCancellations
               sessionCancellations open }
  }
}
"""
EDIT = """
mutation($id: ID!, $start: LocalDateTime!) { editSession(id: $id, input: {start: $start}) { id } }
"""
COUNTS = (
    "checkIns",
    "lateCancellations",
    "noShows",
    "earlyCancellations",
    "sessionCancellations",
    "open",
)


async def _reserve(studio: Studio, session_id: uuid.UUID, n: int) -> uuid.UUID:
    async with studio.database.transaction() as db:
        booking = await reservation_model.make_reservation(
            db=db,
            aggregator=Aggregator.EGYM_WELLPASS,
            session_id=session_id,
            member=Member(id=f"m-{n}", first_name="Mia", last_name=f"Member{n}"),
        )
    return booking.id


async def _local_date(studio: Studio, session_id: uuid.UUID) -> date:
    async with studio.database.read() as db:
        session = await db.get(ClassSession, session_id)
        venue = await db.get(Venue, studio.venue_id)
        assert session is not None and venue is not None
        return utc_to_local(session.starts_at, venue.zone).date()


def _period() -> dict[str, str]:
    today = utcnow().date()
    return {"from": str(today - timedelta(days=40)), "to": str(today + timedelta(days=40))}


async def _report(client: httpx.AsyncClient, studio: Studio, **extra: Any) -> dict[str, Any]:
    body = await gql(client, REPORT, {**_period(), **extra}, token=studio.token)
    assert not body.get("errors"), body
    return body["data"]["aggregatorVisitReport"]  # type: ignore[no-any-return]


def _by_month(rows: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    return {r["month"]: tuple(r[c] for c in COUNTS) for r in rows}


async def _scenario(studio: Studio) -> dict[str, Any]:
    """Members' bookings in every outcome; returns what the report must say."""
    await connect(studio, limit=None)
    played = await studio.session(days_ahead=2)
    bookings = [await _reserve(studio, played, n) for n in range(1, 6)]
    async with studio.database.transaction() as db:  # a studio booking: not counted
        await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=played,
            customer_id=studio.customer_id,
            product_id=studio.product_id,
            source=BookingSource.STAFF,
        )
    booked_on = await _local_date(studio, played)
    async with studio.database.transaction() as db:  # the class has started
        await db.execute(
            update(ClassSession)
            .where(ClassSession.id == played)
            .values(
                starts_at=utcnow() - timedelta(minutes=5), ends_at=utcnow() + timedelta(hours=1)
            )
        )
    played_on = await _local_date(studio, played)
    company = studio.company_id
    async with studio.database.transaction() as db:
        await booking_model.check_in(db=db, company_id=company, booking_id=bookings[0])
        await reservation_model.cancel_reservation(
            db=db, aggregator=Aggregator.EGYM_WELLPASS, reservation_id=bookings[1], late=True
        )
        await reservation_model.cancel_reservation(
            db=db, aggregator=Aggregator.EGYM_WELLPASS, reservation_id=bookings[2], late=False
        )
        await booking_model.mark_no_show(db=db, company_id=company, booking_id=bookings[4])
    # bookings[3] stays booked (open), counted on the day it was booked for.

    cancelled = await studio.session(days_ahead=3)
    await _reserve(studio, cancelled, 6)
    async with studio.database.transaction() as db:
        await session_cancellation.cancel_session(
            db=db, company_id=company, session_id=cancelled, reason="teacher ill"
        )
    cancelled_on = await _local_date(studio, cancelled)

    expected: dict[str, list[int]] = {}

    def add(day: date, index: int) -> None:
        expected.setdefault(f"{day:%Y-%m}", [0] * len(COUNTS))[index] += 1

    add(played_on, 0)  # check-in
    add(played_on, 1)  # late
    add(played_on, 3)  # early
    add(played_on, 2)  # no-show
    add(booked_on, 5)  # open
    add(cancelled_on, 4)  # session cancellation
    return {
        "expected": {m: tuple(c) for m, c in expected.items()},
        "bookings": bookings,
        "played_on": played_on,
    }


async def test_counts_per_month_and_venue_with_drill_downs(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    scenario = await _scenario(studio)
    report = await _report(client, studio)
    assert _by_month(report["rows"]) == scenario["expected"]
    assert {(r["aggregator"], r["venueId"], r["venueName"]) for r in report["rows"]} == {
        ("EGYM_WELLPASS", str(studio.venue_id), "Yoga Loft Mitte")
    }
    assert {r["activityName"] for r in report["byActivity"]} == {"Vinyasa"}
    members = {r["memberId"]: tuple(r[c] for c in COUNTS) for r in report["byMember"]}
    assert members == {
        "m-1": (1, 0, 0, 0, 0, 0),
        "m-2": (0, 1, 0, 0, 0, 0),
        "m-3": (0, 0, 0, 1, 0, 0),
        "m-4": (0, 0, 0, 0, 0, 1),
        "m-5": (0, 0, 1, 0, 0, 0),
        "m-6": (0, 0, 0, 0, 1, 0),
    }
    other = await _report(client, studio, a="URBAN_SPORTS_CLUB")
    assert other == {"rows": [], "byActivity": [], "byMember": []}
    here = await _report(client, studio, v=str(studio.venue_id))
    assert _by_month(here["rows"]) == scenario["expected"]


async def test_a_later_session_edit_changes_nothing_and_a_correction_shows_as_a_new_row(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    scenario = await _scenario(studio)
    later = await studio.session(days_ahead=5)
    await _reserve(studio, later, 7)
    booked_for = await _local_date(studio, later)
    before = _by_month((await _report(client, studio))["rows"])

    # Move the session by five weeks: its open booking still counts where it was booked.
    moved = booked_for + timedelta(days=35)
    body = await gql(
        client, EDIT, {"id": str(later), "start": f"{moved}T18:00"}, token=studio.token
    )
    assert not body.get("errors"), body
    assert _by_month((await _report(client, studio))["rows"]) == before

    # A correction: the check-in is taken back and marked as a no-show.
    async with studio.database.transaction() as db:
        company, checked_in = studio.company_id, scenario["bookings"][0]
        await booking_model.undo_check_in(db=db, company_id=company, booking_id=checked_in)
        await booking_model.mark_no_show(db=db, company_id=company, booking_id=checked_in)
    async with studio.database.read() as db:
        rows = list(
            await db.scalars(
                select(BookingHistory.status)
                .where(BookingHistory.booking_id == checked_in)
                .order_by(BookingHistory.id)
            )
        )
    assert [r.value for r in rows] == ["BOOKED", "CHECKED_IN", "BOOKED", "NO_SHOW"]
    after = _by_month((await _report(client, studio))["rows"])
    month = f"{scenario['played_on']:%Y-%m}"
    assert after[month][0] == before[month][0] - 1  # one check-in fewer
    assert after[month][2] == before[month][2] + 1  # one no-show more


async def test_the_csv_download_streams_the_same_rows_with_coded_refusals(
    client: httpx.AsyncClient, studio: Studio, other_studio: Studio
) -> None:
    scenario = await _scenario(studio)
    period = _period()
    url = "/reports/aggregator-visits.csv"
    response = await client.get(url, params={**period, "by": "MEMBER"}, headers=studio.headers())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.text)))
    assert {r["member_id"]: r["no_shows"] for r in lines}["m-5"] == "1"
    venue_level = await client.get(url, params=period, headers=studio.headers())
    by_month = {
        r["month"]: tuple(
            int(r[c])
            for c in (
                "check_ins",
                "late_cancellations",
                "no_shows",
                "early_cancellations",
                "session_cancellations",
                "open",
            )
        )
        for r in csv.DictReader(io.StringIO(venue_level.text))
    }
    assert by_month == scenario["expected"]

    async def refused(params: dict[str, str], headers: dict[str, str]) -> tuple[int, str, Any]:
        r = await client.get(url, params=params, headers=headers)
        error = r.json()["errors"][0]
        return r.status_code, error["extensions"]["code"], error["extensions"].get("field")

    owner = studio.headers()
    assert await refused(period, {}) == (401, "UNAUTHENTICATED", None)
    assert await refused(period, {"Authorization": "Bearer nope"}) == (401, "UNAUTHENTICATED", None)
    assert await refused({"to": period["to"]}, owner) == (400, "VALIDATION", "from")
    assert await refused({**period, "to": "2020-13-01"}, owner) == (400, "VALIDATION", "to")
    assert await refused({**period, "to": "2000-01-01"}, owner) == (400, "VALIDATION", "to")
    assert await refused({**period, "aggregator": "GYMPASS"}, owner) == (
        400,
        "VALIDATION",
        "aggregator",
    )
    assert await refused({**period, "venueId": "x"}, owner) == (400, "VALIDATION", "venueId")
    foreign = {**period, "venueId": str(other_studio.venue_id)}
    assert await refused(foreign, owner) == (404, "NOT_FOUND", None)
    assert await refused({**period, "sort": "x"}, owner) == (400, "VALIDATION", "sort")

    # Owners only, in the CSV and the query alike.
    async with studio.database.transaction() as db:
        desk = await staff_model.create_staff_user(
            db=db,
            company_id=studio.company_id,
            user=StaffUserCreate(
                email=f"desk-{uuid.uuid4().hex[:6]}@example.com",
                name="Desk",
                password="correct horse battery",
                role=StaffRole.STAFF,
            ),
        )
        desk_token = await staff_model.issue_token(db=db, user=desk, ttl_days=1)
    desk_headers = {"Authorization": f"Bearer {desk_token}"}
    assert await refused(period, desk_headers) == (403, "FORBIDDEN", None)
    body = await gql(client, REPORT, period, token=desk_token)
    assert error_codes(body) == ["FORBIDDEN"]


async def test_the_report_costs_the_same_statements_for_a_few_bookings_and_for_many(
    client: httpx.AsyncClient, studio: Studio, query_counter: QueryCounter
) -> None:
    await connect(studio, limit=None)
    first = await studio.session(days_ahead=2)
    await _reserve(studio, first, 1)

    async def statements() -> int:
        query_counter.count = 0
        await _report(client, studio)
        return query_counter.count

    few = await statements()
    for days in (3, 4, 9, 33):
        session = await studio.session(days_ahead=days)
        for n in range(5):
            await _reserve(studio, session, days * 10 + n)
    async with studio.database.read() as db:
        counted = len(list(await db.scalars(select(Booking.id))))
    assert counted == 21
    assert await statements() == few


ROWS_ONLY = """
query($from: Date!, $to: Date!) {
  aggregatorVisitReport(from: $from, to: $to) { rows { month checkIns } }
}
"""
THROUGH_FRAGMENTS = """
query($from: Date!, $to: Date!) { aggregatorVisitReport(from: $from, to: $to) { ...lists } }
fragment lists on AggregatorVisitReport {
  rows { month checkIns }
  ... on AggregatorVisitReport { byActivity { activityName checkIns } }
  byMember { memberId checkIns }
}
"""


async def test_every_list_of_the_report_is_read_by_one_statement(
    client: httpx.AsyncClient, studio: Studio, query_counter: QueryCounter
) -> None:
    """The lists a request selects (also through fragments) are read together: asking for
    both drill-downs costs no statement more than the venue rows alone."""
    await connect(studio, limit=None)
    for days in (2, 3):
        session = await studio.session(days_ahead=days)
        for n in range(3):
            await _reserve(studio, session, days * 10 + n)

    async def run(document: str) -> tuple[int, dict[str, Any]]:
        query_counter.count = 0
        body = await gql(client, document, _period(), token=studio.token)
        assert not body.get("errors"), body
        return query_counter.count, body["data"]["aggregatorVisitReport"]

    rows_only, _ = await run(ROWS_ONLY)
    everything, report = await run(REPORT)
    fragments, through_fragments = await run(THROUGH_FRAGMENTS)
    assert rows_only == everything == fragments
    assert sorted(r["memberId"] for r in through_fragments["byMember"]) == sorted(
        r["memberId"] for r in report["byMember"]
    )
    assert len(report["byMember"]) == 6
    assert [r["activityName"] for r in through_fragments["byActivity"]] == [
        r["activityName"] for r in report["byActivity"]
    ]
