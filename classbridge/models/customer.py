"""Customers, their IDs at aggregators, and merging duplicates."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.aggregator import Aggregator
from classbridge.models.base import created_at_field, enum_type, timestamp_field, utcnow, uuid_pk
from classbridge.models.db import is_unique_violation
from classbridge.models.errors import DomainError, ErrorCode, invalid, not_found
from classbridge.models.keyset import after_key
from classbridge.models.validation import clean_email, clean_optional, clean_text


class Customer(SQLModel, table=True):
    """A person who books; created by staff or on a member's first aggregator booking."""

    __table_args__ = (
        sa.Index("ix_customer_company_name", "company_id", "last_name", "first_name"),
    )

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", ondelete="CASCADE")
    first_name: str = Field(max_length=100)
    last_name: str = Field(max_length=100)
    email: str | None = Field(default=None, max_length=254, index=True)
    phone: str | None = Field(default=None, max_length=50)
    birthday: date | None = None
    notes: str | None = Field(default=None, max_length=5000)
    street: str | None = Field(default=None, max_length=200)
    zip: str | None = Field(default=None, max_length=20)
    city: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=100)
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)


class CustomerAggregatorId(SQLModel, table=True):
    """A member id at an aggregator; it matches that member's bookings to this customer."""

    __tablename__ = "customer_aggregator_id"
    # One member id names one customer per company: that is what prevents duplicates.
    __table_args__ = (sa.UniqueConstraint("company_id", "aggregator", "external_id"),)

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", ondelete="CASCADE")
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator))
    external_id: str = Field(max_length=200)
    created_at: datetime = created_at_field()


_FIELDS = {
    "first_name": 100,
    "last_name": 100,
    "phone": 50,
    "notes": 5000,
    "street": 200,
    "zip": 20,
    "city": 100,
    "country": 100,
}
_REQUIRED = {"first_name", "last_name"}


def _apply(customer: Customer, values: dict[str, object]) -> None:
    unknown = set(values) - set(_FIELDS) - {"email", "birthday"}
    if unknown:
        raise invalid(f"unknown customer fields: {', '.join(sorted(unknown))}")
    for key, max_length in _FIELDS.items():
        if key not in values:
            continue
        value = values[key]
        if key in _REQUIRED:
            if value is None:
                raise invalid(f"{key} is required", field=key)
            setattr(customer, key, clean_text(str(value), field=key, max_length=max_length))
        else:
            setattr(customer, key, clean_optional(value, field=key, max_length=max_length))  # type: ignore[arg-type]
    if "email" in values:
        customer.email = clean_email(values["email"])  # type: ignore[arg-type]
    if "birthday" in values:
        birthday = values["birthday"]
        if birthday is not None and (not isinstance(birthday, date) or birthday > date.today()):
            raise invalid("birthday must be a date in the past", field="birthday")
        customer.birthday = birthday


async def create_customer(
    *, db: AsyncSession, company_id: uuid.UUID, values: dict[str, object]
) -> Customer:
    """Create a customer from validated fields (first and last name required)."""
    if not _REQUIRED <= values.keys():
        raise invalid("firstName and lastName are required")
    customer = Customer(company_id=company_id, first_name="", last_name="")
    _apply(customer, values)
    db.add(customer)
    await db.flush()
    return customer


async def get_customer(
    *, db: AsyncSession, company_id: uuid.UUID, customer_id: uuid.UUID
) -> Customer:
    """A customer of this company; another company's is reported as not found."""
    customer = await db.get(Customer, customer_id)
    if customer is None or customer.company_id != company_id:
        raise not_found("customer")
    return customer


async def update_customer(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    customer_id: uuid.UUID,
    values: dict[str, object],
) -> Customer:
    """Change a customer's details; keys absent stay as they are."""
    customer = await get_customer(db=db, company_id=company_id, customer_id=customer_id)
    _apply(customer, values)
    customer.updated_at = utcnow()
    await db.flush()
    return customer


@dataclass(frozen=True)
class CustomerFilter:
    company_id: uuid.UUID
    search: str | None = None


async def list_customers(
    *,
    db: AsyncSession,
    where: CustomerFilter,
    after: tuple[str, str, uuid.UUID] | None,
    limit: int,
) -> list[Customer]:
    """Customers by last name, first name; `search` matches name or email."""
    stmt = select(Customer).where(Customer.company_id == where.company_id)
    if where.search:
        term = where.search.strip()
        if len(term) > 200:
            raise invalid("search is longer than 200 characters", field="search")
        escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        full_name = Customer.first_name + " " + Customer.last_name
        stmt = stmt.where(
            sa.or_(
                full_name.ilike(like, escape="\\"),
                Customer.last_name.ilike(like, escape="\\"),  # type: ignore[attr-defined]
                Customer.email.ilike(like, escape="\\"),  # type: ignore[union-attr]
            )
        )
    order = (Customer.last_name, Customer.first_name, Customer.id)
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    return list(await db.scalars(stmt.order_by(*order).limit(limit)))


async def find_by_aggregator_id(
    *, db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator, external_id: str
) -> Customer | None:
    return await db.scalar(
        select(Customer)
        .join(CustomerAggregatorId, CustomerAggregatorId.customer_id == Customer.id)
        .where(
            CustomerAggregatorId.company_id == company_id,
            CustomerAggregatorId.aggregator == aggregator,
            CustomerAggregatorId.external_id == external_id,
        )
    )


def _clean_external_id(external_id: str) -> str:
    return clean_text(external_id, field="externalId", max_length=200)


def _id_taken(
    owner: Customer, customer: Customer, aggregator: Aggregator, external_id: str
) -> DomainError:
    """AGGREGATOR_ID_TAKEN, naming the customer who has the member id."""
    if owner.id == customer.id:
        message = (
            f"{customer.first_name} {customer.last_name} already has "
            f"{aggregator.display_name} ID {external_id}"
        )
    else:
        message = (
            f"{aggregator.display_name} ID {external_id} belongs to "
            f"{owner.first_name} {owner.last_name} (customer {owner.id}); "
            "merge the two customers instead"
        )
    return DomainError(ErrorCode.AGGREGATOR_ID_TAKEN, message, field="externalId")


async def add_aggregator_id(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    customer_id: uuid.UUID,
    aggregator: Aggregator,
    external_id: str,
) -> CustomerAggregatorId:
    """Attach a member id; it may name only one customer per company and aggregator."""
    customer = await get_customer(db=db, company_id=company_id, customer_id=customer_id)
    external_id = _clean_external_id(external_id)
    owner = await find_by_aggregator_id(
        db=db, company_id=company_id, aggregator=aggregator, external_id=external_id
    )
    if owner is not None:
        raise _id_taken(owner, customer, aggregator, external_id)
    link = CustomerAggregatorId(
        company_id=company_id,
        customer_id=customer.id,
        aggregator=aggregator,
        external_id=external_id,
    )
    try:
        async with db.begin_nested():
            db.add(link)
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        # A concurrent transaction claimed it first and has committed (the unique index
        # waited for it): read who has it now, so the message can name them.
        owner = await find_by_aggregator_id(
            db=db, company_id=company_id, aggregator=aggregator, external_id=external_id
        )
        if owner is None:
            raise DomainError(
                ErrorCode.AGGREGATOR_ID_TAKEN,
                f"{aggregator.display_name} ID {external_id} was just given to another customer",
                field="externalId",
            ) from exc
        raise _id_taken(owner, customer, aggregator, external_id) from exc
    return link


async def remove_aggregator_id(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    customer_id: uuid.UUID,
    aggregator: Aggregator,
    external_id: str,
) -> Customer:
    """Detach a member id from a customer."""
    customer = await get_customer(db=db, company_id=company_id, customer_id=customer_id)
    result = await db.execute(
        delete(CustomerAggregatorId).where(
            CustomerAggregatorId.customer_id == customer.id,
            CustomerAggregatorId.aggregator == aggregator,
            CustomerAggregatorId.external_id == external_id.strip(),
        )
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found(f"{aggregator.display_name} ID {external_id.strip()} on this customer")
    return customer


async def aggregator_ids_of(
    *, db: AsyncSession, customer_ids: list[uuid.UUID]
) -> list[CustomerAggregatorId]:
    rows = await db.scalars(
        select(CustomerAggregatorId)
        .where(CustomerAggregatorId.customer_id.in_(customer_ids))  # type: ignore[attr-defined]
        .order_by(CustomerAggregatorId.created_at, CustomerAggregatorId.id)
    )
    return list(rows)


async def merge_customers(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    survivor_id: uuid.UUID,
    merged_id: uuid.UUID,
) -> Customer:
    """Fold `merged_id` into `survivor_id`: bookings and aggregator IDs move, the duplicate
    is deleted. Where both were booked into the same session, the survivor's booking stays
    and the duplicate's is cancelled."""
    from classbridge.models.booking import move_bookings  # bookings build on customers

    if survivor_id == merged_id:
        raise invalid("a customer cannot be merged into itself", field="mergedId")
    survivor = await get_customer(db=db, company_id=company_id, customer_id=survivor_id)
    merged = await get_customer(db=db, company_id=company_id, customer_id=merged_id)
    await move_bookings(db=db, from_customer=merged, to_customer=survivor)
    await db.execute(
        update(CustomerAggregatorId)
        .where(CustomerAggregatorId.customer_id == merged.id)
        .values(customer_id=survivor.id)
    )
    for key in ("email", "phone", "birthday", "street", "zip", "city", "country"):
        if getattr(survivor, key) is None and getattr(merged, key) is not None:
            setattr(survivor, key, getattr(merged, key))
    if merged.notes:
        survivor.notes = "\n".join(n for n in (survivor.notes, merged.notes) if n)[:5000]
    survivor.updated_at = utcnow()
    await db.flush()
    await db.delete(merged)
    await db.flush()
    return survivor
