"""Products: creating, archiving, and each aggregator's built-in product."""

import uuid
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.db import is_unique_violation
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.fields import Name
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.product import Product, ProductKind
from classbridge.models.validation import check


class ProductRow(Protocol):
    """What a list shows of a product: a `Product`, or a plain row of these columns (a
    list's bookings come with theirs so)."""

    id: uuid.UUID
    name: str
    kind: ProductKind
    aggregator: Aggregator | None
    archived: bool


def is_built_in(product: ProductRow) -> bool:
    """An aggregator's product: staff cannot create, assign or remove it."""
    return product.aggregator is not None


async def create_product(
    *, db: AsyncSession, company_id: uuid.UUID, name: str, kind: ProductKind
) -> Product:
    """Create a product staff can assign to bookings."""
    if kind is ProductKind.AGGREGATOR:
        raise DomainError(
            ErrorCode.BUILT_IN_PRODUCT, "aggregator products are built in and cannot be created"
        )
    product = Product(company_id=company_id, name=check(Name, name, name="name"), kind=kind)
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
    if is_built_in(product):
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
        stmt = stmt.where(col(Product.archived).is_(False))
    return list(await db.scalars(stmt.order_by(Product.name, col(Product.id))))
