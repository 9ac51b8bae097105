"""Customers and their member ids at aggregators (merging duplicates: models/merge.py)."""

import functools
import uuid
from datetime import date, datetime
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, delete, select

from classbridge.models.base import utcnow
from classbridge.models.db import any_of_bound, dialect_of, is_unique_violation
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.fields import ExternalId
from classbridge.models.inputs.customer import CustomerCreate, CustomerFilter, CustomerUpdate
from classbridge.models.keyset import after_key
from classbridge.models.tables.aggregator import Aggregator
from classbridge.models.tables.customer import Customer, CustomerAggregatorId
from classbridge.models.validation import check


class CustomerRow(Protocol):
    """What a list shows of a customer: a `Customer`, or a plain row of its columns (a
    sign-in list's customers come with its bookings so, `db.table_records`)."""

    id: uuid.UUID
    company_id: uuid.UUID
    first_name: str
    last_name: str
    email: str | None
    phone: str | None
    birthday: date | None
    notes: str | None
    street: str | None
    zip: str | None
    city: str | None
    country: str | None
    erased_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CustomerAggregatorIdRow(Protocol):
    """A customer's id at an aggregator: a `CustomerAggregatorId`, or a plain row of its
    columns (a sign-in list's come with its bookings so)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    aggregator: Aggregator
    external_id: str
    created_at: datetime


async def create_customer(
    *, db: AsyncSession, company_id: uuid.UUID, customer: CustomerCreate
) -> Customer:
    """Create a customer."""
    row = Customer(company_id=company_id, **customer.model_dump())
    db.add(row)
    await db.flush()
    return row


_LOCKED = "customers_locked"
"""db.info key: ids of the customers this transaction holds a row lock on (or created)."""


def held_in_transaction(db: AsyncSession, customer_id: uuid.UUID) -> None:
    """Note a customer this transaction locked or created: `get_customer(lock=…)` need not
    lock it again (a new row is invisible to everyone else until the commit)."""
    db.info.setdefault(_LOCKED, set()).add(customer_id)


async def get_customer(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    customer_id: uuid.UUID,
    lock: Literal["share", "change"] | None = None,
) -> Customer:
    """A customer of this company; another company's is reported as not found.

    `lock` (PostgreSQL; SQLite's write transactions are exclusive anyway), taken before any
    session lock (the one order, so no deadlock): "share" for what adds a booking or a
    waitlist entry (`FOR SHARE`: bookings of one customer do not wait for each other),
    "change" for what anonymises or merges the customer (`FOR NO KEY UPDATE`: it waits for
    those bookings, and they for it; a booking's foreign-key check, `FOR KEY SHARE`, does
    not). Under it, `erased_at` is the committed one.
    """
    options: dict[str, bool] | None = None
    if lock and db.get_bind().dialect.name == "postgresql":
        if lock == "change":
            options = {"key_share": True}  # FOR NO KEY UPDATE
        elif customer_id not in db.info.get(_LOCKED, ()):
            options = {"read": True}  # FOR SHARE
    customer = await db.get(
        Customer, customer_id, with_for_update=options, populate_existing=options is not None
    )
    if customer is None or customer.company_id != company_id:
        raise not_found("customer")
    if options is not None:
        held_in_transaction(db, customer.id)
    return customer


def refuse_erased(customer: Customer) -> None:
    """An erased customer is only kept for counts and reports: never booked, edited or
    given a member id again."""
    if customer.erased_at is not None:
        raise DomainError(
            ErrorCode.CUSTOMER_ERASED,
            "this customer was erased: create a new customer to book them again",
        )


async def update_customer(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    customer_id: uuid.UUID,
    changes: CustomerUpdate,
) -> Customer:
    """Change a customer's details; fields left out stay as they are. An erased customer's
    are not filled in again (CUSTOMER_ERASED)."""
    customer = await get_customer(
        db=db, company_id=company_id, customer_id=customer_id, lock="change"
    )
    refuse_erased(customer)
    for name, value in changes.given().items():
        setattr(customer, name, value)
    customer.updated_at = utcnow()
    await db.flush()
    return customer


async def list_customers(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    where: CustomerFilter,
    after: tuple[str, str, uuid.UUID] | None,
    limit: int,
) -> list[Customer]:
    """Customers by last name, first name; `search` matches name or email."""
    stmt = select(Customer).where(Customer.company_id == company_id)
    if where.search:
        escaped = where.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{escaped}%"
        full_name = col(Customer.first_name) + " " + col(Customer.last_name)
        stmt = stmt.where(
            sa.or_(
                full_name.ilike(like, escape="\\"),
                col(Customer.last_name).ilike(like, escape="\\"),
                col(Customer.email).ilike(like, escape="\\"),
            )
        )
    order = (col(Customer.last_name), col(Customer.first_name), col(Customer.id))
    if after is not None:
        stmt = stmt.where(after_key(order, after))
    return list(await db.scalars(stmt.order_by(*order).limit(limit)))


async def find_by_aggregator_id(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    aggregator: Aggregator,
    external_id: str,
    lock: bool = False,
) -> Customer | None:
    """The customer with this member id. `lock`: under the share lock a booking takes
    (`get_customer(lock="share")`), in the same statement."""
    stmt = (
        select(Customer)
        .join(CustomerAggregatorId, col(CustomerAggregatorId.customer_id) == Customer.id)
        .where(
            CustomerAggregatorId.company_id == company_id,
            CustomerAggregatorId.aggregator == aggregator,
            CustomerAggregatorId.external_id == external_id,
        )
    )
    locking = lock and db.get_bind().dialect.name == "postgresql"
    if locking:
        stmt = stmt.with_for_update(read=True, of=Customer).execution_options(
            populate_existing=True
        )
    customer = await db.scalar(stmt)
    if customer is not None and locking:
        held_in_transaction(db, customer.id)
    return customer


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
    return DomainError(ErrorCode.AGGREGATOR_ID_TAKEN, message, loc=("external_id",))


async def add_aggregator_id(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    customer_id: uuid.UUID,
    aggregator: Aggregator,
    external_id: str,
) -> CustomerAggregatorId:
    """Attach a member id; it may name only one customer per company and aggregator. Not to
    an erased customer (CUSTOMER_ERASED): the member's bookings would land on a profile
    that is never booked again."""
    customer = await get_customer(
        db=db, company_id=company_id, customer_id=customer_id, lock="change"
    )
    refuse_erased(customer)
    external_id = check(ExternalId, external_id, name="external_id")
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
                loc=("external_id",),
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
    # A DELETE's result is a cursor result, which knows how many rows went.
    result: sa.CursorResult[Any] = await db.execute(  # type: ignore[assignment]  # see above
        delete(CustomerAggregatorId).where(
            col(CustomerAggregatorId.customer_id) == customer.id,
            col(CustomerAggregatorId.aggregator) == aggregator,
            col(CustomerAggregatorId.external_id) == external_id.strip(),
        )
    )
    if result.rowcount == 0:
        raise not_found(f"{aggregator.display_name} ID {external_id.strip()} on this customer")
    return customer


async def aggregator_ids_of(
    *, db: AsyncSession, customer_ids: list[uuid.UUID]
) -> list[CustomerAggregatorId]:
    rows = await db.scalars(_aggregator_ids_of(dialect_of(db)), {"ids": customer_ids})
    return list(rows)


AGGREGATOR_ID_ORDER = (
    CustomerAggregatorId.__table__.c.created_at,  # type: ignore[attr-defined]
    CustomerAggregatorId.__table__.c.id,  # type: ignore[attr-defined]
)
"""How a customer's aggregator ids are listed: the oldest first."""


@functools.cache
def _aggregator_ids_of(dialect: str) -> sa.Select[Any]:
    return (
        select(CustomerAggregatorId)
        .where(any_of_bound(dialect, col(CustomerAggregatorId.customer_id), "ids"))
        .order_by(*AGGREGATOR_ID_ORDER)
    )
