"""The email outbox: messages written in the same transaction as the change they announce.

Delivery (classbridge/jobs/email.py) sends them over SMTP after commit and retries with
backoff, so a committed change never loses its email and a rolled-back one sends none.
"""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from classbridge.models.base import utcnow
from classbridge.models.db import notify
from classbridge.models.tables.email import EmailMessage
from classbridge.models.tables.staff import StaffRole, StaffUser


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
        select(StaffUser.email)
        .where(StaffUser.company_id == company_id, StaffUser.role == StaffRole.OWNER)
        .order_by(StaffUser.email)
    )
    return list(rows)
