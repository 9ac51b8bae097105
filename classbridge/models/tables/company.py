"""Companies (studios) and their venues (locations), each with a stable UUID."""

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, timestamp_field, uuid_pk
from classbridge.models.fields import (
    CITY_LENGTH,
    COUNTRY_LENGTH,
    EMAIL_LENGTH,
    NAME_LENGTH,
    PHONE_LENGTH,
    STREET_LENGTH,
    TIMEZONE_LENGTH,
    WEBSITE_LENGTH,
    ZIP_LENGTH,
)


class Company(SQLModel, table=True):
    """A studio business; aggregators know it by `id`."""

    id: uuid.UUID = uuid_pk()
    name: str = Field(max_length=NAME_LENGTH)
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)


class Venue(SQLModel, table=True):
    """A location of a company; schedules are entered and shown in its IANA time zone."""

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=NAME_LENGTH)
    timezone: str = Field(max_length=TIMEZONE_LENGTH)
    street: str | None = Field(default=None, max_length=STREET_LENGTH)
    zip: str | None = Field(default=None, max_length=ZIP_LENGTH)
    city: str | None = Field(default=None, max_length=CITY_LENGTH)
    country: str | None = Field(default=None, max_length=COUNTRY_LENGTH)
    email: str | None = Field(default=None, max_length=EMAIL_LENGTH)
    phone: str | None = Field(default=None, max_length=PHONE_LENGTH)
    website: str | None = Field(default=None, max_length=WEBSITE_LENGTH)
    latitude: float | None = None
    longitude: float | None = None
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
