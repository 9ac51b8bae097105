"""Waitlists over the staff and partner APIs: the rule and its refusals, promotion of the
first eligible entry when a spot frees (cancellation, capacity or aggregator limit raised),
its email and live event, and expiry when the booking window closes."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from classbridge.jobs.waitlist import WaitlistExpiry
from classbridge.models import customer as customer_model
from classbridge.models import waitlist as waitlist_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.inputs.customer import CustomerCreate
from classbridge.models.sign_in_events import SignInChange, SignInEvent
from classbridge.models.tables import (
    Activity,
    Aggregator,
    Booking,
    BookingSource,
    BookingStatus,
    ClassSession,
    EmailMessage,
    ReservationDelivery,
    WaitlistEntry,
    WaitlistStatus,
)
from tests.aggregators.partner import connect, make_partner, member, pgql
from tests.studio import Studio, error_codes, gql

RULES = """
mutation($a: ID!, $i: RegistrationRulesInput!) {
  updateRegistrationRules(activityId: $a, input: $i) { registrationRules { waitlistSize } }
}
"""
EDIT = """
mutation($id: ID!, $i: EditSessionInput!) {
  editSession(id: $id, input: $i) { waitlistSizeOverride counts { booked } }
}
"""
BOOK = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id }
}
"""
CANCEL = "mutation($id: ID!) { cancelBooking(id: $id) { status } }"
JOIN = """
mutation($s: ID!, $c: ID!, $p: ID!) {
  joinWaitlist(sessionId: $s, customerId: $c, productId: $p) {
    id position status source customer { lastName } product { name }
  }
}
"""
LEAVE = "mutation($id: ID!) { leaveWaitlist(id: $id) { id status } }"
SIGN_IN = """
query($s: ID!) { signInList(sessionId: $s) {
  bookings { status customer { lastName } }
  waitlist { position status customer { lastName } } } }
"""
P_JOIN = """
mutation($s: ID!, $u: UserInput!) {
  joinWaitlist(sessionId: $s, user: $u) { id status position userId reservation { id } }
}
"""
P_LEAVE = "mutation($id: ID!) { leaveWaitlist(waitlistEntryId: $id) { id status } }"
P_ENTRIES = """
query($s: ID!) { waitlistEntries(sessionId: $s) {
  id status userId reservation { id status userId } } }
"""
P_RESERVE = "mutation($s: ID!, $u: UserInput!) { makeReservation(sessionId: $s, user: $u) { id } }"
P_CANCEL = "mutation($id: ID!) { cancelReservation(reservationId: $id) { status } }"


async def _customer(studio: Studio, last: str, email: str | None = None) -> str:
    async with studio.database.transaction() as db:
        row = await customer_model.create_customer(
            db=db,
            company_id=studio.company_id,
            customer=CustomerCreate(first_name="Kim", last_name=last, email=email),
        )
    return str(row.id)


async def _staff(client: httpx.AsyncClient, studio: Studio, doc: str, **v: Any) -> dict[str, Any]:
    return await gql(client, doc, v, token=studio.token)


async def _ok(client: httpx.AsyncClient, studio: Studio, doc: str, **v: Any) -> dict[str, Any]:
    body = await _staff(client, studio, doc, **v)
    assert not body.get("errors"), body
    return body["data"]  # type: ignore[no-any-return]


async def _waitlist(studio: Studio, size: int) -> None:
    async with studio.database.transaction() as db:
        await db.execute(
            update(Activity).where(Activity.id == studio.activity_id).values(waitlist_size=size)
        )


def _listen(database: Database) -> list[Any]:
    seen: list[Any] = []

    async def listener(notices: list[Any]) -> None:
        seen.extend(notices)

    database.after_commit.add(listener)
    return seen


async def test_the_rule_refuses_with_codes_and_the_sign_in_list_shows_the_line_in_order(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session = str(await studio.session(capacity=1))
    product = str(studio.product_id)
    grace, alan, edsger = [await _customer(studio, n) for n in ("Hopper", "Turing", "Dijkstra")]
    await _ok(client, studio, BOOK, s=session, c=str(studio.customer_id), p=product)

    off = await _staff(client, studio, JOIN, s=session, c=grace, p=product)
    assert error_codes(off) == ["WAITLIST_OFF"]
    rules = await _ok(client, studio, RULES, a=str(studio.activity_id), i={"waitlistSize": 2})
    assert rules["updateRegistrationRules"]["registrationRules"] == {"waitlistSize": 2}

    booked = await _staff(client, studio, JOIN, s=session, c=str(studio.customer_id), p=product)
    assert error_codes(booked) == ["ALREADY_BOOKED"]
    first = (await _ok(client, studio, JOIN, s=session, c=grace, p=product))["joinWaitlist"]
    assert first["position"] == 1
    assert (first["status"], first["source"], first["product"]["name"]) == (
        "WAITING",
        "STAFF",
        "Drop-in",
    )
    again = await _staff(client, studio, JOIN, s=session, c=grace, p=product)
    assert error_codes(again) == ["ALREADY_ON_WAITLIST"]
    await _ok(client, studio, JOIN, s=session, c=alan, p=product)
    full = await _staff(client, studio, JOIN, s=session, c=edsger, p=product)
    assert error_codes(full) == ["WAITLIST_FULL"]

    listed = (await _ok(client, studio, SIGN_IN, s=session))["signInList"]["waitlist"]
    assert [(w["position"], w["customer"]["lastName"]) for w in listed] == [
        (1, "Hopper"),
        (2, "Turing"),
    ]

    # A per-session override wins over the activity's rule, as the other rules do.
    off_here = await _ok(client, studio, EDIT, id=session, i={"waitlistSizeOverride": 0})
    assert off_here["editSession"]["waitlistSizeOverride"] == 0
    assert error_codes(await _staff(client, studio, JOIN, s=session, c=edsger, p=product)) == [
        "WAITLIST_OFF"
    ]
    free = str(await studio.session(capacity=5, days_ahead=3))
    await _ok(client, studio, EDIT, id=free, i={"waitlistSizeOverride": 3})
    spots = await _staff(client, studio, JOIN, s=free, c=edsger, p=product)
    assert error_codes(spots) == ["SPOTS_AVAILABLE"]


async def test_a_cancellation_books_the_first_in_line_emails_them_and_tells_the_desk(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    await _waitlist(studio, 5)
    session = str(await studio.session(capacity=1))
    product = str(studio.product_id)
    grace = await _customer(studio, "Hopper", "grace@example.com")
    alan = await _customer(studio, "Turing")
    booking = (await _ok(client, studio, BOOK, s=session, c=str(studio.customer_id), p=product))[
        "bookCustomer"
    ]["id"]
    first = (await _ok(client, studio, JOIN, s=session, c=grace, p=product))["joinWaitlist"]
    second = (await _ok(client, studio, JOIN, s=session, c=alan, p=product))["joinWaitlist"]
    seen = _listen(database)

    await _ok(client, studio, CANCEL, id=booking)
    await database.after_commit.drain()

    async with database.read() as db:
        entry = await db.get(WaitlistEntry, uuid.UUID(first["id"]))
        assert entry is not None and entry.status is WaitlistStatus.PROMOTED
        promoted = await db.get(Booking, entry.booking_id)
        assert promoted is not None
        assert (str(promoted.customer_id), str(promoted.product_id), promoted.source) == (
            grace,
            product,
            BookingSource.STAFF,
        )
        mails = list(
            await db.scalars(
                select(EmailMessage).where(EmailMessage.to_address == "grace@example.com")
            )
        )
    assert [m.subject.split(":")[0] for m in mails] == ["You have a place"]
    changes = [n.change for n in seen if isinstance(n, SignInEvent)]
    assert changes == [SignInChange.CANCELLED, SignInChange.PROMOTED]
    promoted_event = [n for n in seen if isinstance(n, SignInEvent)][-1]
    assert promoted_event.booking_id == promoted.id

    lists = (await _ok(client, studio, SIGN_IN, s=session))["signInList"]
    assert [w["customer"]["lastName"] for w in lists["waitlist"]] == ["Turing"]
    left = (await _ok(client, studio, LEAVE, id=second["id"]))["leaveWaitlist"]
    assert left["status"] == "LEFT"
    assert (await _ok(client, studio, LEAVE, id=second["id"]))["leaveWaitlist"] == left
    promoted_entry = await _staff(client, studio, LEAVE, id=first["id"])
    assert error_codes(promoted_entry) == ["INVALID_STATE"]


async def test_raising_capacity_promotes_as_many_as_it_frees_in_order(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await _waitlist(studio, 5)
    session = str(await studio.session(capacity=1))
    product = str(studio.product_id)
    await _ok(client, studio, BOOK, s=session, c=str(studio.customer_id), p=product)
    names = ["A", "B", "C"]
    for name in names:
        await _ok(client, studio, JOIN, s=session, c=await _customer(studio, name), p=product)

    edited = await _ok(client, studio, EDIT, id=session, i={"capacityOverride": 3})
    assert edited["editSession"]["counts"]["booked"] == 3
    lists = (await _ok(client, studio, SIGN_IN, s=session))["signInList"]
    assert sorted(b["customer"]["lastName"] for b in lists["bookings"]) == ["A", "B", "Lovelace"]
    assert [(w["position"], w["customer"]["lastName"]) for w in lists["waitlist"]] == [(3, "C")]


async def test_members_wait_within_the_aggregator_limit_and_see_their_promotion(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio, limit=1)
    await _waitlist(studio, 5)
    session = str(await studio.session(capacity=3))
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    first = await pgql(client, partner, P_RESERVE, {"s": session, "u": member(1)})
    reservation = first["data"]["makeReservation"]["id"]

    # The aggregator's limit is reached although the session has spots: members may wait,
    # the studio's customers book.
    waiting = (await pgql(client, partner, P_JOIN, {"s": session, "u": member(2)}))["data"]
    entry = waiting["joinWaitlist"]
    assert (entry["status"], entry["userId"], entry["reservation"]) == (
        "WAITLIST_ENTRY_STATUS_WAITING",
        "member-2",
        None,
    )
    retry = await pgql(client, partner, P_JOIN, {"s": session, "u": member(2)})
    assert retry["data"]["joinWaitlist"]["id"] == entry["id"]
    third = (await pgql(client, partner, P_JOIN, {"s": session, "u": member(3)}))["data"]
    grace = await _customer(studio, "Hopper")
    spots = await _staff(client, studio, JOIN, s=session, c=grace, p=str(studio.product_id))
    assert error_codes(spots) == ["SPOTS_AVAILABLE"]

    # Another aggregator neither sees nor touches these entries.
    usc = await make_partner(studio.database, Aggregator.URBAN_SPORTS_CLUB)
    foreign = await pgql(client, usc, P_LEAVE, {"id": entry["id"]})
    assert error_codes(foreign) == ["NOT_FOUND"]

    # The member cancels: the aggregator's spot goes to the next member in line.
    await pgql(client, partner, P_CANCEL, {"id": reservation})
    entries = (await pgql(client, partner, P_ENTRIES, {"s": session}))["data"]["waitlistEntries"]
    assert [(e["userId"], e["status"]) for e in entries] == [
        ("member-2", "WAITLIST_ENTRY_STATUS_PROMOTED"),
        ("member-3", "WAITLIST_ENTRY_STATUS_WAITING"),
    ]
    assert entries[0]["reservation"]["status"] == "RESERVATION_STATUS_ENROLLED"
    assert entries[0]["reservation"]["userId"] == "member-2"
    async with studio.database.read() as db:
        made = await db.get(Booking, uuid.UUID(entries[0]["reservation"]["id"]))
    assert made is not None
    assert (made.source, made.aggregator) == (BookingSource.AGGREGATOR, Aggregator.EGYM_WELLPASS)
    # The aggregator never made this reservation: it is owed a reservation event. The
    # member's own cancellation is not (the aggregator made it).
    async with studio.database.read() as db:
        owed = set(await db.scalars(select(ReservationDelivery.booking_id)))
    assert owed == {made.id}

    # Raising the aggregator limit promotes the next member.
    await _ok(client, studio, RULES, a=str(studio.activity_id), i={"aggregatorLimit": 2})
    entries = (await pgql(client, partner, P_ENTRIES, {"s": session}))["data"]["waitlistEntries"]
    assert [e["status"] for e in entries] == ["WAITLIST_ENTRY_STATUS_PROMOTED"] * 2
    assert third["joinWaitlist"]["id"] == entries[1]["id"]
    left = await pgql(client, partner, P_LEAVE, {"id": entries[1]["id"]})
    assert error_codes(left) == ["INVALID_STATE"]


async def test_entries_still_waiting_when_the_window_closes_expire_and_are_told(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    await _waitlist(studio, 5)
    session_id = await studio.session(capacity=1)
    session, product = str(session_id), str(studio.product_id)
    booking = (await _ok(client, studio, BOOK, s=session, c=str(studio.customer_id), p=product))[
        "bookCustomer"
    ]["id"]
    grace = await _customer(studio, "Hopper", "grace@example.com")
    entry = (await _ok(client, studio, JOIN, s=session, c=grace, p=product))["joinWaitlist"]
    async with database.transaction() as db:  # bookings close 60 minutes before the start
        await db.execute(
            update(Activity)
            .where(Activity.id == studio.activity_id)
            .values(booking_closes_minutes=60)
        )
        await db.execute(
            update(ClassSession)
            .where(ClassSession.id == session_id)
            .values(
                starts_at=utcnow() + timedelta(minutes=30),
                ends_at=utcnow() + timedelta(minutes=90),
            )
        )
    # The app's periodic pass (jobs/waitlist.py) expires it: poll with a deadline.
    expiry = WaitlistExpiry(database, every_seconds=0.05)
    expiry.start()
    try:
        async with asyncio.timeout(20):
            while True:
                async with database.read() as db:
                    row = await db.get(WaitlistEntry, uuid.UUID(entry["id"]))
                    if row is not None and row.status is not WaitlistStatus.WAITING:
                        break
                await asyncio.sleep(0.05)
    finally:
        await expiry.stop()
    async with database.transaction() as db:
        assert await waitlist_model.expire_due(db=db) == 0  # told once

    async with database.read() as db:
        row = await db.get(WaitlistEntry, uuid.UUID(entry["id"]))
        mails = list(
            await db.scalars(
                select(EmailMessage.subject).where(EmailMessage.to_address == "grace@example.com")
            )
        )
    assert row is not None and row.status is WaitlistStatus.EXPIRED
    assert [m.split(":")[0] for m in mails] == ["No place this time"]
    # A late cancellation now frees a spot nobody is promoted into.
    await _ok(client, studio, CANCEL, id=booking)
    async with database.read() as db:
        live = list(
            await db.scalars(
                select(Booking).where(
                    Booking.session_id == session_id, Booking.status != BookingStatus.CANCELLED
                )
            )
        )
    assert live == []
