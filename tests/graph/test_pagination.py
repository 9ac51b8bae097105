"""Relay pagination and filters of sessions and customers."""

import base64
import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from classbridge.models import activity as activity_model
from classbridge.models import company as company_model
from classbridge.models import session as session_model
from classbridge.models.base import utcnow
from classbridge.models.inputs.activity import ActivityCreate
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.session import SessionSchedule
from classbridge.models.localtime import utc_to_local
from tests.studio import Studio, error_codes, gql

SESSIONS = """
query($filter: SessionFilter, $first: Int, $after: String) {
  sessions(filter: $filter, first: $first, after: $after) {
    __typename
    edges { cursor node { id localStart isCancelled venue { id } activity { id } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
CUSTOMERS = """
query($search: String, $first: Int, $after: String) {
  customers(search: $search, first: $first, after: $after) {
    __typename
    edges { cursor node { id firstName lastName email } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""
CREATE_CUSTOMER = """
mutation($input: CustomerInput!) { createCustomer(input: $input) { __typename id } }
"""
CANCEL_SESSION = "mutation($id: ID!) { cancelSession(id: $id) { __typename isCancelled } }"


async def _schedule(
    studio: Studio, day: date, hour: int, minute: int = 0, *, venue_id=None, activity_id=None
) -> str:  # type: ignore[no-untyped-def]
    async with studio.database.transaction() as db:
        sessions = await session_model.schedule_sessions(
            db=db,
            company_id=studio.company_id,
            schedule=SessionSchedule(
                activity_id=activity_id or studio.activity_id,
                venue_id=venue_id or studio.venue_id,
                start=datetime(day.year, day.month, day.day, hour, minute),
            ),
        )
    return str(sessions[0].id)


def _today() -> date:
    return utc_to_local(utcnow(), ZoneInfo("Europe/Berlin")).date()


async def _all_pages(client: httpx.AsyncClient, studio: Studio, query: str, field: str, **vars):  # type: ignore[no-untyped-def]
    pages, after = [], None
    while True:
        body = await gql(client, query, {**vars, "after": after}, token=studio.token)
        page = body["data"][field]
        pages.append(page)
        if not page["pageInfo"]["hasNextPage"]:
            return pages
        after = page["pageInfo"]["endCursor"]


async def test_sessions_page_through_in_start_order(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    start = _today() + timedelta(days=3)
    ids = [await _schedule(studio, start + timedelta(days=i // 2), 9 + i % 2) for i in range(7)]
    pages = await _all_pages(client, studio, SESSIONS, "sessions", first=3)
    assert [len(p["edges"]) for p in pages] == [3, 3, 1]
    assert [e["node"]["id"] for p in pages for e in p["edges"]] == ids
    assert pages[0]["pageInfo"]["hasPreviousPage"] is False
    assert pages[1]["pageInfo"]["hasPreviousPage"] is True
    assert pages[0]["pageInfo"]["endCursor"] == pages[0]["edges"][-1]["cursor"]
    assert pages[1]["pageInfo"]["startCursor"] == pages[1]["edges"][0]["cursor"]
    assert pages[0]["__typename"] == "SessionConnection"


async def test_session_filters_venue_activity_local_days_and_cancelled(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    async with studio.database.transaction() as db:
        annex = await company_model.create_venue(
            db=db,
            company_id=studio.company_id,
            venue=VenueCreate(name="Annex", timezone="Europe/Berlin"),
        )
        hiit = await activity_model.create_activity(
            db=db, company_id=studio.company_id, activity=ActivityCreate(name="HIIT")
        )
    day = _today() + timedelta(days=5)
    early = await _schedule(studio, day, 0, 30)  # the previous day in UTC
    evening = await _schedule(studio, day, 23, 30)  # still this local day
    next_day = await _schedule(studio, day + timedelta(days=1), 9)
    in_annex = await _schedule(studio, day, 12, venue_id=annex.id)
    other_activity = await _schedule(studio, day, 14, activity_id=hiit.id)
    cancelled = await _schedule(studio, day, 16)
    assert (await gql(client, CANCEL_SESSION, {"id": cancelled}, token=studio.token))["data"]

    async def ids(**filter: object) -> list[str]:
        body = await gql(client, SESSIONS, {"filter": filter, "first": 100}, token=studio.token)
        return [e["node"]["id"] for e in body["data"]["sessions"]["edges"]]

    one_day = {"fromDate": day.isoformat(), "toDate": day.isoformat()}
    assert await ids(**one_day) == [early, in_annex, other_activity, cancelled, evening]
    assert await ids(**one_day, venueId=str(studio.venue_id)) == [
        early,
        other_activity,
        cancelled,
        evening,
    ]
    assert await ids(venueId=str(annex.id)) == [in_annex]
    assert await ids(activityId=str(hiit.id)) == [other_activity]
    assert await ids(cancelled=True) == [cancelled]
    assert cancelled not in await ids(cancelled=False)
    assert await ids(fromDate=(day + timedelta(days=1)).isoformat()) == [next_day]
    assert await ids(toDate=(day - timedelta(days=1)).isoformat()) == []
    # The ends of the calendar are no bounds, not errors.
    assert len(await ids(fromDate="0001-01-01", toDate="9999-12-31")) == 6


async def test_customers_page_through_by_name_and_search_ignores_case(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    people = [
        ("Zoe", "Adams", "zoe@example.com"),
        ("Max", "Mustermann", "max.m@Example.org"),
        ("Erika", "Mustermann", "erika@example.org"),
        ("Jan", "Zimmer", None),
        ("Ole", "Berg", "Ole.BERG@example.net"),
        ("Jürgen", "Müller", None),
    ]
    for first, last, email in people:
        body = await gql(
            client,
            CREATE_CUSTOMER,
            {"input": {"firstName": first, "lastName": last, "email": email}},
            token=studio.token,
        )
        assert body["data"]["createCustomer"]["__typename"] == "Customer"
    pages = await _all_pages(client, studio, CUSTOMERS, "customers", first=2)
    names = [(e["node"]["lastName"], e["node"]["firstName"]) for p in pages for e in p["edges"]]
    assert names == sorted(names)
    assert len(names) == 7  # and the studio's own Ada Lovelace
    assert [len(p["edges"]) for p in pages] == [2, 2, 2, 1]

    async def search(term: str) -> list[str]:
        body = await gql(client, CUSTOMERS, {"search": term}, token=studio.token)
        return [e["node"]["firstName"] for e in body["data"]["customers"]["edges"]]

    assert await search("MUSTER") == ["Erika", "Max"]
    assert await search("erika MUSTER") == ["Erika"]  # full name
    assert await search("ole.berg@") == ["Ole"]  # email, stored lower-case
    assert await search("EXAMPLE.ORG") == ["Erika", "Max"]
    assert await search("100%_") == []  # LIKE wildcards are literal
    assert await search("nobody") == []
    assert await search("MÜLLER") == ["Jürgen"]  # beyond ASCII too
    assert await search("jürgen") == ["Jürgen"]


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize("first", [0, -1, 101, 100_000])
async def test_page_size_outside_1_to_100_is_refused(
    client: httpx.AsyncClient, studio: Studio, first: int
) -> None:
    for query in (SESSIONS, CUSTOMERS):
        body = await gql(client, query, {"first": first}, token=studio.token)
        assert body["data"] is None
        assert error_codes(body) == ["VALIDATION"]
        assert body["errors"][0]["extensions"]["field"] == "first"


GARBAGE_CURSORS = [
    "garbage",
    "!!!!",
    _cursor({"a": 1}),
    _cursor(["x"]),
    _cursor([1, 2, 3]),
    _cursor(["2026-01-01T00:00:00", "9e5c220a-bb60-472a-9427-32c00659982f"]),  # no offset
    _cursor(["a", "b", "not-a-uuid"]),
    _cursor(["a", "b", "c", "d"]),
    "",
]


@pytest.mark.parametrize("cursor", GARBAGE_CURSORS)
async def test_a_garbage_cursor_is_refused(
    client: httpx.AsyncClient, studio: Studio, cursor: str
) -> None:
    for query in (SESSIONS, CUSTOMERS):
        body = await gql(client, query, {"after": cursor}, token=studio.token)
        assert body["data"] is None, (cursor, body)
        assert error_codes(body) == ["VALIDATION"]
        assert body["errors"][0]["extensions"]["field"] == "after"
