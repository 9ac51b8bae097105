"""Settings > Aggregators and aggregator bookings from the studio's side (staff API)."""

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from classbridge.models import reservation as reservation_model
from classbridge.models import staff as staff_model
from classbridge.models import tables
from classbridge.models.base import utcnow
from classbridge.models.inputs.customer import Member
from classbridge.models.inputs.staff import StaffUserCreate
from classbridge.models.tables import (
    Aggregator,
    Booking,
    BookingStatus,
    CancellationType,
    ClassSession,
    OutboxItem,
    OutboxKind,
)
from tests.aggregators.partner import connect, link, make_partner, pgql
from tests.studio import Studio, error_codes, gql

SETTINGS = """
{ aggregatorExtensions { aggregator displayName status companyId
    venues { venueId name aggregatorVenueId } } }
"""
ACTIVATE = """
mutation A($a: Aggregator!) { activateAggregatorExtension(aggregator: $a) { status } }
"""
DEACTIVATE = """
mutation D($a: Aggregator!) { deactivateAggregatorExtension(aggregator: $a) { status } }
"""
SIGN_IN = """
query S($id: ID!) { signInList(sessionId: $id) {
  bookings { id status source aggregator product { name }
    customer { lastName aggregatorIds { aggregator externalId } } } } }
"""
SCHEDULE_IDS = """
{ sessions(first: 10) { edges { node {
  bookings { customer { aggregatorIds { externalId } } } } } } }
"""


async def _reserve(studio: Studio, session_id, n: int = 1) -> Booking:  # type: ignore[no-untyped-def]
    async with studio.database.transaction() as db:
        return await reservation_model.make_reservation(
            db=db,
            aggregator=Aggregator.EGYM_WELLPASS,
            session_id=session_id,
            member=Member(id=f"m-{n}", first_name="Mia", last_name=f"Member{n}"),
        )


async def test_settings_list_every_aggregator_with_the_ids_to_send(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    body = await gql(client, SETTINGS, token=studio.token)
    rows = body["data"]["aggregatorExtensions"]
    assert [r["aggregator"] for r in rows] == ["EGYM_WELLPASS", "URBAN_SPORTS_CLUB", "CLASSPASS"]
    assert {r["status"] for r in rows} == {"NOT_ACTIVATED"}
    assert rows[0]["companyId"] == str(studio.company_id)
    assert rows[0]["venues"] == [
        {"venueId": str(studio.venue_id), "name": "Yoga Loft Mitte", "aggregatorVenueId": None}
    ]
    activated = await gql(client, ACTIVATE, {"a": "EGYM_WELLPASS"}, token=studio.token)
    assert activated["data"]["activateAggregatorExtension"]["status"] == "WAITING_FOR_AGGREGATOR"
    await link(studio, external="wp-42")
    rows = (await gql(client, SETTINGS, token=studio.token))["data"]["aggregatorExtensions"]
    assert rows[0]["status"] == "ACTIVE"
    assert rows[0]["venues"][0]["aggregatorVenueId"] == "wp-42"
    off = await gql(client, DEACTIVATE, {"a": "EGYM_WELLPASS"}, token=studio.token)
    assert off["data"]["deactivateAggregatorExtension"]["status"] == "DEACTIVATED"
    never = await gql(client, DEACTIVATE, {"a": "CLASSPASS"}, token=studio.token)
    assert error_codes(never) == ["EXTENSION_NOT_ACTIVATED"]


async def test_staff_who_are_not_owner_cannot_activate(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    async with studio.database.transaction() as db:
        clerk = await staff_model.create_staff_user(
            db=db,
            company_id=studio.company_id,
            user=StaffUserCreate(
                email="desk@example.com",
                name="Desk",
                password="correct horse battery",
                role=tables.StaffRole.STAFF,
            ),
        )
        token = await staff_model.issue_token(db=db, user=clerk, ttl_days=1)
    refused = await gql(client, ACTIVATE, {"a": "EGYM_WELLPASS"}, token=token)
    assert error_codes(refused) == ["FORBIDDEN"]
    listed = await gql(client, SETTINGS, token=token)
    assert listed["data"]["aggregatorExtensions"][0]["status"] == "NOT_ACTIVATED"


async def test_aggregator_bookings_in_the_sign_in_list_and_what_staff_may_do(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    session_id = await studio.session()
    first = await _reserve(studio, session_id, 1)
    second = await _reserve(studio, session_id, 2)
    body = await gql(client, SIGN_IN, {"id": str(session_id)}, token=studio.token)
    rows = {b["id"]: b for b in body["data"]["signInList"]["bookings"]}
    assert rows[str(first.id)]["product"]["name"] == "EGYM Wellpass"
    assert rows[str(first.id)]["source"] == "AGGREGATOR"
    assert rows[str(first.id)]["aggregator"] == "EGYM_WELLPASS"
    # The members' ids, held by the list's customers (read with the list, shown in place).
    assert rows[str(first.id)]["customer"]["aggregatorIds"] == [
        {"aggregator": "EGYM_WELLPASS", "externalId": "m-1"}
    ]
    assert rows[str(second.id)]["customer"]["aggregatorIds"][0]["externalId"] == "m-2"
    page = await gql(client, SCHEDULE_IDS, token=studio.token)
    shown = [
        i["externalId"]
        for edge in page["data"]["sessions"]["edges"]
        for b in edge["node"]["bookings"]
        for i in b["customer"]["aggregatorIds"]
    ]
    assert sorted(shown) == ["m-1", "m-2"]
    cancel = await gql(
        client,
        "mutation C($id: ID!) { cancelBooking(id: $id) { status } }",
        {"id": str(first.id)},
        token=studio.token,
    )
    assert error_codes(cancel) == ["AGGREGATOR_BOOKING"]
    assert "app" in cancel["errors"][0]["message"]
    await studio.starts_in(first.session_id, 30)  # check-in is open
    checked = await gql(
        client,
        "mutation C($id: ID!) { checkIn(bookingId: $id) { status } }",
        {"id": str(first.id)},
        token=studio.token,
    )
    assert checked["data"]["checkIn"]["status"] == "CHECKED_IN"
    async with studio.database.transaction() as db:  # the class has started
        await db.execute(
            update(ClassSession)
            .where(ClassSession.id == session_id)
            .values(
                starts_at=utcnow() - timedelta(minutes=5),
                ends_at=utcnow() + timedelta(minutes=55),
            )
        )
    no_show = await gql(
        client,
        "mutation N($id: ID!) { markNoShow(bookingId: $id) { status } }",
        {"id": str(second.id)},
        token=studio.token,
    )
    assert no_show["data"]["markNoShow"]["status"] == "NO_SHOW"
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    seen = await pgql(
        client,
        partner,
        "query R($s: ID!) { reservations(sessionId: $s) {"
        " edges { node { id isNoShow status } } } }",
        {"s": str(session_id)},
    )
    rows = {e["node"]["id"]: e["node"] for e in seen["data"]["reservations"]["edges"]}
    assert rows[str(second.id)] == {
        "id": str(second.id),
        "isNoShow": True,
        "status": "RESERVATION_STATUS_ENROLLED",
    }
    assert rows[str(first.id)]["isNoShow"] is False


async def test_cancelling_a_session_cancels_aggregator_bookings_with_an_outbox_row(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    session_id = await studio.session()
    booking = await _reserve(studio, session_id)
    async with studio.database.read() as db:
        before = len(
            list(await db.scalars(select(OutboxItem.id).where(OutboxItem.session_id == session_id)))
        )
    body = await gql(
        client,
        "mutation C($id: ID!) { cancelSession(id: $id) { isCancelled } }",
        {"id": str(session_id)},
        token=studio.token,
    )
    assert body["data"]["cancelSession"]["isCancelled"] is True
    async with studio.database.read() as db:
        row = await db.get(Booking, booking.id)
        outbox = list(
            await db.scalars(
                select(OutboxItem).where(
                    OutboxItem.session_id == session_id,
                    OutboxItem.kind == OutboxKind.SESSION_CHANGED,
                )
            )
        )
    assert row is not None
    assert (row.status, row.cancellation_type) == (
        BookingStatus.CANCELLED,
        CancellationType.SESSION,
    )
    assert len(outbox) == before + 1
    assert outbox[-1].processed_at is None


async def test_no_duplicates_end_to_end_staff_add_the_id_and_merge(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    from tests.aggregators.partner import make_partner, member, pgql

    await connect(studio)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    make = """mutation M($s: ID!, $u: UserInput!) {
      makeReservation(sessionId: $s, user: $u) { id } }"""
    added = await gql(
        client,
        """mutation A($c: ID!) { addCustomerAggregatorId(customerId: $c,
             aggregator: EGYM_WELLPASS, externalId: "member-1") { id } }""",
        {"c": str(studio.customer_id)},
        token=studio.token,
    )
    assert "errors" not in added, added
    first = await pgql(client, partner, make, {"s": str(await studio.session()), "u": member(1)})
    booking_id = first["data"]["makeReservation"]["id"]
    booking = await gql(
        client,
        "query B($id: ID!) { booking(id: $id) { customer { id } } }",
        {"id": booking_id},
        token=studio.token,
    )
    assert booking["data"]["booking"]["customer"]["id"] == str(studio.customer_id)
    # A second member gets a new profile, which staff then merge into a regular customer.
    regular = await studio.customer("Rita", "Regular")
    second = await pgql(client, partner, make, {"s": str(await studio.session()), "u": member(2)})
    created = await gql(
        client,
        "query B($id: ID!) { booking(id: $id) { customer { id } } }",
        {"id": second["data"]["makeReservation"]["id"]},
        token=studio.token,
    )
    merged = await gql(
        client,
        """mutation M($s: ID!, $m: ID!) { mergeCustomers(survivorId: $s, mergedId: $m) {
             aggregatorIds { aggregator externalId } } }""",
        {"s": str(regular), "m": created["data"]["booking"]["customer"]["id"]},
        token=studio.token,
    )
    assert merged["data"]["mergeCustomers"]["aggregatorIds"] == [
        {"aggregator": "EGYM_WELLPASS", "externalId": "member-2"}
    ]
    third = await pgql(
        client, partner, make, {"s": str(await studio.session(days_ahead=4)), "u": member(2)}
    )
    landed = await gql(
        client,
        "query B($id: ID!) { booking(id: $id) { customer { id } } }",
        {"id": third["data"]["makeReservation"]["id"]},
        token=studio.token,
    )
    assert landed["data"]["booking"]["customer"]["id"] == str(regular)
