"""Every change an aggregator can see writes outbox rows in its own transaction, and grows
the session's version; a rolled-back change writes none."""

import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import merge, session_cancellation
from classbridge.models import session as session_model
from classbridge.models.db import Database
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.inputs.session import SessionEdit
from classbridge.models.outbox import OutboxWritten
from classbridge.models.tables import BookingSource, ClassSession, OutboxItem
from tests.studio import Studio


async def outbox_rows(database: Database, sid: uuid.UUID) -> int:
    async with database.read() as db:
        return int(
            await db.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.session_id == sid)
            )
            or 0
        )


async def version(database: Database, sid: uuid.UUID) -> int:
    async with database.read() as db:
        return int(await db.scalar(select(ClassSession.version).where(ClassSession.id == sid)))  # type: ignore[arg-type]


async def book(db: AsyncSession, studio: Studio, sid: uuid.UUID) -> uuid.UUID:
    booking = await booking_model.book(
        db=db,
        company_id=studio.company_id,
        session_id=sid,
        customer_id=studio.customer_id,
        source=BookingSource.STAFF,
        product_id=studio.product_id,
    )
    return booking.id


Change = Callable[[AsyncSession, Studio, uuid.UUID], Awaitable[object]]


def _edit(changes: dict[str, object]) -> Change:
    async def run(db: AsyncSession, studio: Studio, sid: uuid.UUID) -> object:
        return await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=sid, changes=SessionEdit(**changes)
        )

    return run


def _rules(rules: dict[str, object]) -> Change:
    async def run(db: AsyncSession, studio: Studio, sid: uuid.UUID) -> object:
        return await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(**rules),
        )

    return run


CHANGES = {
    "capacity on the session": ({"capacity_override": 3}, "edit"),
    "aggregator setting on the session": (
        {"aggregator_mode": "INDIVIDUAL", "aggregator_allowed": True, "aggregator_limit": 2},
        "edit",
    ),
    "time of the session": ({"duration_minutes": 90}, "edit"),
    "activity enabled for aggregators": ({"allow_aggregator_bookings": True}, "rules"),
    "aggregator limit on the activity": ({"aggregator_limit": 4}, "rules"),
    "capacity on the activity": ({"max_participants": 20}, "rules"),
}


@pytest.mark.parametrize("what", list(CHANGES))
async def test_change_writes_outbox_and_grows_version(studio: Studio, what: str) -> None:
    sid = await studio.session()
    before_rows, before_version = (
        await outbox_rows(studio.database, sid),
        await version(studio.database, sid),
    )
    values, kind = CHANGES[what]
    change = _edit(values) if kind == "edit" else _rules(values)
    async with studio.database.transaction() as db:
        await change(db, studio, sid)
    assert await outbox_rows(studio.database, sid) == before_rows + 1
    assert await version(studio.database, sid) == before_version + 1


async def test_activity_disabled_for_aggregators_writes_outbox(studio: Studio) -> None:
    async with studio.database.transaction() as db:
        await _rules({"allow_aggregator_bookings": True})(db, studio, uuid.uuid4())
    sid = await studio.session()
    before = await outbox_rows(studio.database, sid)
    async with studio.database.transaction() as db:
        await _rules({"allow_aggregator_bookings": False})(db, studio, sid)
    assert await outbox_rows(studio.database, sid) == before + 1


async def test_bookings_cancellations_and_session_cancel_write_outbox(studio: Studio) -> None:
    sid = await studio.session()
    rows = await outbox_rows(studio.database, sid)
    async with studio.database.transaction() as db:
        booking_id = await book(db, studio, sid)
    assert await outbox_rows(studio.database, sid) == rows + 1
    async with studio.database.transaction() as db:
        await booking_model.cancel_booking(
            db=db, company_id=studio.company_id, booking_id=booking_id
        )
    assert await outbox_rows(studio.database, sid) == rows + 2
    async with studio.database.transaction() as db:
        await session_cancellation.cancel_session(
            db=db, company_id=studio.company_id, session_id=sid, reason=None
        )
    assert await outbox_rows(studio.database, sid) == rows + 3


async def test_customer_merge_that_frees_a_spot_writes_outbox(studio: Studio) -> None:
    sid = await studio.session()
    duplicate = await studio.customer("Ada", "Lovelace")
    async with studio.database.transaction() as db:
        await book(db, studio, sid)
        await booking_model.book(
            db=db,
            company_id=studio.company_id,
            session_id=sid,
            customer_id=duplicate,
            source=BookingSource.STAFF,
            product_id=studio.product_id,
        )
    rows, before = await outbox_rows(studio.database, sid), await version(studio.database, sid)
    async with studio.database.transaction() as db:
        await merge.merge_customers(
            db=db, company_id=studio.company_id, survivor_id=studio.customer_id, merged_id=duplicate
        )
    assert await outbox_rows(studio.database, sid) == rows + 1
    assert await version(studio.database, sid) == before + 1


async def test_rolled_back_change_leaves_no_outbox_row_and_tells_no_one(
    studio: Studio, database: Database
) -> None:
    sid = await studio.session()
    rows = await outbox_rows(database, sid)
    heard: list[object] = []

    async def listener(notices: list[object]) -> None:
        heard.extend(notices)

    database.after_commit.add(listener)
    with pytest.raises(RuntimeError):
        async with database.transaction() as db:
            await book(db, studio, sid)
            raise RuntimeError("something after the booking failed")
    await database.after_commit.drain()
    assert await outbox_rows(database, sid) == rows
    assert heard == []

    async with database.transaction() as db:
        await book(db, studio, sid)
    await database.after_commit.drain()
    assert any(isinstance(n, OutboxWritten) for n in heard)
