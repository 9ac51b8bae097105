"""A constant number of SQL queries per page, rows freed with the response, and oversized
documents refused unexecuted."""

import asyncio
import gc
import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import Row

from classbridge.models import booking as booking_model
from classbridge.models import customer as customer_model
from classbridge.models import session as session_model
from classbridge.models.base import utcnow
from classbridge.models.inputs.customer import CustomerCreate
from classbridge.models.inputs.session import SessionSchedule, WeeklyRepeat
from classbridge.models.localtime import utc_to_local
from classbridge.models.offer import SessionOffer
from classbridge.models.tables import (
    Aggregator,
    Booking,
    BookingSource,
    ClassSession,
    Customer,
    Venue,
)
from tests.aggregators.partner import connect, make_partner, pgql
from tests.conftest import QueryCounter
from tests.studio import Studio, error_codes, gql

SIGN_IN_LIST = """
query($id: ID!) {
  signInList(sessionId: $id) {
    __typename
    session { id localStart activity { name } venue { name timezone } }
    counts { booked capacity available checkedIn }
    bookings {
      id status source cancellationType
      customer { firstName lastName aggregatorIds { aggregator externalId } }
      product { name builtIn }
    }
  }
}
"""
SCHEDULE_PAGE = """
query($first: Int) {
  sessions(first: $first) {
    edges {
      node {
        id localStart localEnd
        activity { name registrationRules { maxParticipants } }
        venue { name }
        counts { booked capacity available }
        bookings { status customer { lastName } product { name } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def _booked_session(studio: Studio, n: int, *, days_ahead: int) -> uuid.UUID:
    """A session with `n` bookings, each by a customer of its own."""
    session_id = await studio.session(days_ahead=days_ahead, capacity=1000)
    async with studio.database.transaction() as db:
        for i in range(n):
            customer = await customer_model.create_customer(
                db=db,
                company_id=studio.company_id,
                customer=CustomerCreate(first_name=f"P{i}", last_name=f"Guest{i:04d}"),
            )
            await booking_model.book(
                db=db,
                company_id=studio.company_id,
                session_id=session_id,
                customer_id=customer.id,
                product_id=studio.product_id,
                source=BookingSource.STAFF,
            )
    return session_id


async def _count(
    client: httpx.AsyncClient, counter: QueryCounter, studio: Studio, query: str, variables: dict
) -> tuple[int, dict]:  # type: ignore[type-arg]
    counter.count = 0
    body = await gql(client, query, variables, token=studio.token)
    assert "errors" not in body, body
    return counter.count, body


async def test_sign_in_list_costs_the_same_for_10_and_200_bookings(
    client: httpx.AsyncClient, studio: Studio, query_counter: QueryCounter
) -> None:
    small = await _booked_session(studio, 10, days_ahead=2)
    large = await _booked_session(studio, 200, days_ahead=3)
    small_count, small_body = await _count(
        client, query_counter, studio, SIGN_IN_LIST, {"id": str(small)}
    )
    large_count, large_body = await _count(
        client, query_counter, studio, SIGN_IN_LIST, {"id": str(large)}
    )
    assert len(small_body["data"]["signInList"]["bookings"]) == 10
    bookings = large_body["data"]["signInList"]["bookings"]
    assert len(bookings) == 200
    assert [b["customer"]["lastName"] for b in bookings] == [f"Guest{i:04d}" for i in range(200)]
    assert large_body["data"]["signInList"]["counts"]["booked"] == 200
    assert large_count == small_count


async def test_aggregator_ids_come_with_the_bookings_each_once_oldest_first(
    client: httpx.AsyncClient, studio: Studio, query_counter: QueryCounter
) -> None:
    """A sign-in list that shows its customers' aggregator ids reads them in the bookings'
    statement (a row per id): no statement of their own, and a customer with two ids and
    two bookings shows each id once, in the order they were added."""
    first, second = [await studio.session(days_ahead=d) for d in (2, 3)]
    ann, ben = await studio.customer("Ann", "A"), await studio.customer("Ben", "B")
    async with studio.database.transaction() as db:
        for aggregator, external_id in (
            (Aggregator.URBAN_SPORTS_CLUB, "usc-1"),
            (Aggregator.EGYM_WELLPASS, "wp-1"),
        ):
            await customer_model.add_aggregator_id(
                db=db,
                company_id=studio.company_id,
                customer_id=ann,
                aggregator=aggregator,
                external_id=external_id,
            )
    for session_id in (first, second):
        for customer_id in (ann, ben):
            await studio.book(session_id, customer_id)
    plain = SIGN_IN_LIST.replace(" aggregatorIds { aggregator externalId }", "")
    without, _ = await _count(client, query_counter, studio, plain, {"id": str(first)})
    count, body = await _count(client, query_counter, studio, SIGN_IN_LIST, {"id": str(first)})
    assert count == without
    shown = [
        (b["customer"]["lastName"], b["customer"]["aggregatorIds"])
        for b in body["data"]["signInList"]["bookings"]
    ]
    ann_ids = [
        {"aggregator": "URBAN_SPORTS_CLUB", "externalId": "usc-1"},
        {"aggregator": "EGYM_WELLPASS", "externalId": "wp-1"},
    ]
    assert shown == [("A", ann_ids), ("B", [])]
    schedule = await gql(
        client,
        "{ sessions(first: 2) { edges { node { bookings { customer {"
        " lastName aggregatorIds { aggregator externalId } } } } } } }",
        token=studio.token,
    )
    assert "errors" not in schedule, schedule
    for edge in schedule["data"]["sessions"]["edges"]:
        listed = [
            (b["customer"]["lastName"], b["customer"]["aggregatorIds"])
            for b in edge["node"]["bookings"]
        ]
        assert listed == [("A", ann_ids), ("B", [])]


async def _fill_schedule(studio: Studio, n: int) -> None:
    """`n` daily sessions, each with two bookings."""
    async with studio.database.transaction() as db:
        venue = await db.get(Venue, studio.venue_id)
        assert venue is not None
        first = utc_to_local(utcnow(), venue.zone).date() + timedelta(days=1)
        sessions = await session_model.schedule_sessions(
            db=db,
            company_id=studio.company_id,
            schedule=SessionSchedule(
                activity_id=studio.activity_id,
                venue_id=studio.venue_id,
                start=datetime(first.year, first.month, first.day, 18),
                repeat=WeeklyRepeat(
                    weekdays=[1, 2, 3, 4, 5, 6, 7], until=first + timedelta(days=n - 1)
                ),
            ),
        )
        second = await customer_model.create_customer(
            db=db,
            company_id=studio.company_id,
            customer=CustomerCreate(first_name="B", last_name="B"),
        )
        for session in sessions:
            for customer_id in (studio.customer_id, second.id):
                await booking_model.book(
                    db=db,
                    company_id=studio.company_id,
                    session_id=session.id,
                    customer_id=customer_id,
                    product_id=studio.product_id,
                    source=BookingSource.STAFF,
                )


async def test_schedule_page_costs_the_same_for_10_and_100_sessions_and_for_200(
    client: httpx.AsyncClient, studio: Studio, query_counter: QueryCounter
) -> None:
    await _fill_schedule(studio, 200)
    small_count, small = await _count(client, query_counter, studio, SCHEDULE_PAGE, {"first": 10})
    large_count, large = await _count(client, query_counter, studio, SCHEDULE_PAGE, {"first": 100})
    assert len(small["data"]["sessions"]["edges"]) == 10
    edges = large["data"]["sessions"]["edges"]
    assert len(edges) == 100  # the largest page there is
    assert all(len(e["node"]["bookings"]) == 2 for e in edges)
    assert all(e["node"]["counts"]["booked"] == 2 for e in edges)
    assert large_count == small_count
    # All 200 sessions over two full pages: twice the cost of one, not 200 times anything.
    query_counter.count = 0
    after = large["data"]["sessions"]["pageInfo"]["endCursor"]
    body = await gql(
        client,
        SCHEDULE_PAGE.replace(
            "sessions(first: $first)", "sessions(first: $first, after: $after)"
        ).replace("query($first: Int)", "query($first: Int, $after: String)"),
        {"first": 100, "after": after},
        token=studio.token,
    )
    assert len(body["data"]["sessions"]["edges"]) == 100
    assert query_counter.count == large_count


PARTNER_PAGE = """{ sessions(first: 10) { edges { node {
  id name availableSpots class { name } venue { timezone } room { name }
} } } }"""


@pytest.mark.parametrize("page", ["sign-in list", "schedule", "partner schedule"])
async def test_a_pages_rows_are_freed_with_its_response(
    client: httpx.AsyncClient, studio: Studio, page: str
) -> None:
    """Reference counting frees them as soon as the response is sent: left to the cyclic
    collector (a request's loaders and its context reference each other), every page's
    rows were traced again by its older-generation passes, a fifth of a busy server's
    time."""
    session_id = await _booked_session(studio, 20, days_ahead=2)
    if page == "partner schedule":
        await connect(studio, limit=None)
        partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
        request = pgql(client, partner, PARTNER_PAGE)
    else:
        query, variables = (
            (SIGN_IN_LIST, {"id": str(session_id)})
            if page == "sign-in list"
            else (SCHEDULE_PAGE, {"first": 10})
        )
        request = gql(client, query, variables, token=studio.token)
    kept = (Booking, Customer, ClassSession, SessionOffer, Row)  # entities, plain rows
    gc.collect()
    # Held, so that no object of the request can take one of their ids.
    earlier = [o for o in gc.get_objects() if isinstance(o, kept)]
    known = {id(o) for o in earlier}
    gc.disable()  # nothing is freed but by reference counting
    try:
        body = await request
        # The callbacks the response left queued (a finished load waking its waiter) run.
        await asyncio.sleep(0)
        left = [o for o in gc.get_objects() if isinstance(o, kept) and id(o) not in known]
    finally:
        gc.enable()
    assert "errors" not in body, body
    # The page did load rows: bookings and their customers, or the partner's sessions.
    assert "Guest0000" in str(body) or str(session_id) in str(body), body
    assert left == []


def _nested(depth: int) -> str:
    inner = "id"
    for _ in range(depth):
        inner = f"session {{ bookings {{ {inner} }} }}"
    return f'{{ booking(id: "{uuid.uuid4()}") {{ {inner} }} }}'


OVERSIZED = {
    "depth": _nested(8),
    "tokens": "{ me { " + " ".join(["id"] * 2100) + " } }",
    "aliases": "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(31)) + " }",
}


@pytest.mark.parametrize("limit", sorted(OVERSIZED))
async def test_oversized_documents_are_refused_before_any_sql(
    client: httpx.AsyncClient, studio: Studio, query_counter: QueryCounter, limit: str
) -> None:
    document = OVERSIZED[limit]
    query_counter.count = 0
    body = await gql(client, document)  # no token: nothing but the document itself
    assert body["data"] is None
    # Too long to parse, or (parsed) not the sign-in a request without a token may send.
    assert error_codes(body) == ["QUERY_TOO_COMPLEX" if limit == "tokens" else "UNAUTHENTICATED"]
    assert query_counter.count == 0
    # With a token, only the token lookup runs: the same as for a document that cannot parse.
    query_counter.count = 0
    await gql(client, "{ me {", token=studio.token)
    token_lookup = query_counter.count
    query_counter.count = 0
    body = await gql(client, document, token=studio.token)
    assert error_codes(body) == ["QUERY_TOO_COMPLEX"], body
    assert query_counter.count == token_lookup


async def test_documents_within_the_limits_run(client: httpx.AsyncClient, studio: Studio) -> None:
    body = await gql(
        client, "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(30)) + " }", token=studio.token
    )
    assert len(body["data"]) == 30
