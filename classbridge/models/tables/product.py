"""Products: how a booking is paid. Each aggregator has a built-in product of its own."""

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, uuid_pk
from classbridge.models.fields import NAME_LENGTH
from classbridge.models.tables.aggregator import Aggregator


class ProductKind(enum.StrEnum):
    DROP_IN = "DROP_IN"
    """A single visit."""
    CLASS_CARD = "CLASS_CARD"
    """A card of several visits."""
    MEMBERSHIP = "MEMBERSHIP"
    """A recurring membership."""
    AGGREGATOR = "AGGREGATOR"
    """Paid by an aggregator (built in, one per aggregator)."""


class Product(SQLModel, table=True):
    """A way to pay for a booking."""

    __table_args__ = (sa.UniqueConstraint("company_id", "aggregator"),)

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=NAME_LENGTH)
    kind: ProductKind = Field(sa_type=enum_type(ProductKind))
    # Set only on built-in aggregator products, which staff cannot edit, delete or assign.
    aggregator: Aggregator | None = Field(default=None, sa_type=enum_type(Aggregator))
    archived: bool = False
    created_at: datetime = created_at_field()
