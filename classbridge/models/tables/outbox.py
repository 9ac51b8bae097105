"""The transactional outbox: what aggregators must learn, written with the change."""

import enum
import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field


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
