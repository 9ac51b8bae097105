"""Aggregators (EGYM Wellpass, Urban Sports Club, ClassPass): a studio's extension for
each, the aggregator's ids for our venues, and its partner API tokens."""

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from classbridge.models.base import created_at_field, enum_type, timestamp_field, uuid_pk
from classbridge.models.fields import EXTERNAL_ID_LENGTH, LABEL_LENGTH


class Aggregator(enum.StrEnum):
    EGYM_WELLPASS = "EGYM_WELLPASS"
    """EGYM Wellpass (formerly Hansefit/qualitrain)."""
    URBAN_SPORTS_CLUB = "URBAN_SPORTS_CLUB"
    """Urban Sports Club."""
    CLASSPASS = "CLASSPASS"
    """ClassPass."""

    @property
    def display_name(self) -> str:
        return _DISPLAY_NAMES[self]


_DISPLAY_NAMES = {
    Aggregator.EGYM_WELLPASS: "EGYM Wellpass",
    Aggregator.URBAN_SPORTS_CLUB: "Urban Sports Club",
    Aggregator.CLASSPASS: "ClassPass",
}


class ExtensionStatus(enum.StrEnum):
    NOT_ACTIVATED = "NOT_ACTIVATED"
    """The studio never activated this aggregator."""
    WAITING_FOR_AGGREGATOR = "WAITING_FOR_AGGREGATOR"
    """The studio activated it; the aggregator has not linked a venue yet."""
    ACTIVE = "ACTIVE"
    """The aggregator linked at least one venue: schedules sync, members book."""
    DEACTIVATED = "DEACTIVATED"
    """The studio switched it off: nothing is offered, nothing can be booked."""


class AggregatorExtension(SQLModel, table=True):
    """A company's extension for one aggregator (the studio's "Market" activation)."""

    __tablename__ = "aggregator_extension"
    __table_args__ = (sa.UniqueConstraint("company_id", "aggregator"),)

    id: uuid.UUID = uuid_pk()
    company_id: uuid.UUID = Field(foreign_key="company.id", index=True, ondelete="CASCADE")
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator))
    status: ExtensionStatus = Field(sa_type=enum_type(ExtensionStatus))
    activated_at: datetime | None = timestamp_field()
    deactivated_at: datetime | None = timestamp_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = timestamp_field(nullable=False)


class AggregatorVenueLink(SQLModel, table=True):
    """The aggregator's own id for one of our venues, set by the aggregator."""

    __tablename__ = "aggregator_venue_link"
    __table_args__ = (
        sa.UniqueConstraint("venue_id", "aggregator"),
        # One of the aggregator's venue ids names one of our venues, never two.
        sa.UniqueConstraint("aggregator", "aggregator_venue_id"),
    )

    id: uuid.UUID = uuid_pk()
    venue_id: uuid.UUID = Field(foreign_key="venue.id", index=True, ondelete="CASCADE")
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator))
    aggregator_venue_id: str = Field(max_length=EXTERNAL_ID_LENGTH)
    linked_at: datetime = created_at_field()


class AggregatorVenueExclusion(SQLModel, table=True):
    """The studio keeps one of its venues from one aggregator: nothing of it is listed,
    offered, pushed or bookable there, linked or not."""

    __tablename__ = "aggregator_venue_exclusion"
    __table_args__ = (sa.UniqueConstraint("venue_id", "aggregator"),)

    id: uuid.UUID = uuid_pk()
    venue_id: uuid.UUID = Field(foreign_key="venue.id", index=True, ondelete="CASCADE")
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator))
    created_at: datetime = created_at_field()


class PartnerToken(SQLModel, table=True):
    """A bearer token an aggregator uses on the partner API; only its digest is kept."""

    __tablename__ = "partner_token"

    id: uuid.UUID = uuid_pk()
    aggregator: Aggregator = Field(sa_type=enum_type(Aggregator), index=True)
    token_digest: str = Field(max_length=64, unique=True)
    label: str | None = Field(default=None, max_length=LABEL_LENGTH)
    created_at: datetime = created_at_field()
    revoked_at: datetime | None = timestamp_field()
