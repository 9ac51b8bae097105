"""Staff mutations end to end over HTTP: activities, rules, sessions (across DST), customers,
bookings; every change an aggregator sees bumps the session's version and updatedAt."""

import uuid
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import update

from classbridge.models import booking as booking_model
from classbridge.models.base import utcnow
from classbridge.models.tables import Aggregator, BookingSource, ClassSession
from tests.graph.rows import row_counts
from tests.studio import Studio, error_codes, gql

BERLIN = ZoneInfo("Europe/Berlin")

CREATE_ACTIVITY = """
mutation($input: CreateActivityInput!) {
  createActivity(input: $input) {
    __typename id name kind defaultDurationMinutes archived
    registrationRules { maxParticipants freeCancellationMinutesBeforeStart allowAggregatorBookings }
  }
}
"""
UPDATE_ACTIVITY = """
mutation($id: ID!, $input: UpdateActivityInput!) {
  updateActivity(id: $id, input: $input) { __typename name description sport kind }
}
"""
ARCHIVE_ACTIVITY = """
mutation($id: ID!, $archived: Boolean!) {
  archiveActivity(id: $id, archived: $archived) { archived }
}
"""
ACTIVITIES = "query($all: Boolean!) { activities(includeArchived: $all) { id } }"
UPDATE_RULES = """
mutation($id: ID!, $input: RegistrationRulesInput!) {
  updateRegistrationRules(activityId: $id, input: $input) {
    __typename
    registrationRules {
      maxParticipants bookingOpensMinutesBeforeStart bookingClosesMinutesBeforeStart
      freeCancellationMinutesBeforeStart allowAggregatorBookings aggregatorLimit
    }
  }
}
"""
SCHEDULE = """
mutation($input: ScheduleSessionsInput!) {
  scheduleSessions(input: $input) { __typename id startsAt localStart localEnd room teacher }
}
"""
SESSION = """
query($id: ID!) {
  session(id: $id) {
    version updatedAt startsAt localStart isCancelled cancellationReason capacityOverride
    aggregatorSetting { mode allowed limit } aggregatorBookingsAllowed
    counts { booked capacity available checkedIn }
    bookings { id status cancellationType }
  }
}
"""
EDIT_SESSION = """
mutation($id: ID!, $input: EditSessionInput!) {
  editSession(id: $id, input: $input) { __typename version localStart localEnd room }
}
"""
CANCEL_SESSION = """
mutation($id: ID!, $reason: String) {
  cancelSession(id: $id, reason: $reason) { __typename isCancelled cancellationReason }
}
"""
CREATE_CUSTOMER = """
mutation($input: CustomerInput!) { createCustomer(input: $input) { __typename id email } }
"""
UPDATE_CUSTOMER = """
mutation($id: ID!, $input: CustomerInput!) {
  updateCustomer(id: $id, input: $input) {
    __typename firstName lastName email phone birthday notes
  }
}
"""
MERGE = """
mutation($s: ID!, $m: ID!) {
  mergeCustomers(survivorId: $s, mergedId: $m) {
    __typename id email notes aggregatorIds { aggregator externalId }
  }
}
"""
CUSTOMER = "query($id: ID!) { customer(id: $id) { id } }"
ADD_ID = """
mutation($id: ID!, $a: Aggregator!, $x: String!) {
  addCustomerAggregatorId(customerId: $id, aggregator: $a, externalId: $x) {
    __typename aggregatorIds { aggregator externalId }
  }
}
"""
REMOVE_ID = """
mutation($id: ID!, $a: Aggregator!, $x: String!) {
  removeCustomerAggregatorId(customerId: $id, aggregator: $a, externalId: $x) {
    __typename aggregatorIds { aggregator externalId }
  }
}
"""
BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) {
    __typename id status source cancellationType product { name } customer { id }
  }
}
"""
BOOKING = "query($id: ID!) { booking(id: $id) { status customer { id } } }"
CANCEL_BOOKING = """
mutation($id: ID!) { cancelBooking(id: $id) { __typename status cancellationType cancelledAt } }
"""
CHECK_IN = "mutation($id: ID!) { checkIn(bookingId: $id) { __typename status checkedInAt } }"
UNDO_CHECK_IN = "mutation($id: ID!) { undoCheckIn(bookingId: $id) { status checkedInAt } }"
NO_SHOW = "mutation($id: ID!) { markNoShow(bookingId: $id) { __typename status } }"
PRODUCTS = "{ products { id name builtIn } }"


async def _ok(client: httpx.AsyncClient, studio: Studio, query: str, **variables: Any) -> dict:  # type: ignore[type-arg]
    body = await gql(client, query, variables, token=studio.token)
    assert "errors" not in body, body
    return body["data"]


async def _refused(
    client: httpx.AsyncClient, studio: Studio, code: str, query: str, **variables: Any
) -> str:
    body = await gql(client, query, variables, token=studio.token)
    assert body["data"] is None and error_codes(body) == [code], body
    return str(body["errors"][0]["message"])


async def _state(client: httpx.AsyncClient, studio: Studio, session_id: str) -> dict:  # type: ignore[type-arg]
    return (await _ok(client, studio, SESSION, id=session_id))["session"]


async def _assert_bumped(
    client: httpx.AsyncClient,
    studio: Studio,
    session_id: str,
    before: dict,  # type: ignore[type-arg]
) -> dict:  # type: ignore[type-arg]
    after = await _state(client, studio, session_id)
    assert after["version"] > before["version"], (before, after)
    assert after["updatedAt"] > before["updatedAt"], (before, after)
    return after


def _local_today() -> date:
    return utcnow().astimezone(BERLIN).date()


def _next_dst_change(after: date, *, spring: bool | None = None) -> date:
    """The next day on which Berlin's UTC offset changes (spring: clocks go forward)."""
    day = after
    for _ in range(400):
        today = datetime(day.year, day.month, day.day, 12, tzinfo=BERLIN).utcoffset()
        nxt = day + timedelta(days=1)
        tomorrow = datetime(nxt.year, nxt.month, nxt.day, 12, tzinfo=BERLIN).utcoffset()
        if today != tomorrow and (spring is None or (tomorrow > today) is spring):  # type: ignore[operator]
            return nxt
        day = nxt
    raise AssertionError("no DST change within 400 days")


async def test_activity_create_update_archive_and_restore(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    created = (
        await _ok(
            client,
            studio,
            CREATE_ACTIVITY,
            input={
                "name": " Yin Yoga ",
                "kind": "WORKSHOP",
                "defaultDurationMinutes": 90,
                "registrationRules": {"maxParticipants": 12, "allowAggregatorBookings": True},
            },
        )
    )["createActivity"]
    assert created["__typename"] == "Activity"
    assert created["name"] == "Yin Yoga" and created["kind"] == "WORKSHOP"
    assert created["registrationRules"] == {
        "maxParticipants": 12,
        "freeCancellationMinutesBeforeStart": 0,
        "allowAggregatorBookings": True,
    }
    activity_id = created["id"]
    day = (_local_today() + timedelta(days=2)).isoformat()
    session = {"activityId": activity_id, "venueId": str(studio.venue_id), "start": f"{day}T09:00"}
    session_id = (await _ok(client, studio, SCHEDULE, input=session))["scheduleSessions"][0]["id"]
    before = await _state(client, studio, session_id)
    updated = await _ok(
        client,
        studio,
        UPDATE_ACTIVITY,
        id=activity_id,
        input={"description": "Slow", "sport": "Yoga", "kind": "CLASS"},
    )
    assert updated["updateActivity"] == {
        "__typename": "Activity",
        "name": "Yin Yoga",
        "description": "Slow",
        "sport": "Yoga",
        "kind": "CLASS",
    }
    await _assert_bumped(client, studio, session_id, before)  # aggregators show the description
    archived = await _ok(client, studio, ARCHIVE_ACTIVITY, id=activity_id, archived=True)
    assert archived["archiveActivity"]["archived"] is True
    assert activity_id not in [
        a["id"] for a in (await _ok(client, studio, ACTIVITIES, all=False))["activities"]
    ]
    assert activity_id in [
        a["id"] for a in (await _ok(client, studio, ACTIVITIES, all=True))["activities"]
    ]
    start = (_local_today() + timedelta(days=3)).isoformat() + "T18:00"
    schedule = {"activityId": activity_id, "venueId": str(studio.venue_id), "start": start}
    await _refused(client, studio, "INVALID_STATE", SCHEDULE, input=schedule)
    await _ok(client, studio, ARCHIVE_ACTIVITY, id=activity_id, archived=False)
    assert len((await _ok(client, studio, SCHEDULE, input=schedule))["scheduleSessions"]) == 1


async def test_registration_rules_update_and_touch_upcoming_sessions(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = str(await studio.session())
    before = await _state(client, studio, session_id)
    rules = {
        "maxParticipants": 8,
        "bookingOpensMinutesBeforeStart": 7 * 24 * 60,
        "bookingClosesMinutesBeforeStart": 30,
        "freeCancellationMinutesBeforeStart": 12 * 60,
        "allowAggregatorBookings": True,
        "aggregatorLimit": 3,
    }
    data = await _ok(client, studio, UPDATE_RULES, id=str(studio.activity_id), input=rules)
    assert data["updateRegistrationRules"]["registrationRules"] == rules
    after = await _assert_bumped(client, studio, session_id, before)
    assert after["counts"]["capacity"] == 8 and after["aggregatorBookingsAllowed"] is True
    # Fields left out keep their value; null clears the limit.
    data = await _ok(
        client, studio, UPDATE_RULES, id=str(studio.activity_id), input={"aggregatorLimit": None}
    )
    assert data["updateRegistrationRules"]["registrationRules"] == {
        **rules,
        "aggregatorLimit": None,
    }


async def test_weekly_series_across_a_dst_change_keeps_local_time(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    change = _next_dst_change(_local_today() + timedelta(days=8))
    first, until = change - timedelta(days=7), change + timedelta(days=8)
    weekdays = sorted({change.isoweekday(), (change + timedelta(days=2)).isoweekday()})
    data = await _ok(
        client,
        studio,
        SCHEDULE,
        input={
            "activityId": str(studio.activity_id),
            "venueId": str(studio.venue_id),
            "start": f"{first.isoformat()}T18:00",
            "durationMinutes": 75,
            "room": "Studio 2",
            "teacher": "Mara",
            "repeat": {"weekdays": weekdays, "until": until.isoformat()},
        },
    )
    sessions = data["scheduleSessions"]
    days = [date.fromisoformat(s["localStart"][:10]) for s in sessions]
    expected = [
        first + timedelta(days=i)
        for i in range((until - first).days + 1)
        if (first + timedelta(days=i)).isoweekday() in weekdays
    ]
    assert days == expected and len(days) >= 4
    assert all(s["localStart"][11:19] == "18:00:00" for s in sessions)
    assert all(s["localEnd"][11:19] == "19:15:00" for s in sessions)
    utc_hours = {
        day < change: datetime.fromisoformat(s["startsAt"]).hour
        for day, s in zip(days, sessions, strict=True)
    }
    assert abs(utc_hours[True] - utc_hours[False]) == 1  # the UTC time moved by an hour
    assert {s["room"] for s in sessions} == {"Studio 2"}


async def test_a_local_time_in_the_spring_forward_gap_is_refused(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    spring = _next_dst_change(_local_today() + timedelta(days=1), spring=True)
    schedule = {
        "activityId": str(studio.activity_id),
        "venueId": str(studio.venue_id),
        "start": f"{spring.isoformat()}T02:30",
    }
    message = await _refused(client, studio, "VALIDATION", SCHEDULE, input=schedule)
    assert "does not exist in Europe/Berlin" in message
    # A weekly 02:30 series through that night is refused whole: nothing half-written.
    before = await row_counts(studio.database)
    series = {
        **schedule,
        "start": f"{(spring - timedelta(days=7)).isoformat()}T02:30",
        "repeat": {
            "weekdays": [spring.isoweekday()],
            "until": (spring + timedelta(days=7)).isoformat(),
        },
    }
    if spring - timedelta(days=7) > _local_today():
        await _refused(client, studio, "VALIDATION", SCHEDULE, input=series)
        assert await row_counts(studio.database) == before
    session_id = str(await studio.session())
    await _refused(
        client,
        studio,
        "VALIDATION",
        EDIT_SESSION,
        id=session_id,
        input={"start": f"{spring.isoformat()}T02:15"},
    )


async def test_edit_session_bumps_version_for_times_capacity_and_aggregator_setting(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = str(await studio.session(days_ahead=4))
    day = _local_today() + timedelta(days=5)
    edits = [
        {"start": f"{day.isoformat()}T19:30", "durationMinutes": 45},
        {"capacityOverride": 4},
        {"aggregatorMode": "INDIVIDUAL", "aggregatorAllowed": True, "aggregatorLimit": 2},
        {"capacityOverride": None, "room": "Loft"},
    ]
    state = await _state(client, studio, session_id)
    for edit in edits:
        data = await _ok(client, studio, EDIT_SESSION, id=session_id, input=edit)
        assert data["editSession"]["__typename"] == "Session"
        state = await _assert_bumped(client, studio, session_id, state)
    assert state["localStart"].startswith(f"{day.isoformat()}T19:30:00")
    assert state["capacityOverride"] is None and state["counts"]["capacity"] == 10
    assert state["aggregatorSetting"] == {"mode": "INDIVIDUAL", "allowed": True, "limit": 2}
    assert state["aggregatorBookingsAllowed"] is True


async def test_cancel_session_cancels_its_bookings_with_type_session(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = str(await studio.session())
    second = str(await studio.customer("Grace", "Hopper"))
    for customer in (str(studio.customer_id), second):
        await _ok(client, studio, BOOK, s=session_id, c=customer, p=str(studio.product_id))
    before = await _state(client, studio, session_id)
    data = await _ok(client, studio, CANCEL_SESSION, id=session_id, reason="Teacher ill")
    assert data["cancelSession"] == {
        "__typename": "Session",
        "isCancelled": True,
        "cancellationReason": "Teacher ill",
    }
    after = await _assert_bumped(client, studio, session_id, before)
    assert [(b["status"], b["cancellationType"]) for b in after["bookings"]] == [
        ("CANCELLED", "SESSION")
    ] * 2
    assert after["counts"]["booked"] == 0
    await _refused(client, studio, "SESSION_CANCELLED", CANCEL_SESSION, id=session_id)
    await _refused(
        client, studio, "SESSION_CANCELLED", EDIT_SESSION, id=session_id, input={"room": "X"}
    )
    third = str(await studio.customer("Third", "Person"))
    await _refused(
        client, studio, "SESSION_CANCELLED", BOOK, s=session_id, c=third, p=str(studio.product_id)
    )


async def test_customers_create_update_and_merge(client: httpx.AsyncClient, studio: Studio) -> None:
    survivor = (
        await _ok(
            client,
            studio,
            CREATE_CUSTOMER,
            input={"firstName": "Kim", "lastName": "Meyer", "email": "KIM@Example.com"},
        )
    )["createCustomer"]
    assert survivor["email"] == "kim@example.com"
    updated = await _ok(
        client,
        studio,
        UPDATE_CUSTOMER,
        id=survivor["id"],
        input={"phone": "+49 30 1234", "birthday": "1990-04-01", "notes": "Knee"},
    )
    assert updated["updateCustomer"] == {
        "__typename": "Customer",
        "firstName": "Kim",
        "lastName": "Meyer",
        "email": "kim@example.com",
        "phone": "+49 30 1234",
        "birthday": "1990-04-01",
        "notes": "Knee",
    }
    duplicate = (
        await _ok(
            client,
            studio,
            CREATE_CUSTOMER,
            input={"firstName": "Kim", "lastName": "Meyer", "notes": "Wellpass"},
        )
    )["createCustomer"]["id"]
    await _ok(client, studio, ADD_ID, id=duplicate, a="EGYM_WELLPASS", x="W-77")
    shared = str(await studio.session())
    only_duplicate = str(await studio.session(days_ahead=3))
    product = str(studio.product_id)
    await _ok(client, studio, BOOK, s=shared, c=survivor["id"], p=product)
    doubled = (await _ok(client, studio, BOOK, s=shared, c=duplicate, p=product))["bookCustomer"][
        "id"
    ]
    moved = (await _ok(client, studio, BOOK, s=only_duplicate, c=duplicate, p=product))[
        "bookCustomer"
    ]["id"]
    shared_before = await _state(client, studio, shared)

    merged = (await _ok(client, studio, MERGE, s=survivor["id"], m=duplicate))["mergeCustomers"]
    assert merged["aggregatorIds"] == [{"aggregator": "EGYM_WELLPASS", "externalId": "W-77"}]
    assert merged["notes"] == "Knee\nWellpass"
    await _refused(client, studio, "NOT_FOUND", CUSTOMER, id=duplicate)
    assert (await _ok(client, studio, BOOKING, id=moved))["booking"] == {
        "status": "BOOKED",
        "customer": {"id": survivor["id"]},
    }
    assert (await _ok(client, studio, BOOKING, id=doubled))["booking"]["status"] == "CANCELLED"
    after = await _assert_bumped(client, studio, shared, shared_before)  # one booking fewer
    assert after["counts"]["booked"] == 1


async def test_aggregator_ids_add_remove_and_conflicts_name_the_customer(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    ada = str(studio.customer_id)
    grace = str(await studio.customer("Grace", "Hopper"))
    data = await _ok(client, studio, ADD_ID, id=ada, a="EGYM_WELLPASS", x=" 12345 ")
    assert data["addCustomerAggregatorId"]["aggregatorIds"] == [
        {"aggregator": "EGYM_WELLPASS", "externalId": "12345"}
    ]
    message = await _refused(
        client, studio, "AGGREGATOR_ID_TAKEN", ADD_ID, id=grace, a="EGYM_WELLPASS", x="12345"
    )
    assert "Ada Lovelace" in message and ada in message
    # Unique per aggregator: the same member id at another aggregator is someone else.
    await _ok(client, studio, ADD_ID, id=grace, a="URBAN_SPORTS_CLUB", x="12345")
    await _refused(
        client, studio, "AGGREGATOR_ID_TAKEN", ADD_ID, id=ada, a="EGYM_WELLPASS", x="12345"
    )
    data = await _ok(client, studio, REMOVE_ID, id=ada, a="EGYM_WELLPASS", x="12345")
    assert data["removeCustomerAggregatorId"]["aggregatorIds"] == []
    await _refused(client, studio, "NOT_FOUND", REMOVE_ID, id=ada, a="EGYM_WELLPASS", x="12345")
    await _ok(client, studio, ADD_ID, id=grace, a="EGYM_WELLPASS", x="12345")  # free again


async def test_book_cancel_early_and_late_check_in_undo_and_no_show(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await _ok(
        client,
        studio,
        UPDATE_RULES,
        id=str(studio.activity_id),
        input={"freeCancellationMinutesBeforeStart": 24 * 60},
    )
    soon = str(await studio.session(days_ahead=1, hour=23))  # for check-in and no-show
    later = str(await studio.session(days_ahead=4))
    product = str(studio.product_id)
    ada = str(studio.customer_id)

    before = await _state(client, studio, later)
    booked = (await _ok(client, studio, BOOK, s=later, c=ada, p=product))["bookCustomer"]
    assert booked["__typename"] == "Booking"
    assert (booked["status"], booked["source"], booked["cancellationType"]) == (
        "BOOKED",
        "STAFF",
        "NONE",
    )
    assert booked["product"] == {"name": "Drop-in"}
    state = await _assert_bumped(client, studio, later, before)
    assert state["counts"]["booked"] == 1
    await _refused(client, studio, "ALREADY_BOOKED", BOOK, s=later, c=ada, p=product)

    early = (await _ok(client, studio, CANCEL_BOOKING, id=booked["id"]))["cancelBooking"]
    assert (early["status"], early["cancellationType"]) == ("CANCELLED", "EARLY")
    state = await _assert_bumped(client, studio, later, state)
    assert state["counts"]["booked"] == 0

    # Late: the free-cancellation period ended (the rule now covers the whole week).
    await _ok(
        client,
        studio,
        UPDATE_RULES,
        id=str(studio.activity_id),
        input={"freeCancellationMinutesBeforeStart": 7 * 24 * 60},
    )
    rebooked = (await _ok(client, studio, BOOK, s=later, c=ada, p=product))["bookCustomer"]["id"]
    late = (await _ok(client, studio, CANCEL_BOOKING, id=rebooked))["cancelBooking"]
    assert (late["status"], late["cancellationType"]) == ("CANCELLED", "LATE")

    # Check in and undo; a no-show only once the session started.
    booking = (await _ok(client, studio, BOOK, s=soon, c=ada, p=product))["bookCustomer"]["id"]
    await studio.starts_in(soon, 30)  # check-in opens 60 minutes before the start
    checked = (await _ok(client, studio, CHECK_IN, id=booking))["checkIn"]
    assert checked["status"] == "CHECKED_IN" and checked["checkedInAt"]
    assert (await _state(client, studio, soon))["counts"]["checkedIn"] == 1
    undone = (await _ok(client, studio, UNDO_CHECK_IN, id=booking))["undoCheckIn"]
    assert undone == {"status": "BOOKED", "checkedInAt": None}
    await _refused(client, studio, "INVALID_STATE", NO_SHOW, id=booking)
    async with studio.database.transaction() as db:
        now = utcnow()
        await db.execute(
            update(ClassSession)
            .where(ClassSession.id == uuid.UUID(soon))
            .values(starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(minutes=50))
        )
    assert (await _ok(client, studio, NO_SHOW, id=booking))["markNoShow"]["status"] == "NO_SHOW"
    await _refused(client, studio, "INVALID_STATE", CANCEL_BOOKING, id=booking)
    assert (await _ok(client, studio, CHECK_IN, id=booking))["checkIn"]["status"] == "CHECKED_IN"


async def test_built_in_aggregator_products_cannot_be_assigned_or_cancelled_by_staff(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await _ok(
        client,
        studio,
        UPDATE_RULES,
        id=str(studio.activity_id),
        input={"allowAggregatorBookings": True},
    )
    session_uuid = await studio.session()
    session_id = str(session_uuid)
    member = await studio.customer("Wellpass", "Member")
    async with studio.database.transaction() as db:
        booking = await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=session_uuid,
            customer_id=member,
            source=BookingSource.AGGREGATOR,
            aggregator=Aggregator.EGYM_WELLPASS,
        )
    products = (await _ok(client, studio, PRODUCTS))["products"]
    built_in = next(p for p in products if p["builtIn"])
    assert built_in["name"] == "EGYM Wellpass"
    message = await _refused(
        client,
        studio,
        "BUILT_IN_PRODUCT",
        BOOK,
        s=session_id,
        c=str(studio.customer_id),
        p=built_in["id"],
    )
    assert "EGYM Wellpass" in message
    await _refused(client, studio, "AGGREGATOR_BOOKING", CANCEL_BOOKING, id=str(booking.id))
    await _refused(
        client,
        studio,
        "BUILT_IN_PRODUCT",
        "mutation($id: ID!) { archiveProduct(id: $id) { id } }",
        id=built_in["id"],
    )


async def test_booking_refusals_reach_staff_with_their_codes_and_change_nothing(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    product, ada = str(studio.product_id), str(studio.customer_id)
    grace = str(await studio.customer("Grace", "Hopper"))
    full = str(await studio.session(capacity=1))
    await _ok(client, studio, BOOK, s=full, c=ada, p=product)
    state = await _state(client, studio, full)
    await _refused(client, studio, "SESSION_FULL", BOOK, s=full, c=grace, p=product)
    assert await _state(client, studio, full) == state  # a refusal bumps nothing

    await _ok(
        client,
        studio,
        UPDATE_RULES,
        id=str(studio.activity_id),
        input={"bookingOpensMinutesBeforeStart": 60},
    )
    not_open = str(await studio.session(days_ahead=3))
    await _refused(client, studio, "BOOKING_WINDOW_NOT_OPEN", BOOK, s=not_open, c=ada, p=product)
    await _ok(
        client,
        studio,
        UPDATE_RULES,
        id=str(studio.activity_id),
        input={
            "bookingOpensMinutesBeforeStart": None,
            "bookingClosesMinutesBeforeStart": 7 * 24 * 60,
        },
    )
    await _refused(client, studio, "BOOKING_WINDOW_CLOSED", BOOK, s=not_open, c=ada, p=product)
    await _ok(
        client,
        studio,
        UPDATE_RULES,
        id=str(studio.activity_id),
        input={"bookingClosesMinutesBeforeStart": None},
    )
    async with studio.database.transaction() as db:
        now = utcnow()
        await db.execute(
            update(ClassSession)
            .where(ClassSession.id == uuid.UUID(not_open))
            .values(starts_at=now - timedelta(hours=2), ends_at=now - timedelta(hours=1))
        )
    await _refused(client, studio, "SESSION_IN_PAST", BOOK, s=not_open, c=ada, p=product)
