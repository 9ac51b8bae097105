"""Edge values are refused with VALIDATION, never crashed on: time zones the tz database
does not list, dates at the ends of the calendar, cursors we did not issue. And an
unexpected error in a subscription's stream is masked and logged as a query's is."""

import base64
import json
import logging
import uuid
from collections.abc import AsyncGenerator

import httpx
import pytest
import strawberry
from graphql import GraphQLError, parse

from classbridge.graph.errors import CodedSchema, ErrorCodes, is_unexpected, to_client_error
from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database
from tests.aggregators.partner import PARTNER_PATH, connect, make_partner
from tests.graph.rows import diff, snapshot
from tests.studio import Studio, error_codes, gql

CREATE_VENUE = "mutation($i: VenueInput!) { createVenue(input: $i) { id } }"
SCHEDULE = "mutation($i: ScheduleSessionsInput!) { scheduleSessions(input: $i) { id } }"
EDIT = "mutation($id: ID!, $i: EditSessionInput!) { editSession(id: $id, input: $i) { id } }"
STAFF_PAGES = """
query($a: String) { sessions(after: $a) { edges { cursor } } }
"""
CUSTOMER_PAGES = "query($a: String) { customers(after: $a) { edges { cursor } } }"
PARTNER_FEED = "query($u: DateTime) { sessions(updatedAfter: $u) { edges { cursor } } }"
PARTNER_PAGES = {
    "venues": "query($a: Cursor) { venues(after: $a) { edges { cursor } } }",
    "sessions": "query($a: Cursor) { sessions(after: $a) { edges { cursor } } }",
    "sports": "query($a: Cursor) { sports(after: $a) { edges { cursor } } }",
}


def cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


SOME_ID = str(uuid.uuid4())
CRAFTED_CURSORS = {
    "a naive time": cursor("2026-01-01T00:00:00", SOME_ID),
    "an offset that overflows at year 1": cursor("0001-01-01T00:00:00+23:59", SOME_ID),
    "an offset that overflows at year 9999": cursor("9999-12-31T23:59:59-23:59", SOME_ID),
    "a NUL inside": cursor("Meyer\x00", "Kim", SOME_ID),
    "a mode of another listing": cursor("changed", "2026-01-01T00:00:00+00:00", SOME_ID),
    "too many parts": cursor("2026-01-01T00:00:00+00:00", SOME_ID, "x"),
    "far too long": cursor(*(["x"] * 400)),
    "nested JSON": base64.urlsafe_b64encode(b"[" * 500 + b"]" * 500).decode(),
}

TIME_ZONES = ["Europe", "America", "a" * 300, "Europe/Berlin/", "../../etc/passwd", "posix/UTC"]


async def test_time_zones_must_be_listed_by_the_tz_database(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    before = await snapshot(database)
    for zone in TIME_ZONES:
        body = await gql(
            client, CREATE_VENUE, {"i": {"name": "V", "timezone": zone}}, token=studio.token
        )
        assert error_codes(body) == ["VALIDATION"], (zone, body)
        assert body["errors"][0]["extensions"]["field"] == "input.timezone"
    assert await snapshot(database) == before
    body = await gql(
        client,
        CREATE_VENUE,
        {"i": {"name": "V", "timezone": "America/Sao_Paulo"}},
        token=studio.token,
    )
    assert body["data"]["createVenue"]["id"]


@pytest.mark.parametrize(
    "start", ["0001-01-01T00:30", "0001-01-01T00:00:00", "9999-12-31T23:30", "1969-12-31T23:00"]
)
async def test_times_at_the_ends_of_the_calendar_are_refused(
    client: httpx.AsyncClient, studio: Studio, database: Database, start: str
) -> None:
    session_id = str(await studio.session())
    before = await snapshot(database)
    own = {"activityId": str(studio.activity_id), "venueId": str(studio.venue_id)}
    for document, variables in (
        (SCHEDULE, {"i": {**own, "start": start}}),
        (EDIT, {"id": session_id, "i": {"start": start}}),
    ):
        body = await gql(client, document, variables, token=studio.token)
        assert error_codes(body) == ["VALIDATION"], body
        assert "between 1970-01-01 and 2999-12-31" in body["errors"][0]["message"]
    after = await snapshot(database)
    assert after == before, diff(before, after)


@pytest.mark.parametrize("name", sorted(CRAFTED_CURSORS))
async def test_cursors_we_did_not_issue_are_refused(
    client: httpx.AsyncClient, studio: Studio, database: Database, name: str
) -> None:
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    await connect(studio)
    crafted = CRAFTED_CURSORS[name]
    # Customers are keyed by names, which are any text: that one is a fine position there.
    staff = (STAFF_PAGES,) if name == "a mode of another listing" else (STAFF_PAGES, CUSTOMER_PAGES)
    for document in staff:
        body = await gql(client, document, {"a": crafted}, token=studio.token)
        assert error_codes(body) == ["VALIDATION"], (name, body)
        assert body["errors"][0]["extensions"]["field"] == "after"
    for listing, document in PARTNER_PAGES.items():
        body = await gql(client, document, {"a": crafted}, token=partner.token, path=PARTNER_PATH)
        assert error_codes(body) == ["VALIDATION"], (name, listing, body)


@pytest.mark.parametrize(
    "moment",
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00"],
)
async def test_a_change_feed_from_the_ends_of_the_calendar_is_refused(
    client: httpx.AsyncClient, studio: Studio, database: Database, moment: str
) -> None:
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    await connect(studio)
    body = await gql(client, PARTNER_FEED, {"u": moment}, token=partner.token, path=PARTNER_PATH)
    assert error_codes(body) == ["VALIDATION"], body
    assert body["errors"][0]["extensions"]["field"] == "updatedAfter"
    body = await gql(
        client, PARTNER_FEED, {"u": "1970-01-01T00:00:00Z"}, token=partner.token, path=PARTNER_PATH
    )
    assert "errors" not in body, body


# Subscriptions: a stream that fails unexpectedly.


@strawberry.type
class _Query:
    ok: bool = True


@strawberry.type
class _Subscription:
    @strawberry.subscription
    async def ticks(self) -> AsyncGenerator[int, None]:
        yield 1
        raise RuntimeError("secret internals of the event bus")


async def test_a_subscription_stream_error_is_masked_and_logged_like_a_query_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="classbridge.graph")
    schema = CodedSchema(query=_Query, subscription=_Subscription, extensions=[ErrorCodes])
    results = [r async for r in await schema.subscribe("subscription { ticks }")]
    assert results[0].data == {"ticks": 1}
    (error,) = results[1].errors or []
    assert error.message == "Internal server error"
    assert error.extensions == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in str(error.formatted)
    (record,) = [r for r in caplog.records if r.name == "classbridge.graph"]
    assert record.exc_info and "secret internals" in str(record.exc_info[1])


def test_coercion_errors_stay_validation_errors() -> None:
    node = parse("query($d: Date) { x }").definitions[0]
    coercion = GraphQLError("Expected type 'Date'.", node, original_error=ValueError("x"))
    assert not is_unexpected(coercion)
    assert to_client_error(coercion).extensions == {"code": "GRAPHQL_VALIDATION"}
