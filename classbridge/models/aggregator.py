"""Who is calling the partner API, which aggregators a company is connected to, and the
aggregators' ids of our venues."""

import uuid
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped
from sqlmodel import col, select

from classbridge.models.tables.aggregator import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueLink,
    ExtensionStatus,
)


@dataclass(frozen=True)
class AggregatorActor:
    """An aggregator calling the partner API: sees only companies with its extension ACTIVE."""

    aggregator: Aggregator
    token_id: uuid.UUID


def extension_active(
    company_id: Mapped[uuid.UUID] | uuid.UUID, aggregator: Aggregator | None = None
) -> sa.ColumnElement[bool]:
    """SQL: the company (a column or an id) has the aggregator's extension ACTIVE (any
    aggregator's, when None). The one definition of "connected to an aggregator"."""
    clause = sa.exists().where(
        col(AggregatorExtension.company_id) == company_id,
        col(AggregatorExtension.status) == ExtensionStatus.ACTIVE,
    )
    if aggregator is not None:
        clause = clause.where(col(AggregatorExtension.aggregator) == aggregator)
    return clause


async def active_aggregators(*, db: AsyncSession, company_id: uuid.UUID) -> list[Aggregator]:
    rows = await db.scalars(
        select(col(AggregatorExtension.aggregator)).where(
            AggregatorExtension.company_id == company_id,
            AggregatorExtension.status == ExtensionStatus.ACTIVE,
        )
    )
    return list(rows)


async def venue_links(
    *, db: AsyncSession, aggregator: Aggregator, venue_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The aggregator's own ids of these venues (where it linked them)."""
    if not venue_ids:
        return {}
    rows = await db.execute(
        select(AggregatorVenueLink.venue_id, AggregatorVenueLink.aggregator_venue_id).where(
            AggregatorVenueLink.aggregator == aggregator,
            col(AggregatorVenueLink.venue_id).in_(venue_ids),
        )
    )
    return {venue_id: linked_id for venue_id, linked_id in rows}
