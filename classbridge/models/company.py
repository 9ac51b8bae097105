"""Companies (studios) and their venues: creating, changing and finding them."""

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, func, select

from classbridge.models.base import utcnow
from classbridge.models.errors import not_found
from classbridge.models.fields import Name
from classbridge.models.inputs.company import VenueCreate, VenueUpdate
from classbridge.models.outbox import touch_sessions, upcoming
from classbridge.models.tables.company import Company, Venue
from classbridge.models.tables.session import ClassSession
from classbridge.models.validation import check


async def create_company(*, db: AsyncSession, name: str) -> Company:
    """Create a company."""
    company = Company(name=check(Name, name, name="name"))
    db.add(company)
    await db.flush()
    return company


async def create_venue(*, db: AsyncSession, company_id: uuid.UUID, venue: VenueCreate) -> Venue:
    """Add a venue to a company."""
    row = Venue(company_id=company_id, **_columns(venue.model_dump()))
    db.add(row)
    await db.flush()
    return row


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    """A venue input's fields as columns: coordinates are two (both set or both null)."""
    if "coordinates" in values:
        point = values.pop("coordinates")
        values["latitude"] = None if point is None else point["latitude"]
        values["longitude"] = None if point is None else point["longitude"]
    return values


@dataclass(frozen=True)
class VenueChange:
    """What `update_venue` did."""

    venue: Venue
    previous_timezone: str | None
    """The zone before, when the zone changed (else None)."""
    sessions_kept: int
    """Upcoming, not cancelled sessions of the venue: with a new zone they keep their
    instant (UTC start) and their local times now read in the new zone."""


async def update_venue(
    *, db: AsyncSession, company_id: uuid.UUID, venue_id: uuid.UUID, changes: VenueUpdate
) -> VenueChange:
    """Change a venue; fields left out stay as they are, null clears an optional one.

    Sessions are stored at their instants (UTC), so a new time zone moves none of them:
    their venue-local times change instead. Aggregators see the venue in every offer
    (partner API, push), so each upcoming session gets a new version and an outbox row.
    """
    venue = await get_venue(db=db, company_id=company_id, venue_id=venue_id)
    given = changes.model_dump(include=set(changes.given()))
    values = _columns(given)
    previous_timezone = venue.timezone
    changed = {k: v for k, v in values.items() if getattr(venue, k) != v}
    for name, value in changed.items():
        setattr(venue, name, value)
    zone_changed = "timezone" in changed
    kept = 0
    if zone_changed:
        kept = (
            await db.scalar(
                select(func.count())
                .select_from(ClassSession)
                .where(
                    col(ClassSession.venue_id) == venue.id,
                    col(ClassSession.cancelled_at).is_(None),
                    upcoming(),
                )
            )
        ) or 0
    if changed:
        venue.updated_at = utcnow()
        await db.flush()
        await touch_sessions(db, sa.and_(col(ClassSession.venue_id) == venue.id, upcoming()))
    return VenueChange(
        venue=venue,
        previous_timezone=previous_timezone if zone_changed else None,
        sessions_kept=kept,
    )


async def get_venue(*, db: AsyncSession, company_id: uuid.UUID, venue_id: uuid.UUID) -> Venue:
    """A venue of this company; another company's venue is reported as not found."""
    venue = await db.get(Venue, venue_id)
    if venue is None or venue.company_id != company_id:
        raise not_found("venue")
    return venue


async def list_venues(*, db: AsyncSession, company_id: uuid.UUID) -> list[Venue]:
    rows = await db.scalars(
        select(Venue)
        .where(Venue.company_id == company_id)
        .order_by(col(Venue.created_at), col(Venue.id))
    )
    return list(rows)
