"""How many SQL statements one booking costs, counted on the engine (deterministic).

Booking is the write every client repeats; its statements are most of its cost. The
bounds (issue 10): a returning member's reservation at most 10 statements, a new member's
at most 13, and a staff booking alike. BEGIN/COMMIT are counted where the driver sends
them as statements (SQLite's BEGIN IMMEDIATE); asyncpg's are protocol messages.
"""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from classbridge.models import booking as booking_model
from classbridge.models import reservation as reservation_model
from classbridge.models.db import Database
from classbridge.models.inputs.customer import Member
from classbridge.models.tables import Aggregator, BookingSource
from tests.aggregators.partner import connect
from tests.studio import Studio

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
