"""Bad input is a 4xx or a typed error: never a 500, never a stack trace, nothing written."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from classbridge.graph.app import create_app
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.graph.rows import diff, snapshot
from tests.studio import Studio

SCHEDULE = """
mutation($input: ScheduleSessionsInput!) { scheduleSessions(input: $input) { __typename id } }
"""
EDIT_SESSION = """
mutation($id: ID!, $input: EditSessionInput!) { editSession(id: $id, input: $input) { id } }
"""
CREATE_ACTIVITY = """
mutation($input: CreateActivityInput!) { createActivity(input: $input) { __typename id } }
"""
UPDATE_RULES = """
mutation($id: ID!, $input: RegistrationRulesInput!) {
  updateRegistrationRules(activityId: $id, input: $input) { __typename id }
}
"""
CREATE_CUSTOMER = "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }"
UPDATE_CUSTOMER = """
mutation($id: ID!, $input: CustomerInput!) { updateCustomer(id: $id, input: $input) { id } }
"""
SESSIONS = "query($f: SessionFilter) { sessions(filter: $f) { edges { cursor } } }"
SESSION = "query($id: ID!) { session(id: $id) { id } }"
BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id }
}
"""
CANCEL_SESSION = "mutation($id: ID!, $r: String) { cancelSession(id: $id, reason: $r) { id } }"
ADD_AGGREGATOR_ID = """
mutation($id: ID!, $a: Aggregator!, $x: String!) {
  addCustomerAggregatorId(customerId: $id, aggregator: $a, externalId: $x) { id }
}
"""
CREATE_PRODUCT = 'mutation($k: ProductKind!) { createProduct(name: "P", kind: $k) { id } }'
CREATE_VENUE = "mutation($input: VenueInput!) { createVenue(input: $input) { id } }"
MERGE = "mutation($s: ID!, $m: ID!) { mergeCustomers(survivorId: $s, mergedId: $m) { id } }"
CUSTOMERS = "query($q: String) { customers(search: $q) { edges { cursor } } }"

GQL = "GRAPHQL_VALIDATION"
VAL = "VALIDATION"


def _cases(studio: Studio, session_id: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(name, document, variables, expected code)."""
    own = {"activityId": str(studio.activity_id), "venueId": str(studio.venue_id)}
    start = "2099-06-01T18:00"

    def schedule(**changes: Any) -> dict[str, Any]:
        return {"input": {**own, "start": start, **changes}}

    def rules(**values: Any) -> dict[str, Any]:
        return {"id": str(studio.activity_id), "input": values}

    def edit(**values: Any) -> dict[str, Any]:
        return {"id": session_id, "input": values}

    customer = str(studio.customer_id)
    return [
        ("malformed id", SESSION, {"id": "not-a-uuid"}, VAL),
        ("empty id", SESSION, {"id": ""}, VAL),
        ("numeric id", BOOK, {"s": "1", "c": customer, "p": str(studio.product_id)}, VAL),
        ("malformed id in input", SCHEDULE, schedule(venueId="x"), VAL),
        ("empty id in a filter", SESSIONS, {"f": {"venueId": ""}}, VAL),
        ("malformed id in a filter", SESSIONS, {"f": {"activityId": "12"}}, VAL),
        ("impossible date", SESSIONS, {"f": {"fromDate": "2026-02-30"}}, GQL),
        ("date of garbage", SESSIONS, {"f": {"toDate": "soon"}}, GQL),
        (
            "toDate before fromDate",
            SESSIONS,
            {"f": {"fromDate": "2099-02-02", "toDate": "2099-02-01"}},
            VAL,
        ),
        ("malformed local time", SCHEDULE, schedule(start="2099-13-01T18:00"), GQL),
        ("local time of garbage", SCHEDULE, schedule(start="at six"), GQL),
        ("local time with offset", SCHEDULE, schedule(start="2099-06-01T18:00+02:00"), GQL),
        ("local time not a string", SCHEDULE, schedule(start=1800), GQL),
        ("start in the past", SCHEDULE, schedule(start="2001-06-01T18:00"), VAL),
        ("zero duration", SCHEDULE, schedule(durationMinutes=0), VAL),
        ("end before start", SCHEDULE, schedule(durationMinutes=-30), VAL),
        ("day-long duration", SCHEDULE, schedule(durationMinutes=24 * 60 + 1), VAL),
        ("edit: end before start", EDIT_SESSION, edit(durationMinutes=-1), VAL),
        ("edit: null start", EDIT_SESSION, edit(start=None), VAL),
        ("negative capacity", SCHEDULE, schedule(capacityOverride=-1), VAL),
        ("zero capacity", SCHEDULE, schedule(capacityOverride=0), VAL),
        ("absurd capacity", SCHEDULE, schedule(capacityOverride=10_001), VAL),
        ("capacity beyond Int", SCHEDULE, schedule(capacityOverride=2**31), GQL),
        ("edit: negative capacity", EDIT_SESSION, edit(capacityOverride=-5), VAL),
        ("edit: negative aggregator limit", EDIT_SESSION, edit(aggregatorLimit=-1), VAL),
        ("rules: negative max", UPDATE_RULES, rules(maxParticipants=-5), VAL),
        ("rules: absurd max", UPDATE_RULES, rules(maxParticipants=1_000_000), VAL),
        (
            "rules: window closes first",
            UPDATE_RULES,
            rules(bookingOpensMinutesBeforeStart=60, bookingClosesMinutesBeforeStart=120),
            VAL,
        ),
        (
            "rules: null free cancellation",
            UPDATE_RULES,
            rules(freeCancellationMinutesBeforeStart=None),
            VAL,
        ),
        (
            "rules: negative free cancellation",
            UPDATE_RULES,
            rules(freeCancellationMinutesBeforeStart=-1),
            VAL,
        ),
        ("weekday 0", SCHEDULE, schedule(repeat={"weekdays": [0, 3], "until": "2099-07-01"}), VAL),
        ("weekday 8", SCHEDULE, schedule(repeat={"weekdays": [8], "until": "2099-07-01"}), VAL),
        (
            "until before start",
            SCHEDULE,
            schedule(repeat={"weekdays": [1], "until": "2099-05-01"}),
            VAL,
        ),
        (
            "series of years",
            SCHEDULE,
            schedule(repeat={"weekdays": [1], "until": "2105-01-01"}),
            VAL,
        ),
        ("unknown enum", CREATE_ACTIVITY, {"input": {"name": "X", "kind": "DANCE"}}, GQL),
        ("unknown aggregator", ADD_AGGREGATOR_ID, {"id": customer, "a": "GYMPASS", "x": "1"}, GQL),
        ("built-in product kind", CREATE_PRODUCT, {"k": "AGGREGATOR"}, "BUILT_IN_PRODUCT"),
        ("blank name", CREATE_ACTIVITY, {"input": {"name": "   "}}, VAL),
        ("long name", CREATE_ACTIVITY, {"input": {"name": "n" * 201}}, VAL),
        (
            "long description",
            CREATE_ACTIVITY,
            {"input": {"name": "X", "description": "d" * 5001}},
            VAL,
        ),
        ("huge string", CREATE_ACTIVITY, {"input": {"name": "n" * 90_000}}, VAL),
        (
            "long notes",
            CREATE_CUSTOMER,
            {"input": {"firstName": "A", "lastName": "B", "notes": "n" * 5001}},
            VAL,
        ),
        ("long room", SCHEDULE, schedule(room="r" * 101), VAL),
        ("long reason", CANCEL_SESSION, {"id": session_id, "r": "r" * 501}, VAL),
        (
            "long external id",
            ADD_AGGREGATOR_ID,
            {"id": customer, "a": "CLASSPASS", "x": "x" * 201},
            VAL,
        ),
        (
            "long street",
            CREATE_VENUE,
            {"input": {"name": "V", "timezone": "Europe/Berlin", "street": "s" * 201}},
            VAL,
        ),
        (
            "unknown time zone",
            CREATE_VENUE,
            {"input": {"name": "V", "timezone": "Mars/Olympus"}},
            VAL,
        ),
        *(
            (f"time zone {zone}", CREATE_VENUE, {"input": {"name": "V", "timezone": zone}}, VAL)
            for zone in ("localtime", "../zoneinfo/UTC", "posix/Europe/Berlin")
        ),
        ("long search", CUSTOMERS, {"q": "q" * 201}, VAL),
        (
            "not an email",
            CREATE_CUSTOMER,
            {"input": {"firstName": "A", "lastName": "B", "email": "a@"}},
            VAL,
        ),
        (
            "birthday ahead",
            CREATE_CUSTOMER,
            {"input": {"firstName": "A", "lastName": "B", "birthday": "2999-01-01"}},
            VAL,
        ),
        (
            "birthday of garbage",
            CREATE_CUSTOMER,
            {"input": {"firstName": "A", "lastName": "B", "birthday": "May"}},
            GQL,
        ),
        ("no last name", CREATE_CUSTOMER, {"input": {"firstName": "A"}}, VAL),
        ("null last name", UPDATE_CUSTOMER, {"id": customer, "input": {"lastName": None}}, VAL),
        ("merge into itself", MERGE, {"s": customer, "m": customer}, VAL),
        ("NUL in a name", CREATE_CUSTOMER, {"input": {"firstName": "A\x00", "lastName": "B"}}, VAL),
        ("NUL in a search", CUSTOMERS, {"q": "a\x00b"}, VAL),
        (
            "NUL in a literal",
            'mutation { createProduct(name: "P\\u0000", kind: DROP_IN) { id } }',
            {},
            VAL,
        ),
        ("NUL in an input field", SCHEDULE, schedule(room="ok", teacher="x\x00"), VAL),
        ("missing variable", BOOK, {"s": session_id}, GQL),
        ("unknown field", "{ sessions { nope } }", {}, GQL),
        ("syntax error", "{ sessions { ", {}, GQL),
    ]


async def test_bad_graphql_input_is_refused_with_a_code_and_writes_nothing(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    session_id = str(await studio.session())
    before = await snapshot(database)
    for name, document, variables, code in _cases(studio, session_id):
        response = await client.post(
            "/graphql", json={"query": document, "variables": variables}, headers=studio.headers()
        )
        assert response.status_code == 200, (name, response.text)
        assert "Traceback" not in response.text and 'File "' not in response.text, name
        body = response.json()
        assert body.get("data") is None, (name, body)
        assert {e["extensions"]["code"] for e in body["errors"]} == {code}, (name, body)
    after = await snapshot(database)
    assert after == before, diff(before, after)


RAW_BODIES = [
    ("malformed JSON", b'{"query": "{ me { id } }"', "application/json"),
    ("JSON array (batch)", b'[{"query": "{ me { id } }"}]', "application/json"),
    ("query not a string", b'{"query": 42}', "application/json"),
    (
        "variables not an object",
        b'{"query": "{ me { id } }", "variables": [1]}',
        "application/json",
    ),
    ("no query", b'{"variables": {}}', "application/json"),
    ("empty body", b"", "application/json"),
    ("not UTF-8", b'{"query": "\xff\xfe"}', "application/json"),
    ("wrong content type", b"{ me { id } }", "text/plain"),
]


@pytest.mark.parametrize(("name", "content", "content_type"), RAW_BODIES)
async def test_unreadable_request_bodies_get_a_4xx_with_a_code(
    client: httpx.AsyncClient,
    studio: Studio,
    database: Database,
    name: str,
    content: bytes,
    content_type: str,
) -> None:
    before = await snapshot(database)
    response = await client.post(
        "/graphql",
        content=content,
        headers={**studio.headers(), "Content-Type": content_type},
    )
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    assert "Traceback" not in response.text
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] in {"BAD_REQUEST", GQL}, body
    assert await snapshot(database) == before


@pytest.fixture
async def small_body_client(
    database_url: str, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    """An app that accepts request bodies up to CLASSBRIDGE_MAX_BODY_BYTES=2048."""
    app = create_app(Settings(database_url=database_url, max_body_bytes=2048), database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://classbridge.test") as c:
        yield c


async def test_bodies_over_the_limit_get_413_and_write_nothing(
    small_body_client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    before = await snapshot(database)
    notes = "n" * 3000
    document = {
        "query": CREATE_CUSTOMER,
        "variables": {"input": {"firstName": "Big", "lastName": "Body", "notes": notes}},
    }
    response = await small_body_client.post("/graphql", json=document, headers=studio.headers())
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        raw = httpx.Request("POST", "/", json=document).content
        for i in range(0, len(raw), 500):
            yield raw[i : i + 500]

    response = await small_body_client.post(
        "/graphql",
        content=chunks(),
        headers={**studio.headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert await snapshot(database) == before
    # Just under the limit is served.
    document["variables"]["input"]["notes"] = "n" * 1000  # type: ignore[index]
    response = await small_body_client.post("/graphql", json=document, headers=studio.headers())
    assert response.status_code == 200
    assert response.json()["data"]["createCustomer"]["id"]
