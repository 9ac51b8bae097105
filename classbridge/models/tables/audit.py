"""The audit log: who changed what, when, with the changed fields' values before and after."""

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from classbridge.models.base import enum_type, timestamp_field, uuid_pk

ENTITY_LENGTH = 64


class AuditActorKind(enum.StrEnum):
    STAFF = "STAFF"
    AGGREGATOR = "AGGREGATOR"


class AuditAction(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"


class AuditEntry(SQLModel, table=True):
    """One entity changed in one transaction (models/audit.py writes these)."""

    __tablename__ = "audit_entry"
    __table_args__ = (sa.Index("ix_audit_entry_company_at", "company_id", "at", "id"),)

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", ondelete="CASCADE")
    at: datetime = timestamp_field(nullable=False)
    transaction_id: uuid.UUID
    """Entries written by one transaction share it (one request's whole change)."""
    actor_kind: AuditActorKind = Field(sa_type=enum_type(AuditActorKind))
    actor_id: uuid.UUID = Field(index=True)
    """The staff member's id, or the partner token's id of an aggregator."""
    actor_label: str = Field(max_length=300)
    """Who, readable when the entry was written: the staff member's email, the aggregator."""
    entity_type: str = Field(max_length=ENTITY_LENGTH)
    entity_id: str = Field(max_length=ENTITY_LENGTH)
    action: str = Field(max_length=32)
    """CREATE, UPDATE, DELETE, or the name an operation gave its change (e.g. ERASE)."""
    changes: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    """{field: {"before": value, "after": value}}; secrets appear as "[secret]"."""
