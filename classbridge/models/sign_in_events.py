"""Sign-in events: what live dashboards learn after a commit, numbered in commit order.

Every change to a session's sign-in list (booking made, cancelled, checked in, check-in
undone, no-show; the session edited or cancelled) records one `SignInEvent` notice while
the session's row lock is held; `Database.transaction()` hands it to the live publisher
after the commit (classbridge/live/publisher.py).
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.models.db import notify
from classbridge.models.tables.session import ClassSession


class SignInChange(enum.StrEnum):
    BOOKED = "BOOKED"
    CANCELLED = "CANCELLED"
    CHECKED_IN = "CHECKED_IN"
    CHECK_IN_UNDONE = "CHECK_IN_UNDONE"
    NO_SHOW = "NO_SHOW"
    SESSION_UPDATED = "SESSION_UPDATED"
    SESSION_CANCELLED = "SESSION_CANCELLED"
    PROMOTED = "PROMOTED"
    """A waitlist entry became a booking (the event carries the booking)."""
    WAITLIST_CHANGED = "WAITLIST_CHANGED"
    """Someone joined or left the waitlist, or its entries expired."""


@dataclass(frozen=True)
class SignInEvent:
    """Notice after commit: a sign-in list changed (for live dashboards)."""

    change: SignInChange
    company_id: uuid.UUID
    venue_id: uuid.UUID
    session_id: uuid.UUID
    booking_id: uuid.UUID | None
    sequence: int = 0
    """The session's `sign_in_seq` after this change: 1, 2, 3, ... in commit order."""
    moved_from: datetime | None = None
    """SESSION_UPDATED that moved the session: its previous start (UTC)."""


def record_sign_in_event(
    db: AsyncSession,
    change: SignInChange,
    session: ClassSession,
    booking_id: uuid.UUID | None,
    *,
    moved_from: datetime | None = None,
) -> None:
    """Number the event under the session's row lock (every caller holds it), so the
    numbers follow commit order, then record it for after the commit."""
    session.sign_in_seq += 1
    notify(
        db,
        SignInEvent(
            change=change,
            company_id=session.company_id,
            venue_id=session.venue_id,
            session_id=session.id,
            booking_id=booking_id,
            sequence=session.sign_in_seq,
            moved_from=moved_from,
        ),
    )
