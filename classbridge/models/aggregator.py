"""What an aggregator sees: the one module of aggregator visibility.

Who is calling the partner API, which aggregators a company is connected to, the
aggregators' ids of our venues, and the SQL clauses (with their Python twins for rows in
hand) that decide whether a session is offered, shown cancelled, or reported in the change
feed. The partner API (models/catalog.py), the offer (models/offer.py), the push
(models/push/) and the reconciliation all use these and nothing else."""

import uuid
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, aliased
from sqlmodel import col, select

from classbridge.models.tables.activity import Activity
from classbridge.models.tables.aggregator import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueExclusion,
    AggregatorVenueLink,
    ExtensionStatus,
)
from classbridge.models.tables.session import AggregatorMode, ClassSession


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


# An alias: asked of a link row's own `venue_id`, an unaliased subquery over the same table
# would compare the inner row with itself (true for any link of the aggregator). One for
# the process: a new alias per statement cost ~0.9 ms to build (each of its columns
# adapted again), a tenth of a schedule page.
_LINK = aliased(AggregatorVenueLink, name="offered_link")


def venue_offered(
    venue_id: Mapped[uuid.UUID] | uuid.UUID, aggregator: Aggregator
) -> sa.ColumnElement[bool]:
    """SQL: the venue (a column or an id) is the aggregator's: it linked the venue and the
    studio did not keep the venue from it. Unlinked or excluded venues are neither
    listed, offered, pushed nor bookable for that aggregator."""
    linked = sa.exists().where(
        col(_LINK.venue_id) == venue_id,
        col(_LINK.aggregator) == aggregator,
    )
    excluded = sa.exists().where(
        col(AggregatorVenueExclusion.venue_id) == venue_id,
        col(AggregatorVenueExclusion.aggregator) == aggregator,
    )
    return sa.and_(linked, sa.not_(excluded))


async def venue_links_offered(
    *, db: AsyncSession, aggregator: Aggregator, venue_ids: Collection[uuid.UUID]
) -> tuple[dict[uuid.UUID, str], set[uuid.UUID]]:
    """The aggregator's own ids of these venues (where it linked them), and which of them
    are its (the Python side of `venue_offered`: linked, and not kept from it), in one
    statement."""
    if not venue_ids:
        return {}, set()
    rows = await db.execute(
        select(
            col(AggregatorVenueLink.venue_id),
            col(AggregatorVenueLink.aggregator_venue_id),
            venue_offered(col(AggregatorVenueLink.venue_id), aggregator),
        ).where(
            AggregatorVenueLink.aggregator == aggregator,
            col(AggregatorVenueLink.venue_id).in_(venue_ids),
        )
    )
    links: dict[uuid.UUID, str] = {}
    offered: set[uuid.UUID] = set()
    for venue_id, linked_id, is_offered_to_it in rows:
        links[venue_id] = linked_id
        if is_offered_to_it:
            offered.add(venue_id)
    return links, offered


def active_extension_clause(aggregator: Aggregator) -> sa.ColumnElement[bool]:
    """SQL: the session's company has this aggregator's extension ACTIVE."""
    return extension_active(col(ClassSession.company_id), aggregator)


def offered_clause() -> sa.ColumnElement[bool]:
    """SQL: the session's effective "allow bookings from aggregators" (join Activity).
    Its twin for rows in hand is `session.effective_rules(...).aggregator_allowed`."""
    return (
        sa.case(
            (
                col(ClassSession.aggregator_mode) == AggregatorMode.INDIVIDUAL,
                col(ClassSession.aggregator_allowed),
            ),
            else_=Activity.allow_aggregator_bookings,
        )
        == sa.true()
    )


def is_offered(
    *, aggregator_allowed: bool, extension_is_active: bool, venue_is_offered: bool
) -> bool:
    """A session is offered to an aggregator when all hold (the offer's `offered`)."""
    return aggregator_allowed and extension_is_active and venue_is_offered


def shown_cancelled(aggregator: Aggregator) -> sa.ColumnElement[bool]:
    """SQL: the session appears cancelled (withdrawn) to this aggregator: cancelled by the
    studio, or no longer offered to it (join Activity)."""
    return sa.or_(
        col(ClassSession.cancelled_at).is_not(None),
        sa.not_(offered_clause()),
        sa.not_(active_extension_clause(aggregator)),
        sa.not_(venue_offered(col(ClassSession.venue_id), aggregator)),
    )


def in_change_feed(aggregator: Aggregator) -> sa.ColumnElement[bool]:
    """SQL: the change feed (`updatedAfter`) reports this session to the aggregator: its
    company has the extension ACTIVE, or deactivated it — then only changes up to the
    deactivation, which grew every upcoming session once, so each is reported withdrawn
    once and nothing after that."""
    ext = AggregatorExtension
    return sa.exists().where(
        col(ext.company_id) == ClassSession.company_id,
        col(ext.aggregator) == aggregator,
        sa.or_(
            col(ext.status) == ExtensionStatus.ACTIVE,
            sa.and_(
                col(ext.status) == ExtensionStatus.DEACTIVATED,
                col(ext.deactivated_at).is_not(None),
                col(ClassSession.updated_at) <= ext.deactivated_at,
            ),
        ),
    )


async def active_aggregators(*, db: AsyncSession, company_id: uuid.UUID) -> list[Aggregator]:
    rows = await db.scalars(
        select(col(AggregatorExtension.aggregator)).where(
            AggregatorExtension.company_id == company_id,
            AggregatorExtension.status == ExtensionStatus.ACTIVE,
        )
    )
    return list(rows)


async def aggregators_taking_bookings(
    *, db: AsyncSession, company_id: uuid.UUID, venue_id: uuid.UUID, among: Collection[Aggregator]
) -> set[Aggregator]:
    """Of `among`, the aggregators whose members may be booked at this venue now: the
    company's extension is ACTIVE and the venue is offered to them (as for makeReservation)."""
    if not among:
        return set()
    rows = await db.scalars(
        select(col(AggregatorExtension.aggregator)).where(
            AggregatorExtension.company_id == company_id,
            AggregatorExtension.status == ExtensionStatus.ACTIVE,
            sa.or_(
                *(
                    sa.and_(col(AggregatorExtension.aggregator) == a, venue_offered(venue_id, a))
                    for a in set(among)
                )
            ),
        )
    )
    return set(rows)


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
