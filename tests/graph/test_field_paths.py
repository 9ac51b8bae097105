"""`extensions.field` of a refusal is the input path the client sent (`input.maxParticipants`,
`user.firstName`, `input.repeat.weekdays`), for every input field that can be refused.

The walk is complete: every field of every input object an operation takes is either
refused here with its path, or listed as one no value can make us refuse (the GraphQL layer
already refuses what does not fit its type). A new input field fails the last test until
it is given a case.
"""

from collections.abc import Iterator
from typing import Any

import httpx
from graphql import (
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
)

from classbridge.graph.partner.schema import build_partner_schema
from classbridge.graph.staff.schema import build_staff_schema
from classbridge.models.tables import Aggregator
from classbridge.settings import Settings
from tests.aggregators.partner import connect, make_partner, member, pgql
from tests.graph.rows import diff, snapshot
from tests.studio import Studio, gql

LONG = "x" * 5001
PAST = "2001-06-01T18:00"
FUTURE_DAY = "2999-01-01"

# operation → (document, variables around the refused input)
CREATE_ACTIVITY = "mutation($input: CreateActivityInput!) { createActivity(input: $input) { id } }"
UPDATE_ACTIVITY = """
mutation($id: ID!, $input: UpdateActivityInput!) { updateActivity(id: $id, input: $input) { id } }
"""
UPDATE_RULES = """
mutation($id: ID!, $input: RegistrationRulesInput!) {
  updateRegistrationRules(activityId: $id, input: $input) { id }
}
"""
SCHEDULE = "mutation($input: ScheduleSessionsInput!) { scheduleSessions(input: $input) { id } }"
EDIT = (
    "mutation($id: ID!, $input: EditSessionInput!) { editSession(id: $id, input: $input) { id } }"
)
EDIT_SERIES = """
mutation($id: ID!, $from: Date!, $input: EditSeriesInput!) {
  editSeries(id: $id, fromDate: $from, input: $input) { sessions { id } }
}
"""
CREATE_CUSTOMER = "mutation($input: CustomerInput!) { createCustomer(input: $input) { id } }"
UPDATE_CUSTOMER = """
mutation($id: ID!, $input: CustomerInput!) { updateCustomer(id: $id, input: $input) { id } }
"""
CREATE_VENUE = "mutation($input: VenueInput!) { createVenue(input: $input) { id } }"
UPDATE_VENUE = """
mutation($id: ID!, $input: UpdateVenueInput!) { updateVenue(id: $id, input: $input) { notice } }
"""
SESSIONS = "query($filter: SessionFilter) { sessions(filter: $filter) { edges { cursor } } }"
BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) { bookCustomer(sessionId: $s, customerId: $c, productId: $p) {
  id } }
"""
ADD_ID = """
mutation($c: ID!, $x: String!) {
  addCustomerAggregatorId(customerId: $c, aggregator: CLASSPASS, externalId: $x) { id }
}
"""
CANCEL_SESSION = "mutation($id: ID!, $r: String) { cancelSession(id: $id, reason: $r) { id } }"
MERGE = "mutation($s: ID!, $m: ID!) { mergeCustomers(survivorId: $s, mergedId: $m) { id } }"
CUSTOMERS = "query($q: String) { customers(search: $q) { edges { cursor } } }"
CREATE_PRODUCT = "mutation($n: String!) { createProduct(name: $n, kind: DROP_IN) { id } }"
RESERVE = """
mutation($s: ID!, $u: UserInput!) { makeReservation(sessionId: $s, user: $u) { id } }
"""
PARTNER_SESSIONS = "query($d: Float) { sessions(timeRangeInDays: $d) { edges { cursor } } }"
LINK_VENUE = """
mutation($v: ID!, $x: String!) {
  setAggregatorVenueId(eversportsVenueId: $v, aggregatorVenueId: $x) { id }
}
"""

# Input fields no value of their GraphQL type makes us refuse (enums, booleans, dates that
# stand alone, defaults the schema fills in).
NEVER_REFUSED = {
    ("createActivity", "input.kind"),
    ("sessions", "filter.fromDate"),
    ("sessions", "filter.cancelled"),
}

CUSTOMER_DETAILS = {
    "email": "a@",
    "phone": "p" * 51,
    "birthday": FUTURE_DAY,
    "notes": LONG,
    "street": "s" * 201,
    "zip": "z" * 21,
    "city": "c" * 101,
    "country": "c" * 101,
}
RULES = {
    "maxParticipants": 0,
    "bookingOpensMinutesBeforeStart": -1,
    "freeCancellationMinutesBeforeStart": None,
    "allowAggregatorBookings": None,
    "aggregatorLimit": -1,
}
AUDIT_LOG = "query($filter: AuditLogFilter) { auditLog(filter: $filter) { __typename } }"
# Each end of the booking window is fine alone; together they are refused (a domain rule).
WINDOW = {"bookingOpensMinutesBeforeStart": 60, "bookingClosesMinutesBeforeStart": 120}


def staff_cases(studio: Studio, session_id: str) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(operation, expected field, document, variables)."""
    activity, customer = str(studio.activity_id), str(studio.customer_id)
    schedule = {
        "activityId": activity,
        "venueId": str(studio.venue_id),
        "start": "2099-06-01T18:00",
    }

    for field, value in {
        "name": " ",
        "description": LONG,
        "sport": " ",
        "defaultDurationMinutes": 0,
    }.items():
        yield (
            "createActivity",
            f"input.{field}",
            CREATE_ACTIVITY,
            {"input": {"name": "A", field: value}},
        )
    for field, value in RULES.items():
        rules = {"name": "A", "registrationRules": {field: value}}
        yield (
            "createActivity",
            f"input.registrationRules.{field}",
            CREATE_ACTIVITY,
            {"input": rules},
        )
        yield (
            "updateRegistrationRules",
            f"input.{field}",
            UPDATE_RULES,
            {
                "id": activity,
                "input": {field: value},
            },
        )
    closes = "bookingClosesMinutesBeforeStart"
    window = {"name": "A", "registrationRules": WINDOW}
    yield "createActivity", f"input.registrationRules.{closes}", CREATE_ACTIVITY, {"input": window}
    yield (
        "updateRegistrationRules",
        f"input.{closes}",
        UPDATE_RULES,
        {"id": activity, "input": WINDOW},
    )

    for field, value in {
        "name": None,
        "description": LONG,
        "sport": None,
        "kind": None,
        "defaultDurationMinutes": None,
    }.items():
        yield (
            "updateActivity",
            f"input.{field}",
            UPDATE_ACTIVITY,
            {
                "id": activity,
                "input": {field: value},
            },
        )

    for field, value in {
        "activityId": "not-an-id",
        "venueId": "",
        "start": PAST,
        "durationMinutes": 0,
        "room": "r" * 101,
        "teacher": "t" * 201,
        "capacityOverride": 0,
    }.items():
        yield "scheduleSessions", f"input.{field}", SCHEDULE, {"input": {**schedule, field: value}}
    for field, repeat in {
        "weekdays": {"weekdays": [8], "until": "2099-07-01"},
        "until": {"weekdays": [1], "until": "2099-05-01"},
    }.items():
        yield (
            "scheduleSessions",
            f"input.repeat.{field}",
            SCHEDULE,
            {"input": {**schedule, "repeat": repeat}},
        )

    for field, value in {
        "start": None,
        "durationMinutes": 0,
        "room": "r" * 101,
        "teacher": "t" * 201,
        "capacityOverride": 0,
        "aggregatorMode": None,
        "aggregatorAllowed": None,
        "aggregatorLimit": -1,
    }.items():
        yield "editSession", f"input.{field}", EDIT, {"id": session_id, "input": {field: value}}
    yield "editSession", "input.start", EDIT, {"id": session_id, "input": {"start": PAST}}
    # Inputs are checked before the series is looked up: any id will do.
    series = {"id": "00000000-0000-0000-0000-000000000001", "from": "2099-01-01"}
    for field, value in {
        "startTime": None,
        "durationMinutes": 0,
        "room": "r" * 101,
        "teacher": "t" * 201,
        "capacityOverride": 0,
        "aggregatorMode": None,
        "aggregatorAllowed": None,
        "aggregatorLimit": -1,
    }.items():
        yield "editSeries", f"input.{field}", EDIT_SERIES, {**series, "input": {field: value}}

    names = {"firstName": "Ada", "lastName": "Byron"}
    for field, value in {**CUSTOMER_DETAILS, "firstName": " ", "lastName": "l" * 101}.items():
        yield (
            "createCustomer",
            f"input.{field}",
            CREATE_CUSTOMER,
            {"input": {**names, field: value}},
        )
    yield "createCustomer", "input.lastName", CREATE_CUSTOMER, {"input": {"firstName": "Ada"}}
    for field, value in {**CUSTOMER_DETAILS, "firstName": None, "lastName": None}.items():
        yield (
            "updateCustomer",
            f"input.{field}",
            UPDATE_CUSTOMER,
            {
                "id": customer,
                "input": {field: value},
            },
        )

    venue = {"name": "V", "timezone": "Europe/Berlin"}
    venue_details = {
        "street": "s" * 201,
        "zip": "z" * 21,
        "city": "c" * 101,
        "country": "c" * 101,
        "phone": "p" * 51,
        "email": "a@",
        "website": "ftp://example.com",
    }
    for field, value in {"name": " ", "timezone": "Mars/Olympus", **venue_details}.items():
        yield "createVenue", f"input.{field}", CREATE_VENUE, {"input": {**venue, field: value}}
    for field, value in {"name": None, "timezone": None, **venue_details}.items():
        yield (
            "updateVenue",
            f"input.{field}",
            UPDATE_VENUE,
            {"id": str(studio.venue_id), "input": {field: value}},
        )
    for operation, doc, around in (
        ("createVenue", CREATE_VENUE, {"input": venue}),
        ("updateVenue", UPDATE_VENUE, {"id": str(studio.venue_id), "input": {}}),
    ):
        for field, point in {
            "latitude": {"latitude": -90.5, "longitude": 0},
            "longitude": {"latitude": 0, "longitude": 181},
        }.items():
            variables = {**around, "input": {**around["input"], "coordinates": point}}
            yield operation, f"input.coordinates.{field}", doc, variables

    for field, value in {"venueId": "x", "activityId": ""}.items():
        yield "sessions", f"filter.{field}", SESSIONS, {"filter": {field: value}}
    yield (
        "sessions",
        "filter.toDate",
        SESSIONS,
        {"filter": {"fromDate": "2099-02-02", "toDate": "2099-02-01"}},
    )

    for field, value in {
        "entityType": "t" * 65,
        "entityId": "i" * 65,
        "actorId": "nope",
        "from": "0001-01-01T00:00:00+05:00",
        "to": "9999-12-31T23:00:00-05:00",
    }.items():
        yield "auditLog", f"filter.{field}", AUDIT_LOG, {"filter": {field: value}}

    # Plain arguments: their own name.
    yield "bookCustomer", "productId", BOOK, {"s": session_id, "c": customer, "p": "nope"}
    yield "addCustomerAggregatorId", "externalId", ADD_ID, {"c": customer, "x": "x" * 201}
    yield "cancelSession", "reason", CANCEL_SESSION, {"id": session_id, "r": "r" * 501}
    yield "mergeCustomers", "mergedId", MERGE, {"s": customer, "m": customer}
    yield "customers", "search", CUSTOMERS, {"q": "q" * 201}
    yield "createProduct", "name", CREATE_PRODUCT, {"n": " "}


def partner_cases(
    studio: Studio, session_id: str
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for field, value in {
        "id": " ",
        "firstName": " ",
        "lastName": "l" * 101,
        "email": "a@",
        "phone": "p" * 51,
        "birthday": FUTURE_DAY,
    }.items():
        yield (
            "makeReservation",
            f"user.{field}",
            RESERVE,
            {
                "s": session_id,
                "u": member(1, **{field: value}),
            },
        )
    address = {"street": "S", "zip": "Z", "city": "C", "country": "DE"}
    for field, value in {
        "street": "s" * 201,
        "zip": "z" * 21,
        "city": "c" * 101,
        "country": "c" * 101,
    }.items():
        yield (
            "makeReservation",
            f"user.address.{field}",
            RESERVE,
            {
                "s": session_id,
                "u": member(1, address={**address, field: value}),
            },
        )
    yield "sessions", "timeRangeInDays", PARTNER_SESSIONS, {"d": 0}
    yield (
        "setAggregatorVenueId",
        "aggregatorVenueId",
        LINK_VENUE,
        {
            "v": str(studio.venue_id),
            "x": "x" * 201,
        },
    )


def _check(body: dict[str, Any], operation: str, field: str) -> None:
    assert body.get("data") is None, (operation, field, body)
    [error] = body["errors"]
    assert error["extensions"]["code"] in {"VALIDATION", "NOT_FOUND"}, (operation, field, error)
    assert error["extensions"]["field"] == field, (operation, field, error)


async def test_every_refusal_names_the_staff_input_path(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = str(await studio.session())
    before = await snapshot(studio.database)
    for operation, field, document, variables in staff_cases(studio, session_id):
        body = await gql(client, document, variables, token=studio.token)
        _check(body, operation, field)
    after = await snapshot(studio.database)
    assert after == before, diff(before, after)


async def test_every_refusal_names_the_partner_input_path(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    session_id = str(await studio.session())
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    before = await snapshot(studio.database)
    for operation, field, document, variables in partner_cases(studio, session_id):
        body = await pgql(client, partner, document, variables)
        _check(body, operation, field)
    assert await snapshot(studio.database) == before


def _input_paths(schema: GraphQLSchema) -> set[tuple[str, str]]:
    """(operation, path) of every leaf field of every input object an operation takes."""
    found: set[tuple[str, str]] = set()

    def walk(operation: str, path: str, type_: Any) -> None:
        while isinstance(type_, GraphQLNonNull | GraphQLList):
            type_ = type_.of_type
        if not isinstance(type_, GraphQLInputObjectType):
            if "." in path:
                found.add((operation, path))
            return
        for name, field in type_.fields.items():
            walk(operation, f"{path}.{name}", field.type)

    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        for operation, field in root.fields.items():
            for argument, arg in field.args.items():
                walk(operation, argument, arg.type)
    return found


def test_the_walk_covers_every_input_field() -> None:
    """Cases above (for input objects) + NEVER_REFUSED = every input field of both schemas."""
    fake = Studio(None, *(["00000000-0000-0000-0000-000000000000"] * 5), "t", "o")  # type: ignore[arg-type]
    covered = {
        (operation, field)
        for operation, field, _, _ in [
            *staff_cases(fake, "s"),
            *partner_cases(fake, "s"),
        ]
        if "." in field
    }
    staff = build_staff_schema(Settings())._schema
    partner = build_partner_schema()._schema
    expected = _input_paths(staff) | _input_paths(partner)
    assert covered | NEVER_REFUSED == expected, {
        "without a case": expected - covered - NEVER_REFUSED,
        "not an input field": (covered | NEVER_REFUSED) - expected,
    }
