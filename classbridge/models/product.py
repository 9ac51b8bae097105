"""Products: how a booking is paid. Each aggregator has a built-in product of its own."""

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.aggregator import Aggregator
from classbridge.models.base import created_at_field, enum_type, uuid_pk
from classbridge.models.db import is_unique_violation
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.validation import clean_text


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
    name: str = Field(max_length=200)
    kind: ProductKind = Field(sa_type=enum_type(ProductKind))
    # Set only on built-in aggregator products, which staff cannot edit, delete or assign.
    aggregator: Aggregator | None = Field(default=None, sa_type=enum_type(Aggregator))
    archived: bool = False
    created_at: datetime = created_at_field()

    @property
    def built_in(self) -> bool:
        return self.aggregator is not None


async def create_product(
    *, db: AsyncSession, company_id: uuid.UUID, name: str, kind: ProductKind
) -> Product:
    """Create a product staff can assign to bookings."""
    if kind is ProductKind.AGGREGATOR:
        raise DomainError(
            ErrorCode.BUILT_IN_PRODUCT, "aggregator products are built in and cannot be created"
        )
    product = Product(
        company_id=company_id, name=clean_text(name, field="name", max_length=200), kind=kind
    )
    db.add(product)
    await db.flush()
    return product


async def get_product(*, db: AsyncSession, company_id: uuid.UUID, product_id: uuid.UUID) -> Product:
    product = await db.get(Product, product_id)
    if product is None or product.company_id != company_id:
        raise not_found("product")
    return product


async def archive_product(
    *, db: AsyncSession, company_id: uuid.UUID, product_id: uuid.UUID
) -> Product:
    """Stop offering a product; bookings made with it keep it."""
    product = await get_product(db=db, company_id=company_id, product_id=product_id)
    if product.built_in:
        raise DomainError(
            ErrorCode.BUILT_IN_PRODUCT, f"{product.name} is built in and cannot be removed"
        )
    product.archived = True
    await db.flush()
    return product


async def aggregator_product(
    *, db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator
) -> Product:
    """The built-in product of an aggregator, created on first use."""
    stmt = select(Product).where(Product.company_id == company_id, Product.aggregator == aggregator)
    product = await db.scalar(stmt)
    if product is not None:
        return product
    product = Product(
        company_id=company_id,
        name=aggregator.display_name,
        kind=ProductKind.AGGREGATOR,
        aggregator=aggregator,
    )
    try:
        async with db.begin_nested():
            db.add(product)
    except sa.exc.IntegrityError as exc:  # created by a concurrent transaction
        if not is_unique_violation(exc):
            raise
        product = await db.scalar(stmt)
        assert product is not None
    return product


async def list_products(
    *, db: AsyncSession, company_id: uuid.UUID, include_archived: bool = False
) -> list[Product]:
    stmt = select(Product).where(Product.company_id == company_id)
    if not include_archived:
        stmt = stmt.where(Product.archived.is_(False))  # type: ignore[attr-defined]
    return list(await db.scalars(stmt.order_by(Product.name, Product.id)))
