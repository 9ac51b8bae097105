"""How many SQL statements one booking costs, counted on the engine (deterministic).

Booking is the write every client repeats; its statements are most of its cost. The
bounds (issue 10): a returning member's reservation at most 10 statements, a new member's
at most 13, and a staff booking alike. BEGIN/COMMIT are counted where the driver sends
them as statements (SQLite's BEGIN IMMEDIATE); asyncpg's are protocol messages.
"""

import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from classbridge.models import booking as booking_model
from classbridge.models import reservation as reservation_model
from classbridge.models.db import Database
from classbridge.models.inputs.customer import Member
from classbridge.models.tables import Aggregator, BookingSource
from tests.aggregators.partner import Partner, connect, make_partner, member, pgql
from tests.studio import Studio, gql

RETURNING_MEMBER_BOUND = 10
NEW_MEMBER_BOUND = 13
STAFF_BOOKING_BOUND = 10


@contextmanager
def statements(database: Database) -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _member(n: str) -> Member:
    return Member(id=f"m-{n}", first_name="Mia", last_name=f"Member{n}", email=f"{n}@ex.com")


async def _reserve(studio: Studio, session_id: uuid.UUID, member: Member) -> list[str]:
    with statements(studio.database) as sent:
        async with studio.database.transaction() as db:
            await reservation_model.make_reservation(
                db=db, aggregator=Aggregator.EGYM_WELLPASS, session_id=session_id, member=member
            )
    return sent


def _show(sent: list[str]) -> str:
    return "\n".join(f"{i + 1:>2}. {s.split(chr(10))[0][:150]}" for i, s in enumerate(sent))


async def test_a_reservation_costs_a_bounded_number_of_statements(studio: Studio) -> None:
    await connect(studio, limit=None)
    first, second = await studio.session(days_ahead=2), await studio.session(days_ahead=3)
    # The member's first reservation creates the profile (and, the first time ever, the
    # aggregator's built-in product: make it exist as it does on any studio in service).
    await _reserve(studio, first, _member("warm-up"))
    new_member = await _reserve(studio, first, _member("new"))
    assert len(new_member) <= NEW_MEMBER_BOUND, _show(new_member)
    returning = await _reserve(studio, second, _member("new"))
    assert len(returning) <= RETURNING_MEMBER_BOUND, _show(returning)
    # A retry of the same reservation returns the existing booking, and costs no more.
    retry = await _reserve(studio, second, _member("new"))
    assert len(retry) <= RETURNING_MEMBER_BOUND, _show(retry)


async def test_a_staff_booking_costs_a_bounded_number_of_statements(studio: Studio) -> None:
    session_id = await studio.session(days_ahead=2)
    with statements(studio.database) as sent:
        async with studio.database.transaction() as db:
            await booking_model.book(
                db=db,
                company_id=studio.company_id,
                session_id=session_id,
                customer_id=studio.customer_id,
                product_id=studio.product_id,
                source=BookingSource.STAFF,
            )
    assert len(sent) <= STAFF_BOOKING_BOUND, _show(sent)


# --- over the API ----------------------------------------------------------------------
# The same bounds for the whole request through the ASGI app: authentication, the domain
# call, the audit log's entries (one INSERT at the commit, a new member's profile
# included) and the response's fields. Left out is only the token lookup, which every
# request pays whatever it does: it opens the request's read session (graph/endpoint.py
# `authenticated_session`), with its BEGIN on SQLite; a query then reads on in it, a
# change ends it before its transaction opens.

PARTNER_MAKE = """
mutation Make($s: ID!, $u: UserInput!) {
  makeReservation(sessionId: $s, user: $u) { id status userId }
}
"""
STAFF_BOOK = """
mutation Book($s: ID!, $c: ID!, $p: ID!) {
  bookCustomer(sessionId: $s, customerId: $c, productId: $p) { id status }
}
"""
_TOKEN_TABLES = ("FROM partner_token", "FROM staff_token")


@contextmanager
def statements_by_connection(database: Database) -> Iterator[list[tuple[int, str]]]:
    """The statements sent inside the block, each with the id of its DBAPI connection."""
    sent: list[tuple[int, str]] = []

    def record(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append((id(conn.connection.dbapi_connection), statement))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _without_token_lookup(sent: list[tuple[int, str]]) -> list[str]:
    """The request's statements without the token lookup (which must be there once, as a
    read of its own: at most a BEGIN before it on the same connection)."""
    lookups = [
        i
        for i, (_, s) in enumerate(sent)
        if s.startswith("SELECT") and any(t in s for t in _TOKEN_TABLES)
    ]
    assert len(lookups) == 1, _show([s for _, s in sent])
    (i,) = lookups
    skip = {i}
    if i > 0 and sent[i - 1][1] == "BEGIN" and sent[i - 1][0] == sent[i][0]:
        skip.add(i - 1)
    return [s for n, (_, s) in enumerate(sent) if n not in skip]


async def _counted(
    studio: Studio, request: Awaitable[dict[str, Any]]
) -> tuple[dict[str, Any], list[str]]:
    """A request's answer (which has no errors) and its statements without the token
    lookup (`request` runs only when awaited, inside the count)."""
    with statements_by_connection(studio.database) as sent:
        body = await request
    assert "errors" not in body, body
    return body, _without_token_lookup(sent)


async def _api_reserve(
    client: httpx.AsyncClient, studio: Studio, partner: Partner, session_id: uuid.UUID, n: str
) -> list[str]:
    variables = {"s": str(session_id), "u": member(n)}
    body, sent = await _counted(studio, pgql(client, partner, PARTNER_MAKE, variables))
    assert body["data"]["makeReservation"]["userId"] == f"member-{n}"
    return sent


async def test_a_reservation_over_the_api_costs_a_bounded_number_of_statements(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio, limit=None)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    first, second = await studio.session(days_ahead=2), await studio.session(days_ahead=3)
    await _api_reserve(client, studio, partner, first, "warm-up")
    new_member = await _api_reserve(client, studio, partner, first, "new")
    assert len(new_member) <= NEW_MEMBER_BOUND, _show(new_member)
    returning = await _api_reserve(client, studio, partner, second, "new")
    assert len(returning) <= RETURNING_MEMBER_BOUND, _show(returning)
    # The audit log wrote its entries in one statement each time, savepoint or not.
    for sent in (new_member, returning):
        assert sum("INSERT INTO audit_entry" in s for s in sent) == 1, _show(sent)


async def test_a_staff_booking_over_the_api_costs_a_bounded_number_of_statements(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = await studio.session(days_ahead=2)
    variables = {"s": str(session_id), "c": str(studio.customer_id), "p": str(studio.product_id)}
    body, booked = await _counted(studio, gql(client, STAFF_BOOK, variables, token=studio.token))
    assert body["data"]["bookCustomer"]["status"] == "BOOKED"
    assert len(booked) <= STAFF_BOOKING_BOUND, _show(booked)
    assert sum("INSERT INTO audit_entry" in s for s in booked) == 1, _show(booked)


# --- a page of the partner schedule ------------------------------------------------------
# What aggregators poll: a constant number of statements whatever the page's size, and
# the sessions read once (the offers are made from the listed rows, not read again).

PARTNER_SCHEDULE = """
query Poll($first: Int!) { sessions(first: $first) { edges { node {
  id name availableSpots totalSpots startv2 updatedAt
  class { id name venue { id } } sport { name } venue { id timezone aggregatorVenueId }
  location { id } address { city }
} } } }
"""
PARTNER_SCHEDULE_BOUND = 6  # SQLite's BEGIN is the token lookup's (left out)


async def _schedule_page(
    client: httpx.AsyncClient, studio: Studio, partner: Partner, sessions: int
) -> list[str]:
    body, sent = await _counted(studio, pgql(client, partner, PARTNER_SCHEDULE, {"first": 100}))
    assert len(body["data"]["sessions"]["edges"]) == sessions
    return sent


async def test_a_partner_schedule_page_costs_the_same_statements_for_any_size(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio, limit=None)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    await studio.session(days_ahead=2)
    one = await _schedule_page(client, studio, partner, 1)
    for days in range(3, 8):
        await studio.session(days_ahead=days)
    six = await _schedule_page(client, studio, partner, 6)
    assert len(six) == len(one) <= PARTNER_SCHEDULE_BOUND, _show(six)
    assert sum("FROM class_session" in s.split("WHERE")[0] for s in six) == 1, _show(six)


# --- a sign-in list -----------------------------------------------------------------------
# What front desks keep open (and what a live dashboard's document executes per event):
# the session with its activity and venue (one statement), the bookings with their
# customers and products (one statement; the counts are counted from them; the
# customers' aggregator ids in it too when selected); the waitlist when the document
# selects it, not otherwise.
SIGN_IN_LIST_BOUND = 2  # SQLite's BEGIN is the token lookup's (left out)

SIGN_IN_LIST = """
query SignIn($id: ID!) { signInList(sessionId: $id) {
  counts { booked capacity } bookings { status customer { lastName } product { name } }
  %s
} }
"""


async def _sign_in_list(
    client: httpx.AsyncClient, studio: Studio, session_id: uuid.UUID, extra: str
) -> list[str]:
    document = SIGN_IN_LIST % extra
    body, sent = await _counted(
        studio, gql(client, document, {"id": str(session_id)}, token=studio.token)
    )
    assert body["data"]["signInList"]["counts"]["booked"] == 1
    return sent


async def test_a_sign_in_list_costs_a_bounded_number_of_statements(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    session_id = await studio.session(days_ahead=2)
    variables = {"s": str(session_id), "c": str(studio.customer_id), "p": str(studio.product_id)}
    assert "errors" not in await gql(client, STAFF_BOOK, variables, token=studio.token)
    without = await _sign_in_list(client, studio, session_id, "")
    with_waitlist = await _sign_in_list(client, studio, session_id, "waitlist { position }")
    assert not any("FROM waitlist_entry" in s for s in without), _show(without)
    assert sum("FROM waitlist_entry" in s for s in with_waitlist) == 1, _show(with_waitlist)
    assert len(with_waitlist) == len(without) + 1, _show(with_waitlist)
    assert len(without) <= SIGN_IN_LIST_BOUND, _show(without)


async def test_a_query_reads_in_the_session_its_token_was_looked_up_in(
    client: httpx.AsyncClient, studio: Studio, backend: str
) -> None:
    """One session per query: the token lookup and the reads share one connection and,
    on SQLite, one BEGIN (they were two sessions, each with its BEGIN and rollback)."""
    session_id = await studio.session(days_ahead=2)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    await connect(studio, limit=None)
    for request in (
        gql(client, SIGN_IN_LIST % "", {"id": str(session_id)}, token=studio.token),
        pgql(client, partner, PARTNER_SCHEDULE, {"first": 100}),
    ):
        with statements_by_connection(studio.database) as sent:
            body = await request
        assert "errors" not in body, body
        assert len({connection for connection, _ in sent}) == 1, _show([s for _, s in sent])
        begins = sum(statement == "BEGIN" for _, statement in sent)
        assert begins == (1 if backend == "sqlite" else 0), _show([s for _, s in sent])
