"""Customers and their member ids at aggregators."""

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, uuid_pk
from classbridge.models.fields import (
    CITY_LENGTH,
    COUNTRY_LENGTH,
    EMAIL_LENGTH,
    EXTERNAL_ID_LENGTH,
    PERSON_NAME_LENGTH,
    PHONE_LENGTH,
    STREET_LENGTH,
    TEXT_LENGTH,
    ZIP_LENGTH,
)
from classbridge.models.tables.aggregator import Aggregator


class Customer(SQLModel, table=True):
    """A person who books; created by staff or on a member's first aggregator booking."""

    __table_args__ = (
        sa.Index("ix_customer_company_name", "company_id", "last_name", "first_name"),
    )

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", ondelete="CASCADE")
    first_name: str = Field(max_length=PERSON_NAME_LENGTH)
    last_name: str = Field(max_length=PERSON_NAME_LENGTH)
    email: str | None = Field(default=None, max_length=EMAIL_LENGTH, index=True)
    phone: str | None = Field(default=None, max_length=PHONE_LENGTH)
    birthday: date | None = None
    notes: str | None = Field(default=None, max_length=TEXT_LENGTH)
    street: str | None = Field(default=None, max_length=STREET_LENGTH)
    zip: str | None = Field(default=None, max_length=ZIP_LENGTH)
    city: str | None = Field(default=None, max_length=CITY_LENGTH)
    country: str | None = Field(default=None, max_length=COUNTRY_LENGTH)
    erased_at: datetime | None = timestamp_field()
    """When the profile was anonymised (data erasure); its bookings stay for the counts."""
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)


class CustomerAggregatorId(SQLModel, table=True):
    """A member id at an aggregator; it matches that member's bookings to this customer."""

    __tablename__ = "customer_aggregator_id"
    # One member id names one customer per company: that is what prevents duplicates.
    __table_args__ = (sa.UniqueConstraint("company_id", "aggregator", "external_id"),)

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", ondelete="CASCADE")
    customer_id: uuid.UUID = Field(foreign_key="customer.id", index=True, ondelete="CASCADE")
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator))
    external_id: str = Field(max_length=EXTERNAL_ID_LENGTH)
    created_at: datetime = created_at_field()
