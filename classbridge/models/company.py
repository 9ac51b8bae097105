"""Companies (studios) and their venues: creating and finding them."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models.errors import not_found
from classbridge.models.fields import Name
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.tables.company import Company, Venue
from classbridge.models.validation import check


async def create_company(*, db: AsyncSession, name: str) -> Company:
    """Create a company."""
    company = Company(name=check(Name, name, name="name"))
    db.add(company)
    await db.flush()
    return company


async def create_venue(*, db: AsyncSession, company_id: uuid.UUID, venue: VenueCreate) -> Venue:
    """Add a venue to a company."""
    row = Venue(company_id=company_id, **venue.model_dump())
    db.add(row)
    await db.flush()
    return row


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
