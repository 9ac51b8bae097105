"""Customers' data rights (issue 13.6): exportCustomer returns everything stored about a
customer; eraseCustomer anonymises the profile, keeps the bookings, and is refused while a
booking lies ahead."""

import uuid
from typing import Any

import httpx
from sqlmodel import col, select, update

from classbridge.models import booking as booking_model
from classbridge.models import customer as customer_model
from classbridge.models.tables import (
    Activity,
    Aggregator,
    Booking,
    BookingStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from classbridge.models.tables.audit import AuditEntry
from tests.graph.rows import diff, snapshot
from tests.studio import Studio, error_codes, gql

EXPORT = "query($id: ID!) { exportCustomer(id: $id) }"
ERASE = """
mutation($id: ID!) {
  eraseCustomer(id: $id) {
    id firstName lastName email phone birthday notes street zip city country erasedAt
    aggregatorIds { externalId }
  }
}
"""
UPDATE = """
mutation($id: ID!, $input: CustomerInput!) { updateCustomer(id: $id, input: $input) { id } }
"""
BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id }
}
"""
CANCEL_BOOKING = "mutation($id: ID!) { cancelBooking(id: $id) { status } }"
ADD_MEMBER_ID = """
mutation($id: ID!, $a: Aggregator!, $x: String!) {
  addCustomerAggregatorId(customerId: $id, aggregator: $a, externalId: $x) { id }
}
"""
SESSION = "query($id: ID!) { session(id: $id) { counts { booked } bookings { id status } } }"

PROFILE = {
    "email": "ada@example.com",
    "phone": "+44 20 1234",
    "birthday": "1985-12-10",
    "notes": "Knee injury",
    "street": "St James's Square 12",
    "zip": "SW1Y",
    "city": "London",
    "country": "GB",
}


async def _ok(client: httpx.AsyncClient, studio: Studio, query: str, **variables: Any) -> Any:
    body = await gql(client, query, variables, token=studio.token)
    assert "errors" not in body, body
    return body["data"]


async def _customer_with_history(
    client: httpx.AsyncClient, studio: Studio
) -> tuple[str, str, str, str]:
    """Ada with a full profile, a member id, a past visit and an upcoming booking."""
    ada = str(studio.customer_id)
    await _ok(client, studio, UPDATE, id=ada, input=PROFILE)
    async with studio.database.transaction() as db:
        await customer_model.add_aggregator_id(
            db=db,
            company_id=studio.company_id,
            customer_id=studio.customer_id,
            aggregator=Aggregator.EGYM_WELLPASS,
            external_id="EGYM-42",
        )
    past, ahead = str(await studio.session()), str(await studio.session(days_ahead=3))
    product = str(studio.product_id)
    visit = (await _ok(client, studio, BOOK, s=past, c=ada, p=product))["bookCustomer"]["id"]
    await studio.starts_in(past, -180)  # the class took place three hours ago
    upcoming = (await _ok(client, studio, BOOK, s=ahead, c=ada, p=product))["bookCustomer"]["id"]
    return ada, past, visit, upcoming


async def test_export_returns_profile_aggregator_ids_and_bookings(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    ada, past, visit, upcoming = await _customer_with_history(client, studio)
    exported = (await _ok(client, studio, EXPORT, id=ada))["exportCustomer"]
    assert exported["customer"]["id"] == ada
    assert {k: exported["customer"][k] for k in PROFILE} == PROFILE
    assert (exported["customer"]["firstName"], exported["customer"]["lastName"]) == (
        "Ada",
        "Lovelace",
    )
    assert exported["customer"]["erasedAt"] is None
    assert [(i["aggregator"], i["externalId"]) for i in exported["aggregatorIds"]] == [
        ("EGYM_WELLPASS", "EGYM-42")
    ]
    assert [(b["id"], b["sessionId"], b["status"]) for b in exported["bookings"]] == [
        (visit, past, "BOOKED"),
        (upcoming, exported["bookings"][1]["sessionId"], "BOOKED"),
    ]
    first = exported["bookings"][0]
    assert (first["activity"], first["venue"], first["product"], first["source"]) == (
        "Vinyasa",
        "Yoga Loft Mitte",
        "Drop-in",
        "STAFF",
    )


async def test_erase_is_refused_while_a_booking_lies_ahead_then_anonymises_and_keeps_bookings(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    ada, past, visit, upcoming = await _customer_with_history(client, studio)
    before = await snapshot(studio.database)
    body = await gql(client, ERASE, {"id": ada}, token=studio.token)
    assert body["data"] is None
    assert error_codes(body) == ["CUSTOMER_HAS_UPCOMING_BOOKINGS"]
    assert "1 upcoming booking" in body["errors"][0]["message"]
    after = await snapshot(studio.database)
    assert after == before, diff(before, after)

    await _ok(client, studio, CANCEL_BOOKING, id=upcoming)
    counts_before = (await _ok(client, studio, SESSION, id=past))["session"]
    erased = (await _ok(client, studio, ERASE, id=ada))["eraseCustomer"]
    assert erased["erasedAt"]
    assert {k: v for k, v in erased.items() if k not in ("id", "erasedAt")} == {
        "firstName": "Erased",
        "lastName": "Customer",
        **{k: None for k in PROFILE},
        "aggregatorIds": [],
    }
    # Bookings stay, for the counts and reports (aggregators were paid for the visit).
    assert (await _ok(client, studio, SESSION, id=past))["session"] == counts_before
    exported = (await _ok(client, studio, EXPORT, id=ada))["exportCustomer"]
    assert [b["id"] for b in exported["bookings"]] == [visit, upcoming]
    assert exported["aggregatorIds"] == []
    text = repr(exported)
    for value in [*PROFILE.values(), "Ada", "Lovelace", "EGYM-42"]:
        assert value not in text
    # The audit log has the erasure, without the old personal data anywhere in it.
    async with studio.database.read() as db:
        entries = list(await db.scalars(select(AuditEntry).where(AuditEntry.entity_id == ada)))
    assert "ERASE" in [e.action for e in entries]
    logged = repr([e.changes for e in entries])
    for value in [*PROFILE.values(), "Lovelace"]:
        assert value not in logged
    # Erasing again changes nothing.
    again = (await _ok(client, studio, ERASE, id=ada))["eraseCustomer"]
    assert again["erasedAt"] == erased["erasedAt"]
    # Nobody books, edits or links the erased profile again: refused with a code, nothing
    # written.
    later = str(await studio.session(days_ahead=4))
    before = await snapshot(studio.database)
    attempts = [
        (BOOK, {"s": later, "c": ada, "p": str(studio.product_id)}),
        (UPDATE, {"id": ada, "input": {"email": "ada@example.com"}}),
        (ADD_MEMBER_ID, {"id": ada, "a": "EGYM_WELLPASS", "x": "EGYM-42"}),
    ]
    for query, variables in attempts:
        body = await gql(client, query, variables, token=studio.token)
        assert error_codes(body) == ["CUSTOMER_ERASED"], query
    after = await snapshot(studio.database)
    assert after == before, diff(before, after)


async def test_erase_ends_the_customers_waiting_entries_so_nobody_erased_is_promoted(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    async with studio.database.transaction() as db:
        await db.execute(
            update(Activity).where(col(Activity.id) == studio.activity_id).values(waitlist_size=3)
        )
    full = await studio.session(capacity=1, days_ahead=2)
    other = str(await studio.customer("Bea", "B"))
    product = str(studio.product_id)
    taken = (await _ok(client, studio, BOOK, s=str(full), c=other, p=product))["bookCustomer"]
    entry = await studio.join_waitlist(full)

    await _ok(client, studio, ERASE, id=str(studio.customer_id))
    async with studio.database.transaction() as db:
        await booking_model.cancel_booking(
            db=db, company_id=studio.company_id, booking_id=uuid.UUID(taken["id"])
        )

    async with studio.database.read() as db:
        left = await db.get(WaitlistEntry, entry.id)
        live = (
            await db.scalars(
                select(Booking).where(
                    col(Booking.session_id) == full, col(Booking.status) == BookingStatus.BOOKED
                )
            )
        ).all()
    assert left is not None and left.status is WaitlistStatus.LEFT
    assert live == []  # the freed spot was not given to the erased customer


async def test_only_owners_export_and_erase(client: httpx.AsyncClient, studio: Studio) -> None:
    desk = await studio.desk_token()
    ada = str(studio.customer_id)
    assert error_codes(await gql(client, EXPORT, {"id": ada}, token=desk)) == ["FORBIDDEN"]
    assert error_codes(await gql(client, ERASE, {"id": ada}, token=desk)) == ["FORBIDDEN"]
