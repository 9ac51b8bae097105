"""The email outbox: one row per message, written with the change it announces."""

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, timestamp_field


class EmailMessage(SQLModel, table=True):
    """One email to send; `sent_at` is set once the SMTP server accepted it."""

    __tablename__ = "email_message"

    id: int | None = Field(default=None, primary_key=True)
    company_id: uuid.UUID | None = Field(
        default=None, foreign_key="company.id", index=True, ondelete="CASCADE"
    )
    to_address: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    body: str
    created_at: datetime = created_at_field()
    attempts: int = 0
    # Due for (another) attempt from then on; delivery also pushes it forward while it
    # sends, so two processes never send the same message at once.
    next_attempt_at: datetime = timestamp_field(nullable=False, index=True)
    last_error: str | None = Field(default=None, max_length=2000)
    sent_at: datetime | None = timestamp_field(index=True)
