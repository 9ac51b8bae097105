"""Reservations by an aggregator's member, through the one booking function."""

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from classbridge.models import customer as customer_model
from classbridge.models import merge, tables
from classbridge.models import reservation as reservation_model
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.inputs.activity import ActivityCreate
from classbridge.models.inputs.customer import Member
from classbridge.models.tables import (
    Aggregator,
    Booking,
    BookingSource,
    BookingStatus,
    CancellationType,
    Customer,
    CustomerAggregatorId,
)
from tests.aggregators.partner import connect
from tests.studio import Studio

EGYM = Aggregator.EGYM_WELLPASS


def mia(n: int = 1) -> Member:
    return Member(id=f"m-{n}", first_name="Mia", last_name=f"Member{n}", email=f"m{n}@ex.com")


async def reserve(studio: Studio, session_id: uuid.UUID, who: Member, **kw: object) -> Booking:
    async with studio.database.transaction() as db:
        return await reservation_model.make_reservation(
            db=db,
            aggregator=kw.pop("aggregator", EGYM),
            session_id=session_id,
            member=who,
            **kw,  # type: ignore[arg-type]
        )


async def count(studio: Studio, model: type) -> int:
    async with studio.database.read() as db:
        return await db.scalar(select(func.count()).select_from(model)) or 0


async def test_first_reservation_creates_the_profile_and_books_with_the_built_in_product(
    studio: Studio,
) -> None:
    await connect(studio)
    session_id = await studio.session()
    booking = await reserve(studio, session_id, mia())
    assert booking.source is BookingSource.AGGREGATOR and booking.aggregator is EGYM
    async with studio.database.read() as db:
        customer = await db.get(Customer, booking.customer_id)
        product = await db.get(tables.Product, booking.product_id)
        found = await customer_model.find_by_aggregator_id(
            db=db, company_id=studio.company_id, aggregator=EGYM, external_id="m-1"
        )
    assert customer is not None and customer.email == "m1@ex.com"
    assert found is not None and found.id == customer.id
    assert product is not None and product.name == "EGYM Wellpass"


async def test_a_retry_returns_the_same_reservation_and_books_nothing_twice(
    studio: Studio,
) -> None:
    await connect(studio)
    session_id = await studio.session()
    first = await reserve(studio, session_id, mia())
    again = await reserve(studio, session_id, mia())
    assert again.id == first.id
    assert await count(studio, Booking) == 1
    # Another session: the same profile is reused.
    other = await reserve(studio, await studio.session(days_ahead=3), mia())
    assert other.customer_id == first.customer_id
    assert await count(studio, CustomerAggregatorId) == 1


async def test_the_same_new_member_racing_into_two_sessions_gets_one_profile(
    studio: Studio,
) -> None:
    await connect(studio)
    sessions = [await studio.session(days_ahead=d) for d in (2, 3, 4, 5)]
    bookings = await asyncio.gather(*(reserve(studio, s, mia(7)) for s in sessions))
    assert len({b.customer_id for b in bookings}) == 1
    async with studio.database.read() as db:
        profiles = await db.scalar(
            select(func.count()).select_from(Customer).where(Customer.last_name == "Member7")
        )
    assert profiles == 1


async def test_rules_apply_limit_capacity_and_offer(studio: Studio) -> None:
    await connect(studio, limit=1)
    session_id = await studio.session(capacity=2)
    await reserve(studio, session_id, mia(1))
    with pytest.raises(DomainError) as refused:
        await reserve(studio, session_id, mia(2))
    assert refused.value.code is ErrorCode.AGGREGATOR_LIMIT_REACHED
    # A session of an activity that is not offered to aggregators.
    async with studio.database.transaction() as db:
        from classbridge.models import activity as activity_model

        closed = await activity_model.create_activity(
            db=db, company_id=studio.company_id, activity=ActivityCreate(name="Private")
        )
    closed_session = await studio.session(activity_id=closed.id)
    with pytest.raises(DomainError) as refused:
        await reserve(studio, closed_session, mia(3))
    assert refused.value.code is ErrorCode.NOT_BOOKABLE_BY_AGGREGATOR
    # Another aggregator, not connected: the session does not exist for it.
    with pytest.raises(DomainError) as refused:
        await reserve(studio, session_id, mia(4), aggregator=Aggregator.CLASSPASS)
    assert refused.value.code is ErrorCode.NOT_FOUND


async def test_cancel_early_late_by_rule_and_twice_is_a_no_op(studio: Studio) -> None:
    await connect(studio)
    session_id = await studio.session()
    booking = await reserve(studio, session_id, mia(1))
    late = await reserve(studio, session_id, mia(2))
    by_rule = await reserve(studio, session_id, mia(3))
    for b, flag in ((booking, False), (late, True), (by_rule, None)):
        for _ in range(2):
            async with studio.database.transaction() as db:
                done = await reservation_model.cancel_reservation(
                    db=db, aggregator=EGYM, reservation_id=b.id, late=flag
                )
            assert done.status is BookingStatus.CANCELLED
    async with studio.database.read() as db:
        kinds = {
            b.id: (await db.get(Booking, b.id)).cancellation_type  # type: ignore[union-attr]
            for b in (booking, late, by_rule)
        }
    assert kinds == {
        booking.id: CancellationType.EARLY,
        late.id: CancellationType.LATE,
        by_rule.id: CancellationType.EARLY,  # two days ahead, no late window
    }
    # Another aggregator cannot touch it.
    with pytest.raises(DomainError) as refused:
        async with studio.database.transaction() as db:
            await reservation_model.cancel_reservation(
                db=db, aggregator=Aggregator.CLASSPASS, reservation_id=booking.id
            )
    assert refused.value.code is ErrorCode.NOT_FOUND


async def test_check_in_and_checked_in_on_reservation(studio: Studio) -> None:
    await connect(studio)
    session_id = await studio.session()
    booking = await reserve(studio, session_id, mia(1))
    with pytest.raises(DomainError) as refused:
        await reserve(studio, session_id, mia(2), checked_in=True)
    assert refused.value.code is ErrorCode.CHECK_IN_NOT_OPEN
    await studio.starts_in(session_id, 30)
    async with studio.database.transaction() as db:
        done = await reservation_model.check_in_reservation(
            db=db, aggregator=EGYM, reservation_id=booking.id
        )
    assert done.status is BookingStatus.CHECKED_IN
    direct = await reserve(studio, session_id, mia(2), checked_in=True)
    assert direct.status is BookingStatus.CHECKED_IN


async def test_an_id_added_by_staff_lands_the_next_reservation_on_that_profile(
    studio: Studio,
) -> None:
    await connect(studio)
    async with studio.database.transaction() as db:
        await customer_model.add_aggregator_id(
            db=db,
            company_id=studio.company_id,
            customer_id=studio.customer_id,
            aggregator=EGYM,
            external_id="m-1",
        )
    customers = await count(studio, Customer)
    booking = await reserve(studio, await studio.session(), mia(1))
    assert booking.customer_id == studio.customer_id
    assert await count(studio, Customer) == customers


async def test_after_a_merge_the_id_follows_to_the_survivor(studio: Studio) -> None:
    await connect(studio)
    first = await reserve(studio, await studio.session(), mia(1))
    async with studio.database.transaction() as db:
        await merge.merge_customers(
            db=db,
            company_id=studio.company_id,
            survivor_id=studio.customer_id,
            merged_id=first.customer_id,
        )
    customers = await count(studio, Customer)
    booking = await reserve(studio, await studio.session(days_ahead=3), mia(1))
    assert booking.customer_id == studio.customer_id
    assert await count(studio, Customer) == customers
    # The earlier reservation moved too and is still found as the same one.
    again = await reserve(studio, first.session_id, mia(1))
    assert again.id == first.id


async def test_concurrent_retries_of_a_new_member_book_once(studio: Studio) -> None:
    await connect(studio)
    session_id = await studio.session()
    bookings = await asyncio.gather(*(reserve(studio, session_id, mia(5)) for _ in range(6)))
    assert len({b.id for b in bookings}) == 1
    assert await count(studio, Booking) == 1
    assert await count(studio, CustomerAggregatorId) == 1
