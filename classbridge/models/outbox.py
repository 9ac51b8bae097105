"""The transactional outbox: what the outside world must learn, written with the change.

Rows are inserted in the same transaction as the change they describe, so a rolled-back
change leaves none, and a committed one is never forgotten even if the process dies.
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field
from classbridge.models.db import notify


class OutboxKind(enum.StrEnum):
    SESSION_CHANGED = "SESSION_CHANGED"
    """A session's aggregator-visible state changed: push its newest state."""
    EXTENSION_CHANGED = "EXTENSION_CHANGED"
    """An extension was activated or deactivated: re-send (or withdraw) the schedule."""


class OutboxItem(SQLModel, table=True):
    """One change to push to aggregators; delivery marks it processed."""

    __tablename__ = "outbox_item"

    id: int | None = Field(default=None, primary_key=True)
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    kind: OutboxKind = Field(sa_type=enum_type(OutboxKind))
    session_id: uuid.UUID | None = Field(default=None, index=True)
    aggregator: str | None = Field(default=None, max_length=32)
    created_at: datetime = created_at_field()
    processed_at: datetime | None = timestamp_field(index=True)


@dataclass(frozen=True)
class OutboxWritten:
    """Notice after commit: the outbox has new rows, deliver soon."""

    company_id: uuid.UUID


def add_outbox_items(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    kind: OutboxKind,
    session_ids: list[uuid.UUID] | None = None,
    aggregator: str | None = None,
) -> None:
    """Queue outbox rows in the current transaction and announce them after commit."""
    if session_ids is None:
        db.add(OutboxItem(company_id=company_id, kind=kind, aggregator=aggregator))
    else:
        db.add_all(
            OutboxItem(company_id=company_id, kind=kind, session_id=sid, aggregator=aggregator)
            for sid in session_ids
        )
    notify(db, OutboxWritten(company_id=company_id))


async def record_session_changes(*, db: AsyncSession, activity_id: uuid.UUID) -> None:
    """An activity change that aggregators see: every upcoming session of it changed."""
    # Imported here: the session module builds on activities, which call this.
    from classbridge.models.session import touch_upcoming_sessions

    await touch_upcoming_sessions(db=db, activity_id=activity_id)
