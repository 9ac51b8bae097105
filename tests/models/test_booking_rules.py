"""Booking rules in models/, without HTTP: capacity, double booking, windows, cancelled/past."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from classbridge.models import activity as activity_model
from classbridge.models import booking as booking_model
from classbridge.models import session_cancellation, tables
from classbridge.models.base import utcnow
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.tables import (
    BookingSource,
    BookingStatus,
    CancellationType,
    ClassSession,
    OutboxItem,
)
from tests.studio import Studio


async def _refused(code: ErrorCode, coro) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as info:
        await coro
    assert info.value.code is code, info.value


async def test_capacity_uses_session_override_then_activity_max(studio: Studio) -> None:
    session_id = await studio.session(capacity=2)
    await studio.book(session_id)
    await studio.book(session_id, await studio.customer("B", "B"))
    await _refused(ErrorCode.SESSION_FULL, studio.book(session_id, await studio.customer()))


async def test_activity_max_applies_without_override(studio: Studio) -> None:
    async with studio.database.transaction() as db:
        await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(max_participants=1),
        )
    session_id = await studio.session()
    await studio.book(session_id)
    await _refused(ErrorCode.SESSION_FULL, studio.book(session_id, await studio.customer()))


async def test_one_live_booking_per_customer_and_rebook_after_cancel(studio: Studio) -> None:
    session_id = await studio.session()
    booking = await studio.book(session_id)
    await _refused(ErrorCode.ALREADY_BOOKED, studio.book(session_id))
    async with studio.database.transaction() as db:
        await booking_model.cancel_booking(
            db=db, company_id=studio.company_id, booking_id=booking.id
        )
    again = await studio.book(session_id)
    assert again.id != booking.id


async def test_booking_window(studio: Studio) -> None:
    async with studio.database.transaction() as db:
        await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(booking_opens_minutes=24 * 60, booking_closes_minutes=60),
        )
    far = await studio.session(days_ahead=5)
    await _refused(ErrorCode.BOOKING_WINDOW_NOT_OPEN, studio.book(far))
    soon = await studio.session(days_ahead=1)
    async with studio.database.transaction() as db:
        # Move it to start in 30 minutes: the window closed 60 minutes before the start.
        start = utcnow() + timedelta(minutes=30)
        await db.execute(
            update(ClassSession)
            .where(ClassSession.id == soon)
            .values(starts_at=start, ends_at=start + timedelta(hours=1))
        )
    await _refused(ErrorCode.BOOKING_WINDOW_CLOSED, studio.book(soon))


async def test_no_booking_on_cancelled_or_past_sessions(studio: Studio) -> None:
    cancelled = await studio.session()
    async with studio.database.transaction() as db:
        await session_cancellation.cancel_session(
            db=db, company_id=studio.company_id, session_id=cancelled, reason="teacher ill"
        )
    await _refused(ErrorCode.SESSION_CANCELLED, studio.book(cancelled))
    past = await studio.session()
    async with studio.database.transaction() as db:
        start = utcnow() - timedelta(hours=3)
        await db.execute(
            update(ClassSession)
            .where(ClassSession.id == past)
            .values(starts_at=start, ends_at=start + timedelta(hours=1))
        )
    await _refused(ErrorCode.SESSION_IN_PAST, studio.book(past))


async def test_cancel_early_or_late_by_free_cancellation_rule(studio: Studio) -> None:
    async with studio.database.transaction() as db:
        await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=studio.activity_id,
            rules=RegistrationRules(free_cancellation_minutes=48 * 60),
        )
    # Whatever the time of day: 18:00 in three days is over 48 h away, tomorrow's under.
    early_session = await studio.session(days_ahead=3)
    late_session = await studio.session(days_ahead=1)
    early = await studio.book(early_session)
    late = await studio.book(late_session)
    async with studio.database.transaction() as db:
        early = await booking_model.cancel_booking(
            db=db, company_id=studio.company_id, booking_id=early.id
        )
        late = await booking_model.cancel_booking(
            db=db, company_id=studio.company_id, booking_id=late.id
        )
    assert early.cancellation_type is CancellationType.EARLY
    assert late.cancellation_type is CancellationType.LATE


async def test_cancel_session_cancels_bookings_and_writes_outbox(studio: Studio) -> None:
    session_id = await studio.session()
    booking = await studio.book(session_id)
    async with studio.database.transaction() as db:
        session = await session_cancellation.cancel_session(
            db=db, company_id=studio.company_id, session_id=session_id, reason=None
        )
        version = session.version
    async with studio.database.read() as db:
        stored = await db.get(tables.Booking, booking.id)
        assert stored is not None
        assert stored.status is BookingStatus.CANCELLED
        assert stored.cancellation_type is CancellationType.SESSION
        rows = (
            await db.scalars(
                OutboxItem.__table__.select().where(OutboxItem.session_id == session_id)  # type: ignore[attr-defined]
            )
        ).all()
    # scheduled, booked, cancelled: three changes an aggregator must learn
    assert len(rows) == 3
    assert version == 3


async def test_rolled_back_booking_leaves_nothing(studio: Studio) -> None:
    session_id = await studio.session()
    with pytest.raises(RuntimeError):
        async with studio.database.transaction() as db:
            await booking_model.book(
                db=db,
                company_id=studio.company_id,
                session_id=session_id,
                customer_id=studio.customer_id,
                product_id=studio.product_id,
                source=BookingSource.STAFF,
            )
            raise RuntimeError("boom")
    async with studio.database.read() as db:
        counts = await booking_model.booking_counts(db=db, session_ids=[session_id])
        outbox = (
            await db.scalars(
                OutboxItem.__table__.select().where(OutboxItem.session_id == session_id)  # type: ignore[attr-defined]
            )
        ).all()
    assert counts[session_id].booked == 0
    assert len(outbox) == 1  # only the scheduling
