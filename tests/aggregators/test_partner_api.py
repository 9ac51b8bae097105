"""The partner API over HTTP, as an aggregator's existing client uses it."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import update

from classbridge.models import activity as activity_model
from classbridge.models import partner_token as token_model
from classbridge.models import session as session_model
from classbridge.models import session_cancellation
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.inputs.session import SessionEdit, SessionSchedule, WeeklyRepeat
from classbridge.models.tables import Aggregator, ClassSession
from tests.aggregators.partner import (
    PARTNER_PATH,
    Partner,
    activate,
    connect,
    make_partner,
    member,
    pgql,
)
from tests.studio import Studio, error_codes

SESSIONS = """
query Sessions($first: Int! = 50, $after: Cursor, $days: Float, $since: DateTime,
               $cancelled: Boolean) {
  sessions(first: $first, after: $after, timeRangeInDays: $days, updatedAfter: $since,
           isCancelled: $cancelled) {
    edges { cursor node {
      id name isCancelled cancelledAt totalSpots totalAggregatorSpots availableSpots
      startv2 endv2 start end bookingWindowStart bookingWindowEnd lateCancelWindow
      hasOnlineStream updatedAt
      class { id name venue { id } } sport { id name } venue { id timezone aggregatorVenueId }
      location { id } address { city } teachers { name } room { name }
    } }
    pageInfo { hasNextPage hasPreviousPage }
  }
}
"""
MAKE = """
mutation Make($sessionId: ID!, $user: UserInput!, $checkedIn: Boolean) {
  makeReservation(sessionId: $sessionId, user: $user, checkedIn: $checkedIn) {
    id status cancellationType userId updatedAt session { id availableSpots }
  }
}
"""
CANCEL = """
mutation Cancel($id: ID!, $late: Boolean) {
  cancelReservation(reservationId: $id, isLateCancellation: $late) {
    id status cancellationType
  }
}
"""
CHECK_IN = "mutation C($id: ID!) { checkIn(reservationId: $id) { id status } }"
LINK = """
mutation Link($mine: String!, $ours: ID!) {
  setAggregatorVenueId(aggregatorVenueId: $mine, eversportsVenueId: $ours) {
    id aggregatorVenueId company { id name }
  }
}
"""
RESERVATIONS = """
query R($sessionId: ID!) {
  reservations(sessionId: $sessionId) { edges { node { id userId status } } }
  session(id: $sessionId) { reservations { edges { node { id } } } }
}
"""


def ids(body: dict) -> list[str]:  # type: ignore[type-arg]
    return [e["node"]["id"] for e in body["data"]["sessions"]["edges"]]


async def test_requests_without_a_valid_token_get_401_with_a_code(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    query = {"query": "{ venues { edges { node { id } } } }"}
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        response = await client.post(PARTNER_PATH, json=query, headers=headers)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    ok = await client.post(PARTNER_PATH, json=query, headers=partner.headers())
    assert ok.status_code == 200
    async with studio.database.transaction() as db:
        (row,) = await token_model.list_tokens(db=db)
        await token_model.revoke_token(db=db, token_id=row.id)
    revoked = await client.post(PARTNER_PATH, json=query, headers=partner.headers())
    assert revoked.status_code == 401
    # A staff token is no partner token.
    staff = await client.post(PARTNER_PATH, json=query, headers=studio.headers())
    assert staff.status_code == 401


async def test_the_aggregator_links_a_venue_and_only_then_sees_the_studio(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    vars = {"mine": "wp-123", "ours": str(studio.venue_id)}
    refused = await pgql(client, partner, LINK, vars)
    unknown = await pgql(client, partner, LINK, {**vars, "ours": str(uuid.uuid4())})
    # Not activated answers exactly like an unknown venue id: no existence oracle.
    assert error_codes(refused) == ["NOT_FOUND"]
    assert refused["errors"][0]["message"] == unknown["errors"][0]["message"]
    assert refused == unknown
    await activate(studio)
    venues = await pgql(client, partner, "{ venues { edges { node { id } } } }")
    assert venues["data"]["venues"]["edges"] == []  # waiting: nothing offered yet
    linked = await pgql(client, partner, LINK, vars)
    assert linked["data"]["setAggregatorVenueId"] == {
        "id": str(studio.venue_id),
        "aggregatorVenueId": "wp-123",
        "company": {"id": str(studio.company_id), "name": "Yoga Loft"},
    }
    venues = await pgql(client, partner, "{ venues { edges { node { id aggregatorVenueId } } } }")
    assert [e["node"] for e in venues["data"]["venues"]["edges"]] == [
        {"id": str(studio.venue_id), "aggregatorVenueId": "wp-123"}
    ]
    company = await pgql(
        client,
        partner,
        "query C($id: ID!) { company(id: $id) { name venues { edges { node { id } } } } }",
        {"id": str(studio.company_id)},
    )
    assert company["data"]["company"]["name"] == "Yoga Loft"
    # ClassPass is not connected: the same company is unknown to it.
    classpass = await make_partner(studio.database, Aggregator.CLASSPASS)
    hidden = await pgql(
        client,
        classpass,
        "query C($id: ID!) { company(id: $id) { name } }",
        {"id": str(studio.company_id)},
    )
    assert error_codes(hidden) == ["NOT_FOUND"]


async def test_sessions_show_spots_times_and_windows_as_the_contract_says(
    client: httpx.AsyncClient, studio: Studio, other_studio: Studio
) -> None:
    await connect(studio, limit=3)
    async with studio.database.transaction() as db:
        await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(
                booking_opens_minutes=7 * 24 * 60,
                booking_closes_minutes=90,
                free_cancellation_minutes=12 * 60,
            ),
        )
    session_id = await studio.session(days_ahead=2, capacity=10)
    await studio.session(days_ahead=20)  # beyond the default 14 days
    await other_studio.session()  # not connected: never shown
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    body = await pgql(client, partner, SESSIONS)
    assert "errors" not in body, body
    (edge,) = body["data"]["sessions"]["edges"]
    node = edge["node"]
    assert node["id"] == str(session_id)
    assert (node["totalSpots"], node["totalAggregatorSpots"], node["availableSpots"]) == (10, 3, 3)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT18:00:00[+-]\d\d:\d\d", node["startv2"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT18:00", node["start"])
    assert node["startv2"].startswith(node["start"])
    assert (node["bookingWindowStart"], node["bookingWindowEnd"], node["lateCancelWindow"]) == (
        "168:00",
        "01:30",
        "12:00",
    )
    assert node["isCancelled"] is False and node["hasOnlineStream"] is False
    assert node["venue"] == {
        "id": str(studio.venue_id),
        "timezone": "Europe/Berlin",
        "aggregatorVenueId": "wp-venue-1",
    }
    assert node["class"]["id"] == str(studio.activity_id)
    assert node["location"]["id"] == str(studio.venue_id)
    wide = await pgql(client, partner, SESSIONS, {"days": 28})
    assert len(ids(wide)) == 2
    for bad in (0, 29, 0.5):
        refused = await pgql(client, partner, SESSIONS, {"days": bad})
        assert error_codes(refused) == ["VALIDATION"]


async def test_available_spots_is_the_smaller_of_free_spots_and_the_aggregator_rest(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio, limit=3)
    session_id = await studio.session(capacity=4)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    spots = []
    for n in range(3):
        made = await pgql(client, partner, MAKE, {"sessionId": str(session_id), "user": member(n)})
        spots.append(made["data"]["makeReservation"]["session"]["availableSpots"])
    assert spots == [2, 1, 0]
    full = await pgql(client, partner, MAKE, {"sessionId": str(session_id), "user": member(9)})
    assert error_codes(full) == ["AGGREGATOR_LIMIT_REACHED"]


async def test_reserve_retry_cancel_and_check_in_over_http(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    session_id = str(await studio.session())
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    made = await pgql(client, partner, MAKE, {"sessionId": session_id, "user": member(1)})
    reservation = made["data"]["makeReservation"]
    assert (reservation["status"], reservation["cancellationType"], reservation["userId"]) == (
        "RESERVATION_STATUS_ENROLLED",
        "CANCELLATION_TYPE_NONE",
        "member-1",
    )
    retry = await pgql(client, partner, MAKE, {"sessionId": session_id, "user": member(1)})
    assert retry["data"]["makeReservation"]["id"] == reservation["id"]
    for _ in range(2):
        cancelled = await pgql(client, partner, CANCEL, {"id": reservation["id"], "late": True})
        assert cancelled["data"]["cancelReservation"] == {
            "id": reservation["id"],
            "status": "RESERVATION_STATUS_CANCELLED",
            "cancellationType": "CANCELLATION_TYPE_USER_LATE",
        }
    other = await pgql(client, partner, MAKE, {"sessionId": session_id, "user": member(2)})
    early = await pgql(client, partner, CHECK_IN, {"id": other["data"]["makeReservation"]["id"]})
    assert error_codes(early) == ["CHECK_IN_NOT_OPEN"]
    await studio.starts_in(session_id, 30)  # check-in opens 60 minutes before the start
    checked = await pgql(client, partner, CHECK_IN, {"id": other["data"]["makeReservation"]["id"]})
    assert checked["data"]["checkIn"]["status"] == "RESERVATION_STATUS_CHECKED_IN"
    unknown = await pgql(client, partner, CANCEL, {"id": "not-a-uuid"})
    assert error_codes(unknown) == ["VALIDATION"]


async def test_an_aggregator_sees_only_its_own_reservations(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    session_id = await studio.session()
    egym = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    made = await pgql(client, egym, MAKE, {"sessionId": str(session_id), "user": member(1)})
    reservation_id = made["data"]["makeReservation"]["id"]
    async with studio.database.transaction() as db:  # the studio's own booking
        from classbridge.models import booking as booking_model

        await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=session_id,
            customer_id=studio.customer_id,
            product_id=studio.product_id,
            source=booking_model.BookingSource.STAFF,
        )
    mine = await pgql(client, egym, RESERVATIONS, {"sessionId": str(session_id)})
    assert [e["node"]["id"] for e in mine["data"]["reservations"]["edges"]] == [reservation_id]
    assert [e["node"]["id"] for e in mine["data"]["session"]["reservations"]["edges"]] == [
        reservation_id
    ]
    usc = await make_partner(studio.database, Aggregator.URBAN_SPORTS_CLUB)
    theirs = await pgql(
        client, usc, "query R($id: ID!) { reservation(id: $id) { id } }", {"id": reservation_id}
    )
    assert error_codes(theirs) == ["NOT_FOUND"]


async def test_pages_default_to_50_cap_at_100_and_cursors_walk_on(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    async with studio.database.transaction() as db:
        from classbridge.models.company import Venue
        from classbridge.models.localtime import utc_to_local

        venue = await db.get(Venue, studio.venue_id)
        assert venue is not None
        day = utc_to_local(datetime.now(UTC), venue.zone).date() + timedelta(days=1)
        for hour in (7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21):
            await session_model.schedule_sessions(
                db=db,
                company_id=studio.company_id,
                schedule=SessionSchedule(
                    activity_id=studio.activity_id,
                    venue_id=studio.venue_id,
                    start=datetime.combine(day, datetime.min.time()).replace(hour=hour),
                    duration_minutes=30,
                    repeat=WeeklyRepeat(
                        weekdays=[1, 2, 3, 4, 5, 6, 7], until=day + timedelta(days=3)
                    ),
                ),
            )
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    first = await pgql(client, partner, SESSIONS)
    assert len(ids(first)) == 50 and first["data"]["sessions"]["pageInfo"]["hasNextPage"]
    seen = ids(first)
    after = first["data"]["sessions"]["edges"][-1]["cursor"]
    while after:
        page = await pgql(client, partner, SESSIONS, {"after": after, "first": 100})
        seen += ids(page)
        edges = page["data"]["sessions"]["edges"]
        after = edges[-1]["cursor"] if page["data"]["sessions"]["pageInfo"]["hasNextPage"] else None
    assert len(seen) == len(set(seen)) == 60
    too_many = await pgql(client, partner, SESSIONS, {"first": 101})
    assert error_codes(too_many) == ["VALIDATION"]
    forged = await pgql(client, partner, SESSIONS, {"after": "bm90LWEtY3Vyc29y"})
    assert error_codes(forged) == ["VALIDATION"]


async def test_updated_after_reports_cancelled_and_withdrawn_sessions(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    kept, cancelled, withdrawn = [await studio.session(days_ahead=d) for d in (2, 3, 4)]
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    async with studio.database.transaction() as db:  # a moment before the changes below
        await db.execute(
            update(ClassSession).values(updated_at=datetime.now(UTC) - timedelta(hours=1))
        )
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    quiet = await pgql(client, partner, SESSIONS, {"since": since})
    assert ids(quiet) == []
    async with studio.database.transaction() as db:
        await session_cancellation.cancel_session(
            db=db, company_id=studio.company_id, session_id=cancelled, reason="teacher ill"
        )
        await session_model.edit_session(
            db=db,
            company_id=studio.company_id,
            session_id=withdrawn,
            changes=SessionEdit(aggregator_mode="INDIVIDUAL", aggregator_allowed=False),
        )
    feed = await pgql(client, partner, SESSIONS, {"since": since})
    nodes = {e["node"]["id"]: e["node"] for e in feed["data"]["sessions"]["edges"]}
    assert set(nodes) == {str(cancelled), str(withdrawn)}
    assert all(n["isCancelled"] and n["cancelledAt"] for n in nodes.values())
    assert all(n["availableSpots"] == 0 for n in nodes.values())
    # The plain schedule keeps the studio-cancelled session (flagged) but not the withdrawn.
    schedule = await pgql(client, partner, SESSIONS)
    assert set(ids(schedule)) == {str(kept), str(cancelled)}
    only_live = await pgql(client, partner, SESSIONS, {"cancelled": False})
    assert ids(only_live) == [str(kept)]


async def test_deactivation_withdraws_everything_and_the_feed_says_so(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    from classbridge.models import extension as extension_model
    from tests.aggregators.partner import owner_actor

    await connect(studio)
    session_id = await studio.session()
    partner: Partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    since = datetime.now(UTC).isoformat()
    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.deactivate_extension(
            db=db, actor=actor, aggregator=Aggregator.EGYM_WELLPASS
        )
    assert ids(await pgql(client, partner, SESSIONS)) == []
    feed = await pgql(client, partner, SESSIONS, {"since": since})
    (node,) = [e["node"] for e in feed["data"]["sessions"]["edges"]]
    assert node["id"] == str(session_id) and node["isCancelled"] is True
    refused = await pgql(client, partner, MAKE, {"sessionId": str(session_id), "user": member()})
    assert error_codes(refused) == ["NOT_FOUND"]


async def test_classes_sports_teachers_and_rooms_as_the_schema_shapes_them(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    session_id = await studio.session()
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db,
            company_id=studio.company_id,
            session_id=session_id,
            changes=SessionEdit(teacher="Mara", room="Studio 2"),
        )
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    body = await pgql(
        client,
        partner,
        """query Q($c: ID!, $s: ID!) {
          class(id: $c) { id name venue { id } }
          sports { edges { node { id name } } }
          session(id: $s) { teachers { id name gender } room { id name }
                            sport { id name } onlineStreamInformation { password } }
        }""",
        {"c": str(studio.activity_id), "s": str(session_id)},
    )
    assert "errors" not in body, body
    data = body["data"]
    assert data["class"] == {
        "id": str(studio.activity_id),
        "name": "Vinyasa",
        "venue": {"id": str(studio.venue_id)},
    }
    (sport,) = [e["node"] for e in data["sports"]["edges"]]
    assert sport == data["session"]["sport"] and sport["name"] == "Fitness"
    assert [t["name"] for t in data["session"]["teachers"]] == ["Mara"]
    assert data["session"]["room"]["name"] == "Studio 2"
    assert data["session"]["onlineStreamInformation"] is None
