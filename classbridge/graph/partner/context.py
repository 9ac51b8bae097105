"""The partner API's context: the common one plus the caller (an aggregator) and loaders
of what that aggregator sees."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from classbridge.graph.context import Context
from classbridge.graph.loaders import load_each, release
from classbridge.models import reservation as reservation_model
from classbridge.models.aggregator import AggregatorActor, venue_links
from classbridge.models.offer import SessionOffer, offers_of
from classbridge.models.tables import Aggregator


@dataclass
class PartnerContext(Context):
    """`aggregator` is always set: the endpoint refuses requests without a valid token."""

    offer: DataLoader[uuid.UUID, SessionOffer] = field(init=False)
    venue_link: DataLoader[uuid.UUID, str | None] = field(init=False)
    member_id: DataLoader[uuid.UUID, str] = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.offer = DataLoader(self._offers)
        self.venue_link = DataLoader(self._venue_links)
        self.member_id = DataLoader(self._member_ids)

    @property
    def partner(self) -> AggregatorActor:
        return self.require_aggregator()

    @property
    def who(self) -> Aggregator:
        return self.require_aggregator().aggregator

    def own_loaders(self) -> tuple[DataLoader[uuid.UUID, Any], ...]:
        return (self.offer, self.venue_link, self.member_id)

    def clear(self) -> None:
        for loader in self.own_loaders():
            loader.clear_all()

    def release(self) -> None:
        super().release()
        release(self.own_loaders())

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A change; afterwards every loader reads afresh."""
        async with super().transaction() as db:
            yield db
        self.clear()

    async def _offers(self, ids: list[uuid.UUID]) -> list[SessionOffer]:
        """From the session rows the request holds (a listing primes them), loading only
        the others; the venues and activities the offers were made from, and the venues'
        links, are primed for the fields that show them."""
        rows = [r for r in await load_each(self.loaders.session, ids) if r is not None]
        async with self.read() as db:
            found = await offers_of(db=db, aggregator=self.who, sessions=rows)
        self.loaders.venue.prime_many(found.venues)
        self.loaders.activity.prime_many(found.activities)
        self.venue_link.prime_many({v: found.venue_links.get(v) for v in found.venues})
        return [found.by_session[i] for i in ids]

    async def _venue_links(self, ids: list[uuid.UUID]) -> list[str | None]:
        async with self.read() as db:
            links = await venue_links(db=db, aggregator=self.who, venue_ids=list(ids))
        return [links.get(i) for i in ids]

    async def _member_ids(self, ids: list[uuid.UUID]) -> list[str]:
        async with self.read() as db:
            found = await reservation_model.member_ids(
                db=db, aggregator=self.who, customer_ids=list(ids)
            )
        return [found.get(i, "") for i in ids]


PartnerInfo = StrawberryInfo[PartnerContext, None]
