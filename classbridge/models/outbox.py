"""Telling aggregators that something changed: outbox rows and session versions.

Outbox rows are inserted in the same transaction as the change they describe, so a
rolled-back change leaves none, and a committed one is never forgotten even if the process
dies. A change an aggregator can see also grows the session's `version` (and `updated_at`),
so receivers can drop stale updates: `touch_session` for a session row in hand,
`touch_sessions` for many at once; `bump_versions` is the one UPDATE behind both kinds.
"""

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, update

from classbridge.models.base import utcnow
from classbridge.models.db import notify
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.outbox import OutboxItem, OutboxKind
from classbridge.models.tables.session import ClassSession


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
    aggregator: Aggregator | None = None,
) -> None:
    """Queue outbox rows in the current transaction and announce them after commit."""
    name = aggregator.value if aggregator is not None else None
    if session_ids is None:
        db.add(OutboxItem(company_id=company_id, kind=kind, aggregator=name))
    else:
        db.add_all(
            OutboxItem(company_id=company_id, kind=kind, session_id=sid, aggregator=name)
            for sid in session_ids
        )
    notify(db, OutboxWritten(company_id=company_id))


def touch_session(db: AsyncSession, session: ClassSession) -> None:
    """A change aggregators can see, to a session row in hand (held under its lock): new
    version, new `updated_at`, an outbox row."""
    session.version += 1
    session.updated_at = utcnow()
    add_outbox_items(
        db=db,
        company_id=session.company_id,
        kind=OutboxKind.SESSION_CHANGED,
        session_ids=[session.id],
    )


async def bump_versions(
    db: AsyncSession, where: sa.ColumnElement[bool]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Grow `version` and `updated_at` of the matching sessions in one UPDATE; returns
    (session id, company id) of each. Callers decide who is told (an outbox row or not)."""
    rows = await db.execute(
        update(ClassSession)
        .where(where)
        .values(version=ClassSession.version + 1, updated_at=utcnow())
        .returning(col(ClassSession.id), col(ClassSession.company_id))
        .execution_options(synchronize_session="fetch")
    )
    return [(r[0], r[1]) for r in rows]


async def touch_sessions(db: AsyncSession, where: sa.ColumnElement[bool]) -> int:
    """A change aggregators can see, to every matching session: new versions, outbox rows.
    Returns how many sessions changed."""
    changed: dict[uuid.UUID, list[uuid.UUID]] = {}
    for session_id, company_id in await bump_versions(db, where):
        changed.setdefault(company_id, []).append(session_id)
    for company_id, session_ids in changed.items():
        add_outbox_items(
            db=db, company_id=company_id, kind=OutboxKind.SESSION_CHANGED, session_ids=session_ids
        )
    return sum(len(ids) for ids in changed.values())


def upcoming() -> sa.ColumnElement[bool]:
    """Sessions that have not ended yet: the ones aggregators still care about."""
    return col(ClassSession.ends_at) > utcnow()
