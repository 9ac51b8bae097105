"""The audit log in the staff API (OWNER only): who changed what, when, before and after."""

import uuid
from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from classbridge.graph.context import Info
from classbridge.graph.inputs import to_domain
from classbridge.graph.pagination import (
    Connection,
    check_page_size,
    connection,
    cursor_id,
    cursor_time,
    decode_cursor,
)
from classbridge.graph.staff.permissions import OwnerOnly
from classbridge.models import audit as audit_model
from classbridge.models import tables
from classbridge.models.inputs.audit import AuditFilter

strawberry.enum(tables.AuditActorKind, description="Who made a change.")
AuditActorKind = tables.AuditActorKind


@strawberry.input(description="Which entries to list; every field narrows the list.")
class AuditLogFilter:
    entity_type: str | None = strawberry.field(
        default=None, description="The table of the entity: customer, booking, class_session…"
    )
    entity_id: strawberry.ID | None = None
    actor_id: strawberry.ID | None = strawberry.field(
        default=None, description="A staff member's id, or an aggregator's partner token id."
    )
    from_time: datetime | None = strawberry.field(
        default=None, name="from", description="Entries at or after this instant."
    )
    to_time: datetime | None = strawberry.field(
        default=None, name="to", description="Entries before this instant."
    )
    # to_domain names refusals as the schema spells these: filter.from, filter.to.


@strawberry.type(description="One entity changed by one request.")
class AuditEntry:
    row: strawberry.Private[tables.AuditEntry]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field(description="When the change was committed.")
    def at(self) -> datetime:
        return self.row.at

    @strawberry.field(description="Entries of one request share it.")
    def transaction_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.transaction_id))

    @strawberry.field
    def actor_kind(self) -> AuditActorKind:
        return self.row.actor_kind

    @strawberry.field
    def actor_id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.actor_id))

    @strawberry.field(description="The staff member's email or the aggregator's name, then.")
    def actor_label(self) -> str:
        return self.row.actor_label

    @strawberry.field
    def entity_type(self) -> str:
        return self.row.entity_type

    @strawberry.field
    def entity_id(self) -> strawberry.ID:
        return strawberry.ID(self.row.entity_id)

    @strawberry.field(description="CREATE, UPDATE, DELETE, or an operation's name (ERASE).")
    def action(self) -> str:
        return self.row.action

    @strawberry.field(
        description='{field: {"before": …, "after": …}} of the changed fields (database '
        'column names); secrets appear as "[secret]".'
    )
    def changes(self) -> JSON:
        return JSON(self.row.changes)


def _key(raw: list[str]) -> tuple[datetime, uuid.UUID]:
    at, entry_id = raw
    return cursor_time(at), cursor_id(entry_id)


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="Every change made by staff or aggregators, newest first (at most 100 "
        "per page).",
        permission_classes=[OwnerOnly],
    )
    async def audit_log(
        self,
        info: Info,
        filter: AuditLogFilter | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> Connection[AuditEntry]:
        actor = info.context.require_staff()
        size = check_page_size(first)
        cursor = decode_cursor(after, _key)
        where = to_domain(AuditFilter, filter, at="filter") if filter else AuditFilter()
        async with info.context.read() as db:
            rows = await audit_model.list_entries(
                db=db, company_id=actor.company_id, where=where, after=cursor, limit=size + 1
            )
        page: Connection[AuditEntry] = connection(
            rows,
            first=size,
            key=lambda r: (r.at.isoformat(), r.id),
            node=lambda r: AuditEntry(row=r),
            after_given=cursor is not None,
        )
        return page
