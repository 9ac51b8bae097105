"""The audit log: every change a staff member or an aggregator makes, recorded in the same
transaction — without domain operations having to call anything.

Whoever opens a transaction on someone's behalf names them once with `act_as(db, actor)`
(graph/context.py does, for every staff and partner request). From then on SQLAlchemy's
session events watch that transaction:

- before each flush: the ORM objects added, changed and deleted, with each changed
  column's value before and after;
- ORM bulk UPDATE/DELETE statements (`db.execute(update(Booking).where(...))`): the rows
  they match are read before and after the statement;
- before the commit: the changes are merged per entity (a row created and then changed is
  one CREATE with its final values; a change undone, or made in a savepoint that was rolled
  back, is nothing) and written as `audit_entry` rows in the same transaction, in one
  INSERT (a released savepoint's changes wait for the outer commit). A refused
  (rolled-back) change therefore leaves no entry, and a committed one always has its entry.

So a new operation is audited by being run in such a transaction. What an operation may add:
`name_change(db, row, "ERASE")` names its change instead of UPDATE, `hide_values(db, row)`
keeps the changed fields' names but not their values, `forget_values(...)` scrubs the values
of an entity's earlier entries (erasure), and `record(...)` writes an entry for something the
events cannot see (a Core statement on a table, a change without a row). Bookkeeping tables
(outbox, push, email, tokens) and bookkeeping columns (created/updated timestamps, versions,
sequence numbers) are not recorded; secret columns (`*_hash`, `*_digest`, `*secret*`) appear
as "[secret]". Transactions without an actor (jobs, the CLI) are not audited.
"""

import enum
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper, ORMExecuteState, Session
from sqlmodel import col, select

from classbridge.models.base import utcnow
from classbridge.models.inputs.audit import AuditFilter
from classbridge.models.keyset import before_key
from classbridge.models.tables import (
    AuditAction,
    AuditActorKind,
    AuditEntry,
    Company,
    StaffUser,
    Venue,
)

_KEY = "audit"
NOT_RECORDED_TABLES = frozenset(
    {
        "audit_entry",
        "outbox_item",
        "push_delivery",
        "email_message",
        "staff_token",
        "staff_password_reset",
    }
)
NOT_RECORDED_COLUMNS = frozenset({"created_at", "updated_at", "version", "sign_in_seq"})
SECRET = "[secret]"
HIDDEN = "[hidden]"
ERASED = "[erased]"


@dataclass(frozen=True)
class AuditActor:
    """Who a transaction acts for. `label` is filled in from the staff account if not given;
    `company_id` is the company of entries whose rows do not name one."""

    kind: AuditActorKind
    id: uuid.UUID
    label: str | None = None
    company_id: uuid.UUID | None = None


@dataclass
class _Change:
    entity_type: str
    entity_id: str
    action: str
    company_id: uuid.UUID | None
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    row: Any = None  # the ORM object, when there is one (savepoint rollbacks, company)


@dataclass
class _Audit:
    actor: AuditActor
    transaction_id: uuid.UUID = field(default_factory=uuid.uuid4)
    changes: dict[tuple[str, str], _Change] = field(default_factory=dict)
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    hidden: set[tuple[str, str]] = field(default_factory=set)
    extra: list[AuditEntry] = field(default_factory=list)


def act_as(db: AsyncSession, actor: AuditActor | None) -> None:
    """Record every change of this transaction as made by `actor` (None: not audited)."""
    if actor is None:
        db.info.pop(_KEY, None)
    else:
        db.info[_KEY] = _Audit(actor=actor)


def name_change(db: AsyncSession, row: Any, action: str) -> None:
    """Record this row's change under `action` (e.g. "ERASE") instead of UPDATE."""
    audit = db.info.get(_KEY)
    if audit is not None:
        audit.names[_key(row)] = action


def hide_values(db: AsyncSession, row: Any) -> None:
    """Record which fields of this row changed, but not their values (personal data)."""
    audit = db.info.get(_KEY)
    if audit is not None:
        audit.hidden.add(_key(row))


async def forget_values(db: AsyncSession, *, entity_type: str, entity_id: uuid.UUID | str) -> int:
    """Replace the values in an entity's earlier entries by "[erased]" (who changed which
    field when stays); how many entries were scrubbed."""
    entries = await db.scalars(
        select(AuditEntry).where(
            AuditEntry.entity_type == entity_type, AuditEntry.entity_id == str(entity_id)
        )
    )
    count = 0
    for entry in entries:
        entry.changes = {
            name: {side: ERASED if value is not None else None for side, value in sides.items()}
            for name, sides in entry.changes.items()
        }
        count += 1
    await db.flush()
    return count


def record(
    db: AsyncSession,
    *,
    company_id: uuid.UUID,
    entity_type: str,
    entity_id: uuid.UUID | str,
    action: str,
    changes: dict[str, tuple[Any, Any]] | None = None,
) -> None:
    """Record a change the session events cannot see (a Core statement, an event without a
    row), as the transaction's actor; `changes` is {field: (before, after)}."""
    audit = db.info.get(_KEY)
    if audit is None:
        return
    audit.extra.append(
        _entry(
            audit,
            company_id=company_id,
            entity_type=entity_type,
            entity_id=str(entity_id),
            action=action,
            changes={
                k: {"before": _plain(b), "after": _plain(a)}
                for k, (b, a) in (changes or {}).items()
            },
            at=None,
        )
    )


# --- the session events ----------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A JSON value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, dict | list):
        return value
    return str(value)


def _secret(column: str) -> bool:
    return column.endswith(("_hash", "_digest")) or "secret" in column


def _columns(mapper: Mapper[Any]) -> list[str]:
    return [a.key for a in mapper.column_attrs if a.key not in NOT_RECORDED_COLUMNS]


def _key(row: Any) -> tuple[str, str]:
    mapper = inspect(row).mapper
    pk = mapper.primary_key_from_instance(row)
    return mapper.local_table.name, ",".join(str(v) for v in pk)


def _values(row: Any, mapper: Mapper[Any]) -> dict[str, Any]:
    return {name: _plain(getattr(row, name)) for name in _columns(mapper)}


def _audited(session: Session) -> _Audit | None:
    audit = session.info.get(_KEY)
    return audit if isinstance(audit, _Audit) else None


def _created(audit: _Audit, key: tuple[str, str], row: Any, values: dict[str, Any]) -> None:
    audit.changes[key] = _Change(key[0], key[1], AuditAction.CREATE, None, {}, values, row)


def _updated(
    audit: _Audit, key: tuple[str, str], row: Any, before: dict[str, Any], after: dict[str, Any]
) -> None:
    change = audit.changes.get(key)
    if change is None:
        change = audit.changes[key] = _Change(key[0], key[1], AuditAction.UPDATE, None)
    if change.row is None:
        change.row = row
    for name, value in after.items():
        if change.action != AuditAction.CREATE:
            change.before.setdefault(name, before.get(name))
        change.after[name] = value


def _deleted(audit: _Audit, key: tuple[str, str], row: Any, values: dict[str, Any]) -> None:
    change = audit.changes.get(key)
    if change is not None and change.action == AuditAction.CREATE:
        del audit.changes[key]  # created and deleted in one transaction: nothing happened
        return
    earlier = change.before if change is not None else {}
    company = values.get("company_id")
    audit.changes[key] = _Change(
        key[0],
        key[1],
        AuditAction.DELETE,
        uuid.UUID(company) if isinstance(company, str) else None,
        {**values, **earlier},
        {},
        row,
    )


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    audit = _audited(session)
    if audit is None:
        return
    for row in session.new:
        mapper = inspect(row).mapper
        if mapper.local_table.name not in NOT_RECORDED_TABLES:
            _created(audit, _key(row), row, _values(row, mapper))
    for row in session.dirty:
        state = inspect(row)
        if state.mapper.local_table.name in NOT_RECORDED_TABLES:
            continue
        before, after = {}, {}
        for name in _columns(state.mapper):
            history = state.attrs[name].history
            if history.added or history.deleted:
                before[name] = _plain(history.deleted[0]) if history.deleted else None
                after[name] = _plain(history.added[0]) if history.added else None
        if after:
            _updated(audit, _key(row), row, before, after)
    for row in session.deleted:
        mapper = inspect(row).mapper
        if mapper.local_table.name not in NOT_RECORDED_TABLES:
            _deleted(audit, _key(row), row, _values(row, mapper))


@event.listens_for(Session, "do_orm_execute")
def _bulk(state: ORMExecuteState) -> Any:
    """ORM bulk UPDATE/DELETE: read the matching rows before, and after by primary key."""
    if not (state.is_update or state.is_delete):
        return None
    audit = _audited(state.session)
    mapper = state.bind_mapper
    if audit is None or mapper is None:
        return None
    table = mapper.local_table
    assert isinstance(table, sa.Table)  # every mapped class here is one table
    if table.name in NOT_RECORDED_TABLES:
        return None
    pk = list(table.primary_key.columns)
    statement: Any = state.statement
    matching = sa.select(*table.columns)
    if statement.whereclause is not None:
        matching = matching.where(statement.whereclause)
    rows_before = state.session.execute(matching).mappings().all()
    result = state.invoke_statement()
    names = [c.name for c in table.columns if c.name not in NOT_RECORDED_COLUMNS]
    if state.is_delete:
        for row in rows_before:
            key = (table.name, ",".join(str(row[c.name]) for c in pk))
            _deleted(audit, key, None, {n: _plain(row[n]) for n in names})
        return result
    if rows_before:
        ids = [row[pk[0].name] for row in rows_before]
        rows_after = {
            r[pk[0].name]: r
            for r in state.session.execute(
                sa.select(*table.columns).where(pk[0].in_(ids))
            ).mappings()
        }
        for row in rows_before:
            now = rows_after.get(row[pk[0].name])
            if now is None:
                continue
            before = {n: _plain(row[n]) for n in names if row[n] != now[n]}
            after = {n: _plain(now[n]) for n in before}
            if after:
                key = (table.name, str(row[pk[0].name]))
                _updated(audit, key, None, before, after)
                change = audit.changes[key]
                if change.company_id is None and "company_id" in row:
                    change.company_id = row["company_id"]
    return result


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    audit = _audited(session)
    if audit is None or session.in_nested_transaction():
        # A savepoint being released: its changes stay collected (the flush that releases
        # it shows them to _before_flush) and are written with the outer transaction's
        # entries, in its one INSERT; a savepoint rolled back later drops them (_finish).
        return
    session.flush()  # the changes the commit would flush, seen by _before_flush first
    if audit.actor.label is None and audit.actor.kind is AuditActorKind.STAFF:
        user = session.get(StaffUser, audit.actor.id)
        audit.actor = replace(audit.actor, label=user.email if user is not None else "")
    at = utcnow()
    entries = [e for e in (_finish(session, audit, c, at) for c in audit.changes.values()) if e]
    for entry in audit.extra:
        entry.at = at
    session.add_all([*entries, *audit.extra])
    audit.changes.clear()
    audit.extra.clear()


def _finish(session: Session, audit: _Audit, change: _Change, at: datetime) -> AuditEntry | None:
    key = (change.entity_type, change.entity_id)
    row = change.row
    if change.action != AuditAction.DELETE and row is not None:
        state = inspect(row)
        if not state.persistent:
            return None  # added in a savepoint that was rolled back
        if change.action == AuditAction.UPDATE:
            # Values as committed now (a rolled-back savepoint restored some).
            change.after = {n: _plain(getattr(row, n)) for n in change.after}
        else:
            change.after = _values(row, state.mapper)
    if change.action == AuditAction.UPDATE:
        changed = {n for n in change.after if change.after[n] != change.before.get(n)}
    elif change.action == AuditAction.CREATE:
        changed = {n for n, v in change.after.items() if v is not None}
    else:
        changed = {n for n, v in change.before.items() if v is not None}
    if not changed:
        return None
    hidden = key in audit.hidden
    changes = {}
    for name in sorted(changed):
        sides = {}
        for side, values in (("before", change.before), ("after", change.after)):
            if change.action == AuditAction.CREATE and side == "before":
                continue
            if change.action == AuditAction.DELETE and side == "after":
                continue
            value = values.get(name)
            if value is not None and _secret(name):
                value = SECRET
            elif value is not None and hidden:
                value = HIDDEN
            sides[side] = value
        changes[name] = sides
    company_id = change.company_id or _company_of(session, row, change) or audit.actor.company_id
    if company_id is None:
        return None
    return _entry(
        audit,
        company_id=uuid.UUID(str(company_id)),
        entity_type=change.entity_type,
        entity_id=change.entity_id,
        action=audit.names.get(key, change.action),
        changes=changes,
        at=at,
    )


def _company_of(session: Session, row: Any, change: _Change) -> uuid.UUID | None:
    values = change.after or change.before
    if isinstance(row, Company) or change.entity_type == Company.__tablename__:
        return uuid.UUID(change.entity_id)
    company = getattr(row, "company_id", None) or values.get("company_id")
    if company is not None:
        return uuid.UUID(str(company))
    venue_id = getattr(row, "venue_id", None) or values.get("venue_id")
    if venue_id is not None:
        venue = session.get(Venue, uuid.UUID(str(venue_id)))
        return venue.company_id if venue is not None else None
    return None


def _entry(
    audit: _Audit,
    *,
    company_id: uuid.UUID,
    entity_type: str,
    entity_id: str,
    action: str,
    changes: dict[str, Any],
    at: datetime | None,
) -> AuditEntry:
    actor = audit.actor
    return AuditEntry(
        company_id=company_id,
        at=at or utcnow(),
        transaction_id=audit.transaction_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=(actor.label or "")[:300],
        entity_type=entity_type,
        entity_id=entity_id[:64],
        action=action,
        changes=changes,
    )


# --- reading ---------------------------------------------------------------------------


async def list_entries(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    where: AuditFilter,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[AuditEntry]:
    """The company's entries, newest first, after a keyset cursor."""
    query = select(AuditEntry).where(AuditEntry.company_id == company_id)
    if where.entity_type is not None:
        query = query.where(AuditEntry.entity_type == where.entity_type)
    if where.entity_id is not None:
        query = query.where(AuditEntry.entity_id == where.entity_id)
    if where.actor_id is not None:
        query = query.where(AuditEntry.actor_id == where.actor_id)
    if where.from_time is not None:
        query = query.where(AuditEntry.at >= where.from_time)
    if where.to_time is not None:
        query = query.where(AuditEntry.at < where.to_time)
    if after is not None:
        query = query.where(before_key([col(AuditEntry.at), col(AuditEntry.id)], after))
    query = query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(limit)
    return list(await db.scalars(query))
