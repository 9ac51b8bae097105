"""Cancelling a session: the session and every booking still BOOKED in it, in one step.

Attendance stays: check-ins and no-shows are facts (aggregators pay for visits), so a
cancellation never rewrites them, whether the session has started or not."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from classbridge.models.base import utcnow
from classbridge.models.booking import cancel_live_bookings, expire_waitlist
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.fields import Reason
from classbridge.models.outbox import touch_session
from classbridge.models.session import lock_own_class_session
from classbridge.models.sign_in_events import SignInChange, record_sign_in_event
from classbridge.models.tables.activity import Activity
from classbridge.models.tables.booking import Booking, BookingStatus, CancellationType
from classbridge.models.tables.session import ClassSession
from classbridge.models.validation import check


async def cancel_session(
    *, db: AsyncSession, company_id: uuid.UUID, session_id: uuid.UUID, reason: str | None
) -> ClassSession:
    """Cancel a session: every booking still BOOKED becomes CANCELLED with type SESSION;
    CHECKED_IN and NO_SHOW bookings keep their status."""
    reason = check(Reason, reason, name="reason")
    session = await lock_own_class_session(db=db, company_id=company_id, session_id=session_id)
    if session.is_cancelled:
        raise DomainError(ErrorCode.SESSION_CANCELLED, "the session is already cancelled")
    session.cancelled_at = utcnow()
    session.cancellation_reason = reason
    await cancel_live_bookings(
        db,
        col(Booking.session_id) == session.id,
        CancellationType.SESSION,
        statuses=(BookingStatus.BOOKED,),
    )
    record_sign_in_event(db, SignInChange.SESSION_CANCELLED, session, None)
    await touch_session(db, session)
    await db.flush()
    activity = await db.get(Activity, session.activity_id)
    assert activity is not None
    await expire_waitlist(db=db, session=session, activity=activity)  # they are told
    return session
