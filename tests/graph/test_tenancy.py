"""Tenancy: with a second company's token, the first company's IDs behave exactly like
unknown IDs in every query and mutation that takes one, and nothing changes."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from graphql import GraphQLInputObjectType, GraphQLNamedType, get_named_type

from classbridge.graph.staff.schema import build_staff_schema
from classbridge.models import booking as booking_model
from classbridge.models import customer as customer_model
from classbridge.models import session as session_model
from classbridge.models import staff as staff_model
from classbridge.models.base import utcnow
from classbridge.models.inputs.session import SessionSchedule, WeeklyRepeat
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.localtime import utc_to_local
from classbridge.models.tables import Aggregator, BookingSource, StaffRole, Venue
from tests.graph.rows import diff, snapshot
from tests.studio import Studio, gql


@dataclass
class Ids:
    venue: str
    activity: str
    session: str
    customer: str
    customer2: str
    product: str
    booking: str
    series: str
    staff: str


async def _ids(studio: Studio) -> Ids:
    session_id = await studio.session()
    second = await studio.customer("Grace", "Hopper")
    async with studio.database.transaction() as db:
        booking = await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=session_id,
            customer_id=studio.customer_id,
            product_id=studio.product_id,
            source=BookingSource.STAFF,
        )
        await customer_model.add_aggregator_id(
            db=db,
            company_id=studio.company_id,
            customer_id=studio.customer_id,
            aggregator=Aggregator.EGYM_WELLPASS,
            external_id="EGYM-1",
        )
        desk = await staff_model.create_staff_user(
            db=db,
            company_id=studio.company_id,
            user=StaffUserCreate(
                email=f"desk-{uuid.uuid4().hex[:8]}@example.com",
                name="Desk",
                password="correct horse battery",
                role=StaffRole.STAFF,
            ),
        )
    series = await _series(studio)
    return Ids(
        series=series,
        venue=str(studio.venue_id),
        activity=str(studio.activity_id),
        session=str(session_id),
        customer=str(studio.customer_id),
        customer2=str(second),
        product=str(studio.product_id),
        booking=str(booking.id),
        staff=str(desk.id),
    )


async def _series(studio: Studio) -> str:
    """A weekly series of two sessions, from a week ahead."""
    async with studio.database.transaction() as db:
        venue = await db.get(Venue, studio.venue_id)
        assert venue is not None
        first = utc_to_local(utcnow(), venue.zone).date() + timedelta(days=7)
        sessions = await session_model.schedule_sessions(
            db=db,
            company_id=studio.company_id,
            schedule=SessionSchedule(
                activity_id=studio.activity_id,
                venue_id=studio.venue_id,
                start=datetime(first.year, first.month, first.day, 10),
                repeat=WeeklyRepeat(weekdays=[first.isoweekday()], until=first + timedelta(days=7)),
            ),
        )
    return str(sessions[0].series_id)


@dataclass
class Case:
    """One operation: its document, variables ("$kind" = the caller's own ID of that kind),
    and each ID it takes: schema path -> (variable path, kind of ID)."""

    doc: str
    variables: dict[str, Any]
    slots: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)


VENUE = "query($id: ID!) { venue(id: $id) { __typename id name } }"
ACTIVITY = "query($id: ID!) { activity(id: $id) { __typename id name } }"
SESSION = "query($id: ID!) { session(id: $id) { __typename id } }"
CUSTOMER = "query($id: ID!) { customer(id: $id) { __typename id lastName } }"
BOOKING = "query($id: ID!) { booking(id: $id) { __typename id } }"
SIGN_IN_LIST = "query($id: ID!) { signInList(sessionId: $id) { __typename } }"
SESSION_SYNC = "query($id: ID!) { sessionSync(sessionId: $id) { __typename } }"
SESSIONS = """
query($f: SessionFilter) { sessions(filter: $f) { __typename edges { node { id } } } }
"""
UPDATE_VENUE = """
mutation($id: ID!) { updateVenue(id: $id, input: {city: "Elsewhere"}) { __typename } }
"""
UPDATE_ACTIVITY = """
mutation($id: ID!) { updateActivity(id: $id, input: {name: "Taken"}) { __typename id } }
"""
ARCHIVE_ACTIVITY = "mutation($id: ID!) { archiveActivity(id: $id) { __typename id } }"
UPDATE_RULES = """
mutation($id: ID!) {
  updateRegistrationRules(activityId: $id, input: {maxParticipants: 1}) { __typename id }
}
"""
SCHEDULE = """
mutation($input: ScheduleSessionsInput!) { scheduleSessions(input: $input) { __typename id } }
"""
EDIT_SESSION = """
mutation($id: ID!) { editSession(id: $id, input: {capacityOverride: 1}) { __typename id } }
"""
CANCEL_SESSION = "mutation($id: ID!) { cancelSession(id: $id) { __typename id } }"
SESSION_SERIES = "query($id: ID!) { sessionSeries(id: $id) { __typename id } }"
EDIT_SERIES = """
mutation($id: ID!) {
  editSeries(id: $id, fromDate: "2000-01-01", input: {room: "X"}) { __typename }
}
"""
CANCEL_SERIES = """
mutation($id: ID!) { cancelSeries(id: $id, fromDate: "2000-01-01") { __typename } }
"""
UPDATE_CUSTOMER = """
mutation($id: ID!) { updateCustomer(id: $id, input: {lastName: "X"}) { __typename id } }
"""
MERGE = """
mutation($s: ID!, $m: ID!) { mergeCustomers(survivorId: $s, mergedId: $m) { __typename id } }
"""
ADD_AGGREGATOR_ID = """
mutation($id: ID!) {
  addCustomerAggregatorId(customerId: $id, aggregator: EGYM_WELLPASS, externalId: "NEW-1") {
    __typename id
  }
}
"""
REMOVE_AGGREGATOR_ID = """
mutation($id: ID!) {
  removeCustomerAggregatorId(customerId: $id, aggregator: EGYM_WELLPASS, externalId: "EGYM-1") {
    __typename id
  }
}
"""
EXPORT_CUSTOMER = "query($id: ID!) { exportCustomer(id: $id) }"
ERASE_CUSTOMER = "mutation($id: ID!) { eraseCustomer(id: $id) { __typename id } }"
ARCHIVE_PRODUCT = "mutation($id: ID!) { archiveProduct(id: $id) { __typename id } }"
BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { __typename id }
}
"""
CANCEL_BOOKING = "mutation($id: ID!) { cancelBooking(id: $id) { __typename id } }"
CHECK_IN = "mutation($id: ID!) { checkIn(bookingId: $id) { __typename id } }"
UNDO_CHECK_IN = "mutation($id: ID!) { undoCheckIn(bookingId: $id) { __typename id } }"
MARK_NO_SHOW = "mutation($id: ID!) { markNoShow(bookingId: $id) { __typename id } }"
AUDIT_LOG = """
query($f: AuditLogFilter) { auditLog(filter: $f) { __typename edges { node { id } } } }
"""
FILTERS = {SESSIONS: "sessions", AUDIT_LOG: "auditLog"}  # a foreign ID finds nothing
UPDATE_STAFF_ROLE = """
mutation($id: ID!) { updateStaffRole(id: $id, role: OWNER) { __typename id } }
"""
DEACTIVATE_STAFF = "mutation($id: ID!) { deactivateStaff(id: $id) { __typename id } }"


def _one(doc: str, path: str, kind: str) -> Case:
    return Case(doc, {"id": f"${kind}"}, {path: (("id",), kind)})


CASES = [
    _one(VENUE, "venue.id", "venue"),
    _one(ACTIVITY, "activity.id", "activity"),
    _one(SESSION, "session.id", "session"),
    _one(CUSTOMER, "customer.id", "customer"),
    _one(BOOKING, "booking.id", "booking"),
    _one(SIGN_IN_LIST, "signInList.sessionId", "session"),
    _one(SESSION_SYNC, "sessionSync.sessionId", "session"),
    Case(
        SESSIONS,
        {"f": {"venueId": "$venue", "activityId": "$activity"}},
        {
            "sessions.filter.venueId": (("f", "venueId"), "venue"),
            "sessions.filter.activityId": (("f", "activityId"), "activity"),
        },
    ),
    _one(UPDATE_VENUE, "updateVenue.id", "venue"),
    _one(UPDATE_ACTIVITY, "updateActivity.id", "activity"),
    _one(ARCHIVE_ACTIVITY, "archiveActivity.id", "activity"),
    _one(UPDATE_RULES, "updateRegistrationRules.activityId", "activity"),
    Case(
        SCHEDULE,
        {"input": {"activityId": "$activity", "venueId": "$venue", "start": "2099-01-05T18:00"}},
        {
            "scheduleSessions.input.activityId": (("input", "activityId"), "activity"),
            "scheduleSessions.input.venueId": (("input", "venueId"), "venue"),
        },
    ),
    _one(EDIT_SESSION, "editSession.id", "session"),
    _one(CANCEL_SESSION, "cancelSession.id", "session"),
    _one(SESSION_SERIES, "sessionSeries.id", "series"),
    _one(EDIT_SERIES, "editSeries.id", "series"),
    _one(CANCEL_SERIES, "cancelSeries.id", "series"),
    _one(UPDATE_CUSTOMER, "updateCustomer.id", "customer"),
    Case(
        MERGE,
        {"s": "$customer", "m": "$customer2"},
        {
            "mergeCustomers.survivorId": (("s",), "customer"),
            "mergeCustomers.mergedId": (("m",), "customer2"),
        },
    ),
    _one(ADD_AGGREGATOR_ID, "addCustomerAggregatorId.customerId", "customer"),
    _one(REMOVE_AGGREGATOR_ID, "removeCustomerAggregatorId.customerId", "customer"),
    _one(EXPORT_CUSTOMER, "exportCustomer.id", "customer"),
    _one(ERASE_CUSTOMER, "eraseCustomer.id", "customer"),
    _one(ARCHIVE_PRODUCT, "archiveProduct.id", "product"),
    Case(
        BOOK,
        {"s": "$session", "c": "$customer2", "p": "$product"},
        {
            "bookCustomer.sessionId": (("s",), "session"),
            "bookCustomer.customerId": (("c",), "customer2"),
            "bookCustomer.productId": (("p",), "product"),
        },
    ),
    _one(CANCEL_BOOKING, "cancelBooking.id", "booking"),
    _one(CHECK_IN, "checkIn.bookingId", "booking"),
    _one(UNDO_CHECK_IN, "undoCheckIn.bookingId", "booking"),
    _one(MARK_NO_SHOW, "markNoShow.bookingId", "booking"),
    Case(
        AUDIT_LOG,
        {"f": {"entityId": "$customer", "actorId": "$staff"}},
        {
            "auditLog.filter.entityId": (("f", "entityId"), "customer"),
            "auditLog.filter.actorId": (("f", "actorId"), "staff"),
        },
    ),
    _one(UPDATE_STAFF_ROLE, "updateStaffRole.id", "staff"),
    _one(DEACTIVATE_STAFF, "deactivateStaff.id", "staff"),
]


def _id_arguments() -> set[str]:
    """Every argument (or input field, however deep) of type ID on Query and Mutation."""
    schema = build_staff_schema()._schema
    found: set[str] = set()

    def walk(path: str, named: GraphQLNamedType, seen: frozenset[str]) -> None:
        if named.name == "ID":
            found.add(path)
        elif isinstance(named, GraphQLInputObjectType) and named.name not in seen:
            for name, input_field in named.fields.items():
                walk(f"{path}.{name}", get_named_type(input_field.type), seen | {named.name})

    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        for field_name, root_field in root.fields.items():
            for arg_name, arg in root_field.args.items():
                walk(f"{field_name}.{arg_name}", get_named_type(arg.type), frozenset())
    return found


def test_the_matrix_covers_every_id_argument_of_the_schema() -> None:
    covered = {path for case in CASES for path in case.slots}
    assert covered == _id_arguments()


def _fill(value: Any, ids: Ids) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, str) and value.startswith("$"):
        return getattr(ids, value[1:])
    return value


def _with(variables: dict[str, Any], path: tuple[str, ...], value: str) -> dict[str, Any]:
    out = _deep_copy(variables)
    target = out
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return out


def _deep_copy(value: Any) -> Any:
    return {k: _deep_copy(v) for k, v in value.items()} if isinstance(value, dict) else value


async def test_another_companys_ids_behave_like_unknown_ids_and_change_nothing(
    client: httpx.AsyncClient, studio: Studio, other_studio: Studio
) -> None:
    victim = await _ids(studio)
    caller = await _ids(other_studio)
    before = await snapshot(studio.database)
    for case in CASES:
        own = _fill(case.variables, caller)
        for path, (var_path, kind) in case.slots.items():
            foreign = await gql(
                client,
                case.doc,
                _with(own, var_path, getattr(victim, kind)),
                token=other_studio.token,
            )
            unknown = await gql(
                client, case.doc, _with(own, var_path, str(uuid.uuid4())), token=other_studio.token
            )
            assert foreign == unknown, path
            if case.doc in FILTERS:  # a filter: the foreign ID finds nothing, like an unknown
                if foreign.get("errors"):
                    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND", path
                else:
                    assert foreign["data"][FILTERS[case.doc]]["edges"] == [], path
                continue
            assert foreign["data"] is None, path
            assert [e["extensions"]["code"] for e in foreign["errors"]] == ["NOT_FOUND"], path
            assert foreign["errors"][0]["message"].endswith("not found"), path
    after = await snapshot(studio.database)
    assert after == before, diff(before, after)


LISTS = """
{
  venues { id }
  activities(includeArchived: true) { id }
  products(includeArchived: true) { id }
  sessions(first: 100) {
    edges { node { id series { id } bookings { id customer { id } } } }
  }
  customers(first: 100) { edges { node { id } } }
  staffMembers { id }
  auditLog(first: 100) { edges { node { id entityId actorId } } }
}
"""


async def test_lists_never_include_another_companys_rows(
    client: httpx.AsyncClient, studio: Studio, other_studio: Studio
) -> None:
    victim = await _ids(studio)
    caller = await _ids(other_studio)
    body = await gql(client, LISTS, token=other_studio.token)
    text = repr(body)
    for value in vars(victim).values():
        assert value not in text
    data = body["data"]
    assert [v["id"] for v in data["venues"]] == [caller.venue]
    assert {a["id"] for a in data["activities"]} == {caller.activity}
    sessions = [e["node"] for e in data["sessions"]["edges"]]
    assert sessions[0]["id"] == caller.session  # then the two of its series, a week ahead
    assert len(sessions) == 3
    assert [b["id"] for b in sessions[0]["bookings"]] == [caller.booking]
    assert {e["node"]["id"] for e in data["customers"]["edges"]} == {
        caller.customer,
        caller.customer2,
    }
    assert caller.staff in {m["id"] for m in data["staffMembers"]}
    assert len(data["staffMembers"]) == 2  # the other studio's owner and its desk


async def test_aggregator_ids_are_unique_per_company_not_across_companies(
    client: httpx.AsyncClient, studio: Studio, other_studio: Studio
) -> None:
    await _ids(studio)  # gives studio's customer EGYM-1
    caller = await _ids(other_studio)  # the other studio's customer has EGYM-1 as well
    body = await gql(
        client, REMOVE_AGGREGATOR_ID, {"id": caller.customer}, token=other_studio.token
    )
    assert body["data"]["removeCustomerAggregatorId"]["id"] == caller.customer
    async with studio.database.read() as db:
        still = await customer_model.find_by_aggregator_id(
            db=db,
            company_id=studio.company_id,
            aggregator=Aggregator.EGYM_WELLPASS,
            external_id="EGYM-1",
        )
    assert still is not None and still.id == studio.customer_id
