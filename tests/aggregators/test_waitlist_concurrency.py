"""200 concurrent reservations, cancellations and waitlist joins from the partner and staff
APIs, against a real server process, on SQLite and PostgreSQL: capacity 20, aggregator
limit 8, waitlist 10. Never more than 20 booked or 8 from aggregators, the waitlist is
promoted strictly in order, and nothing answers 5xx."""

import asyncio
import random
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from classbridge.models import booking as booking_model
from classbridge.models import customer as customer_model
from classbridge.models import reservation as reservation_model
from classbridge.models import waitlist as waitlist_model
from classbridge.models.inputs.customer import CustomerCreate, Member
from classbridge.models.tables import (
    Activity,
    Aggregator,
    Booking,
    BookingSource,
    BookingStatus,
    WaitlistEntry,
    WaitlistStatus,
)
from tests.aggregators.partner import PARTNER_PATH, connect, make_partner, member
from tests.processes import running_server
from tests.studio import Studio

CAPACITY, AGGREGATOR_LIMIT, WAITLIST = 20, 8, 10

BOOK = """mutation($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id } }"""
CANCEL = "mutation($id: ID!) { cancelBooking(id: $id) { id } }"
JOIN = """mutation($s: ID!, $c: ID!, $p: ID!) {
  joinWaitlist(sessionId: $s, customerId: $c, productId: $p) { id } }"""
P_RESERVE = "mutation($s: ID!, $u: UserInput!) { makeReservation(sessionId: $s, user: $u) { id } }"
P_CANCEL = "mutation($id: ID!) { cancelReservation(reservationId: $id) { id } }"
P_JOIN = "mutation($s: ID!, $u: UserInput!) { joinWaitlist(sessionId: $s, user: $u) { id } }"

REFUSALS = {
    "SESSION_FULL",
    "AGGREGATOR_LIMIT_REACHED",
    "WAITLIST_FULL",
    "SPOTS_AVAILABLE",
    "ALREADY_BOOKED",
}


@pytest.mark.timeout(600)
async def test_a_rush_of_bookings_cancellations_and_joins_keeps_every_limit_and_the_order(
    database_url: str, studio: Studio
) -> None:
    await connect(studio, limit=AGGREGATOR_LIMIT)
    async with studio.database.transaction() as db:
        await db.execute(
            update(Activity).where(Activity.id == studio.activity_id).values(waitlist_size=WAITLIST)
        )
    session_id = await studio.session(capacity=CAPACITY)
    s, product = str(session_id), str(studio.product_id)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)

    # Full before the rush: 12 at the desk, 8 members; these are what gets cancelled.
    desk_booked, member_booked = [], []
    async with studio.database.transaction() as db:
        for i in range(CAPACITY - AGGREGATOR_LIMIT):
            customer = await studio_customer(studio, db, f"Booked{i:02d}")
            desk_booked.append(
                (
                    await booking_model.book(
                        db=db,
                        company_id=studio.company_id,
                        session_id=session_id,
                        customer_id=customer,
                        product_id=studio.product_id,
                        source=BookingSource.STAFF,
                    )
                ).id
            )
        for n in range(AGGREGATOR_LIMIT):
            member_booked.append(
                (
                    await reservation_model.make_reservation(
                        db=db,
                        aggregator=Aggregator.EGYM_WELLPASS,
                        session_id=session_id,
                        member=Member(id=f"booked-{n}", first_name="Mia", last_name=f"B{n}"),
                    )
                ).id
            )
    async with studio.database.transaction() as db:
        desk_waiters = [await studio_customer(studio, db, f"Wait{i:02d}") for i in range(64)]
        desk_bookers = [await studio_customer(studio, db, f"Book{i:02d}") for i in range(40)]
    # Some already wait, so the rush's first cancellations promote whatever else happens.
    async with studio.database.transaction() as db:
        for customer in desk_waiters[60:]:
            await waitlist_model.join_waitlist(
                db=db,
                company_id=studio.company_id,
                session_id=session_id,
                customer_id=customer,
                product_id=studio.product_id,
                source=BookingSource.STAFF,
            )
        for n in range(2):
            await reservation_model.join_waitlist(
                db=db,
                aggregator=Aggregator.EGYM_WELLPASS,
                session_id=session_id,
                member=Member(id=f"early-{n}", first_name="Mia", last_name=f"E{n}"),
            )
    desk_waiters = desk_waiters[:60]

    staff_headers, partner_headers = studio.headers(), partner.headers()
    calls: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
    calls += [("/graphql", CANCEL, {"id": str(b)}, staff_headers) for b in desk_booked[:10]]
    calls += [(PARTNER_PATH, P_CANCEL, {"id": str(b)}, partner_headers) for b in member_booked[:5]]
    calls += [
        ("/graphql", JOIN, {"s": s, "c": str(c), "p": product}, staff_headers) for c in desk_waiters
    ]
    calls += [
        (PARTNER_PATH, P_JOIN, {"s": s, "u": member(f"w{n}")}, partner_headers) for n in range(40)
    ]
    calls += [
        ("/graphql", BOOK, {"s": s, "c": str(c), "p": product}, staff_headers) for c in desk_bookers
    ]
    calls += [
        (PARTNER_PATH, P_RESERVE, {"s": s, "u": member(f"r{n}")}, partner_headers)
        for n in range(200 - len(calls))
    ]
    assert len(calls) == 200
    random.Random(14).shuffle(calls)

    async with (
        running_server(database_url) as server,
        httpx.AsyncClient(base_url=server.url, timeout=300) as client,
    ):

        async def call(path: str, doc: str, variables: dict[str, Any], headers: dict[str, str]):  # type: ignore[no-untyped-def]
            response = await client.post(
                path, json={"query": doc, "variables": variables}, headers=headers
            )
            assert response.status_code < 500, response.text
            body = response.json()
            return "ok" if not body.get("errors") else body["errors"][0]["extensions"]["code"]

        outcomes = Counter(await asyncio.gather(*(call(*c) for c in calls)))
    assert set(outcomes) <= {"ok"} | REFUSALS, outcomes

    async with studio.database.read() as db:
        live = list(
            await db.scalars(
                select(Booking).where(
                    Booking.session_id == session_id, Booking.status != BookingStatus.CANCELLED
                )
            )
        )
        entries = list(
            await db.scalars(
                select(WaitlistEntry)
                .where(WaitlistEntry.session_id == session_id)
                .order_by(WaitlistEntry.position)
            )
        )
    from_aggregators = [b for b in live if b.source is BookingSource.AGGREGATOR]
    assert len(live) <= CAPACITY, outcomes
    assert len(from_aggregators) <= AGGREGATOR_LIMIT, outcomes
    assert len([e for e in entries if e.status is WaitlistStatus.WAITING]) <= WAITLIST
    promoted = [e for e in entries if e.status is WaitlistStatus.PROMOTED]
    assert promoted, ("the rush freed spots: someone was promoted", outcomes)
    # Strictly in order: within each kind of entry (the studio's customers, the
    # aggregator's members) none still waits ahead of one that was promoted...
    for aggregator in (None, Aggregator.EGYM_WELLPASS):
        kind = [e for e in entries if e.aggregator is aggregator]
        last_promoted = max(
            (e.position for e in kind if e.status is WaitlistStatus.PROMOTED), default=0
        )
        assert not [
            e.position
            for e in kind
            if e.status is WaitlistStatus.WAITING and e.position < last_promoted
        ], [(e.position, e.status) for e in kind]
    # ...and nobody waits for a spot that is free for them.
    waiting = [e for e in entries if e.status is WaitlistStatus.WAITING]
    if any(e.aggregator is None for e in waiting):
        assert len(live) == CAPACITY
    if any(e.aggregator is not None for e in waiting):
        assert len(live) == CAPACITY or len(from_aggregators) == AGGREGATOR_LIMIT
    # Every promotion is a booking with the entry's product and source.
    by_id = {b.id: b for b in live}
    for entry in promoted:
        booking = by_id.get(entry.booking_id)  # type: ignore[arg-type]
        if booking is not None:  # (it may have been cancelled again since)
            assert (booking.customer_id, booking.source, booking.aggregator) == (
                entry.customer_id,
                entry.source,
                entry.aggregator,
            )


async def studio_customer(studio: Studio, db: Any, last: str) -> Any:
    row = await customer_model.create_customer(
        db=db,
        company_id=studio.company_id,
        customer=CustomerCreate(first_name="Kim", last_name=last),
    )
    return row.id
