"""DataLoaders, built per request: related objects cost one query per kind, not per row."""

import functools
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel
from strawberry.dataloader import DataLoader

from classbridge.models.booking import BookingCounts, booking_counts
from classbridge.models.customer import CustomerAggregatorIdRow, CustomerRow, aggregator_ids_of
from classbridge.models.db import rows_by_id
from classbridge.models.session import SessionRow
from classbridge.models.sign_in_list import ListedBooking, listed_bookings
from classbridge.models.tables import (
    Activity,
    ClassSession,
    Company,
    Customer,
    Product,
    SessionSeries,
    Venue,
)

M = TypeVar("M", bound=SQLModel)
K = TypeVar("K")
V = TypeVar("V")

Reader = Callable[[], AbstractAsyncContextManager[AsyncSession]]


def _by_id(
    read: Reader, model: type[M]
) -> Callable[[list[uuid.UUID]], Awaitable[Sequence[M | None]]]:
    async def load(ids: list[uuid.UUID]) -> Sequence[M | None]:
        async with read() as db:
            found = await rows_by_id(db, model, ids)
        return [found.get(i) for i in ids]

    return load


async def load_each(loader: DataLoader[K, V], keys: Sequence[K]) -> list[V]:
    """`loader.load_many(keys)` for a list's rows, which repeat keys (one activity for a
    whole page, one product for all its bookings): what the loader already holds
    (primed, or loaded before) read at once, the rest fetched by one call of its batch
    function and primed, each distinct key once.

    All of a list's keys are known at once, so there is nothing to batch: through
    `load_many`, each missing key cost a future, a batch entry and an event-loop
    callback, and the batch a task of its own (a sign-in list's 50 customers' aggregator
    ids: ~8 µs a key). A key another load is fetching right now is awaited, not fetched
    twice."""
    values: dict[K, V] = {}
    missing: list[K] = []
    pending: list[tuple[K, Awaitable[V]]] = []
    for key in dict.fromkeys(keys):
        held = loader.cache_map.get(key) if loader.cache else None
        if held is None or held.cancelled() or (held.done() and held.exception()):
            missing.append(key)
        elif held.done():
            values[key] = held.result()
        else:
            pending.append((key, held))
    if missing:
        fetched: dict[K, V] = {}
        for key, value in zip(missing, await loader.load_fn(missing), strict=True):
            if isinstance(value, BaseException):  # as `load` would raise it
                raise value
            fetched[key] = value
        loader.prime_many(fetched)
        values.update(fetched)
    for key, future in pending:
        values[key] = await future
    return [values[key] for key in keys]


def release(loaders: Iterable[DataLoader[Any, Any]]) -> None:
    """The request is over: drop what its loaders hold. Loaders and their context
    reference each other (the load functions read through it), so without this a page's
    rows lived on in that cycle until the collector's next older-generation pass, which
    then had thousands of objects to trace per request; dropped here, reference counting
    frees them as soon as the response is sent."""
    for loader in loaders:
        loader.clear_all()
        loader.batch = None


@dataclass
class Loaders:
    """One set per request; `clear()` after a change so later reads are fresh."""

    read: Reader
    company: DataLoader[uuid.UUID, Company | None] = field(init=False)
    venue: DataLoader[uuid.UUID, Venue | None] = field(init=False)
    activity: DataLoader[uuid.UUID, Activity | None] = field(init=False)
    session: DataLoader[uuid.UUID, SessionRow | None] = field(init=False)
    customer: DataLoader[uuid.UUID, CustomerRow | None] = field(init=False)
    product: DataLoader[uuid.UUID, Product | None] = field(init=False)
    series: DataLoader[uuid.UUID, SessionSeries | None] = field(init=False)
    counts: DataLoader[uuid.UUID, BookingCounts] = field(init=False)
    bookings_by_session: DataLoader[uuid.UUID, list[ListedBooking]] = field(init=False)
    bookings_with_aggregator_ids_by_session: DataLoader[uuid.UUID, list[ListedBooking]] = field(
        init=False
    )
    aggregator_ids: DataLoader[uuid.UUID, list[CustomerAggregatorIdRow]] = field(init=False)

    def __post_init__(self) -> None:
        self.company = DataLoader(_by_id(self.read, Company))
        self.venue = DataLoader(_by_id(self.read, Venue))
        self.activity = DataLoader(_by_id(self.read, Activity))
        self.session = DataLoader(_by_id(self.read, ClassSession))
        self.customer = DataLoader(_by_id(self.read, Customer))
        self.product = DataLoader(_by_id(self.read, Product))
        self.series = DataLoader(_by_id(self.read, SessionSeries))
        self.counts = DataLoader(self._counts)
        self.bookings_by_session = DataLoader(self._bookings_by_session)
        self.bookings_with_aggregator_ids_by_session = DataLoader(
            functools.partial(self._bookings_by_session, with_aggregator_ids=True)
        )
        self.aggregator_ids = DataLoader(self._aggregator_ids)

    def all(self) -> list[DataLoader[Any, Any]]:
        return [v for v in vars(self).values() if isinstance(v, DataLoader)]

    def clear(self) -> None:
        for loader in self.all():
            loader.clear_all()

    def release(self) -> None:
        release(self.all())

    async def _counts(self, ids: list[uuid.UUID]) -> list[BookingCounts]:
        async with self.read() as db:
            counts = await booking_counts(db=db, session_ids=list(ids))
        return [counts[i] for i in ids]

    async def _bookings_by_session(
        self, ids: list[uuid.UUID], *, with_aggregator_ids: bool = False
    ) -> list[list[ListedBooking]]:
        """Sign-in lists, schedule pages: each session's bookings with what they show."""
        async with self.read() as db:
            listed = await listed_bookings(
                db=db, session_ids=ids, with_aggregator_ids=with_aggregator_ids
            )
        return [listed[i] for i in ids]

    async def _aggregator_ids(self, ids: list[uuid.UUID]) -> list[list[CustomerAggregatorIdRow]]:
        grouped: dict[uuid.UUID, list[CustomerAggregatorIdRow]] = {i: [] for i in ids}
        async with self.read() as db:
            rows = await aggregator_ids_of(db=db, customer_ids=list(ids))
        for row in rows:
            grouped[row.customer_id].append(row)
        return [grouped[i] for i in ids]
