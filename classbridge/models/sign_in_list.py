"""The bookings a list shows — a sign-in list, a schedule page's sessions — with their
customers and products (and the customers' aggregator ids when asked), in one statement.

Each statement saved is a round trip on PostgreSQL: a sign-in list read its products and
its customers' aggregator ids in statements of their own (docs/performance.md, "One
statement for a list's bookings", has what each cost)."""

import functools
import uuid
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.models.booking import SIGN_IN_ORDER, BookingRow
from classbridge.models.customer import AGGREGATOR_ID_ORDER, CustomerAggregatorIdRow, CustomerRow
from classbridge.models.db import any_of_bound, dialect_of, table_records
from classbridge.models.product import ProductRow
from classbridge.models.tables import Booking, Customer, CustomerAggregatorId, Product


class ListedBooking(NamedTuple):
    """A booking as a list shows it: with its customer and product, and the customer's
    aggregator ids when the list shows them (None: not read)."""

    row: BookingRow
    customer: CustomerRow
    product: ProductRow
    aggregator_ids: list[CustomerAggregatorIdRow] | None


async def listed_bookings(
    *, db: AsyncSession, session_ids: list[uuid.UUID], with_aggregator_ids: bool = False
) -> dict[uuid.UUID, list[ListedBooking]]:
    """Every booking of each session, by customer name (`SIGN_IN_ORDER`), as plain rows:
    a list only shows them. `with_aggregator_ids`: each customer's aggregator ids too,
    oldest first, read in the same statement (a row per id)."""
    listed: dict[uuid.UUID, list[ListedBooking]] = {i: [] for i in session_ids}
    parts = (*_LISTED, _AGGREGATOR_ID) if with_aggregator_ids else _LISTED
    rows = await table_records(
        db,
        _statement(dialect_of(db), with_aggregator_ids),
        *parts,
        parameters={"ids": session_ids},
    )
    if not with_aggregator_ids:
        for booking, customer, product in rows:
            listed[booking.session_id].append(ListedBooking(booking, customer, product, None))
        return listed
    # Each customer's ids, by id: a customer's rows repeat for each of its bookings.
    linked: dict[uuid.UUID, dict[uuid.UUID, CustomerAggregatorIdRow]] = {}
    bookings: list[tuple[BookingRow, CustomerRow, ProductRow]] = []
    previous: uuid.UUID | None = None
    for booking, customer, product, member in rows:
        if booking.id != previous:  # a booking's rows (one per id) come together
            previous = booking.id
            bookings.append((booking, customer, product))
        held = linked.setdefault(customer.id, {})
        if member.id is not None:  # NULLs: a customer without aggregator ids
            held[member.id] = member
    shown = {customer_id: list(held.values()) for customer_id, held in linked.items()}
    for booking, customer, product in bookings:
        listed[booking.session_id].append(
            ListedBooking(booking, customer, product, shown[customer.id])
        )
    return listed


_BOOKING: Table = Booking.__table__  # type: ignore[attr-defined]
_CUSTOMER: Table = Customer.__table__  # type: ignore[attr-defined]
_PRODUCT: Table = Product.__table__  # type: ignore[attr-defined]
_AGGREGATOR_ID: Table = CustomerAggregatorId.__table__  # type: ignore[attr-defined]
_PRODUCT_SHOWN = tuple(_PRODUCT.c[name] for name in ProductRow.__annotations__)
"""A listed booking's product: what a list shows of it (`ProductRow`). Every booking's row
repeats it, so no more than that (with all its columns, a schedule page of 200 bookings
cost more than the statement saved)."""
_LISTED = (_BOOKING, _CUSTOMER, _PRODUCT_SHOWN)
"""A booking's columns, its customer's, its product's shown: plain rows (`BookingRow`,
`CustomerRow`, `ProductRow`); then, when asked for, an aggregator id's."""


@functools.cache
def _statement(dialect: str, with_aggregator_ids: bool) -> sa.Select[Any]:
    """Built once (`db.any_of_bound`); with aggregator ids an outer join: a customer
    without one has a row of NULLs."""
    statement = (
        sa.select(*_BOOKING.c, *_CUSTOMER.c, *_PRODUCT_SHOWN)
        .join(_CUSTOMER, _CUSTOMER.c.id == _BOOKING.c.customer_id)
        .join(_PRODUCT, _PRODUCT.c.id == _BOOKING.c.product_id)
        .where(any_of_bound(dialect, _BOOKING.c.session_id, "ids"))
    )
    if not with_aggregator_ids:
        return statement.order_by(*SIGN_IN_ORDER)
    return (
        statement.add_columns(*_AGGREGATOR_ID.c)
        .outerjoin(_AGGREGATOR_ID, _AGGREGATOR_ID.c.customer_id == _CUSTOMER.c.id)
        .order_by(*SIGN_IN_ORDER, *AGGREGATOR_ID_ORDER)
    )
