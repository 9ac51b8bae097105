"""The email outbox: messages written in the same transaction as the change they announce.

Delivery (classbridge/jobs/email.py) sends them over SMTP after commit and retries with
backoff, so a committed change never loses its email and a rolled-back one sends none.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models import staff as staff_model
from classbridge.models.base import created_at_field, timestamp_field, utcnow
from classbridge.models.db import notify


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


@dataclass(frozen=True)
class EmailQueued:
    """Notice after commit: there are emails to deliver."""

    count: int


def queue_email(
    *, db: AsyncSession, to: list[str], subject: str, body: str, company_id: uuid.UUID | None
) -> list[EmailMessage]:
    """Write one message per recipient into the outbox of the current transaction."""
    now = utcnow()
    messages = [
        EmailMessage(
            company_id=company_id, to_address=a, subject=subject, body=body, next_attempt_at=now
        )
        for a in to
    ]
    db.add_all(messages)
    if messages:
        notify(db, EmailQueued(count=len(messages)))
    return messages


async def owner_addresses(*, db: AsyncSession, company_id: uuid.UUID) -> list[str]:
    """Where studio notices go: every OWNER of the company."""
    rows = await db.scalars(
        select(staff_model.StaffUser.email)
        .where(
            staff_model.StaffUser.company_id == company_id,
            staff_model.StaffUser.role == staff_model.StaffRole.OWNER,
        )
        .order_by(staff_model.StaffUser.email)
    )
    return list(rows)
