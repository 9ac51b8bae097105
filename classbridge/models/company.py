"""Companies (studios) and their venues (locations), each with a stable UUID."""

import uuid
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, timestamp_field, utcnow, uuid_pk
from classbridge.models.errors import invalid, not_found
from classbridge.models.validation import clean_optional, clean_text


class Company(SQLModel, table=True):
    """A studio business; aggregators know it by `id`."""

    id: uuid.UUID = uuid_pk()
    name: str = Field(max_length=200)
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)


class Venue(SQLModel, table=True):
    """A location of a company; schedules are entered and shown in its IANA time zone."""

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=200)
    timezone: str = Field(max_length=64)
    street: str | None = Field(default=None, max_length=200)
    zip: str | None = Field(default=None, max_length=20)
    city: str | None = Field(default=None, max_length=100)
    country: str | None = Field(default=None, max_length=100)
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=50)
    website: str | None = Field(default=None, max_length=300)
    latitude: float | None = None
    longitude: float | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@cache
def _zone_names() -> frozenset[str]:
    # Not "localtime": it follows whichever machine runs us. (posix/, right/ are not listed.)
    return frozenset(available_timezones() - {"localtime"})


def validate_timezone(name: str) -> str:
    """An IANA zone name the tz database lists. Checked before anything loads it:
    ZoneInfo would also open files such as "localtime", and fail with an OSError on a
    directory ("Europe") or a name too long for the file system."""
    if name not in _zone_names():
        raise invalid(f"unknown IANA time zone {name[:64]!r}", field="timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise invalid(f"unknown IANA time zone {name!r}", field="timezone") from exc
    return name


async def create_company(*, db: AsyncSession, name: str) -> Company:
    """Create a company."""
    company = Company(name=clean_text(name, field="name", max_length=200))
    db.add(company)
    await db.flush()
    return company


async def create_venue(
    *,
    db: AsyncSession,
    company_id: uuid.UUID,
    name: str,
    timezone: str,
    street: str | None = None,
    zip: str | None = None,
    city: str | None = None,
    country: str | None = None,
) -> Venue:
    """Add a venue to a company."""
    venue = Venue(
        company_id=company_id,
        name=clean_text(name, field="name", max_length=200),
        timezone=validate_timezone(timezone),
        street=clean_optional(street, field="street", max_length=200),
        zip=clean_optional(zip, field="zip", max_length=20),
        city=clean_optional(city, field="city", max_length=100),
        country=clean_optional(country, field="country", max_length=100),
    )
    db.add(venue)
    await db.flush()
    return venue


async def get_venue(*, db: AsyncSession, company_id: uuid.UUID, venue_id: uuid.UUID) -> Venue:
    """A venue of this company; another company's venue is reported as not found."""
    venue = await db.get(Venue, venue_id)
    if venue is None or venue.company_id != company_id:
        raise not_found("venue")
    return venue


async def list_venues(*, db: AsyncSession, company_id: uuid.UUID) -> list[Venue]:
    rows = await db.scalars(
        select(Venue).where(Venue.company_id == company_id).order_by(Venue.created_at, Venue.id)
    )
    return list(rows)


def touch(obj: Company | Venue) -> None:
    obj.updated_at = utcnow()
