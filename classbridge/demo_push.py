"""`classbridge connect-demo`: connect the demo studio to an aggregator, for the push demo.

A shortcut for trying the push locally: it does in one step what the studio (activating the
extension, allowing aggregator bookings) and the aggregator (linking venues) do in real life.
"""

from sqlalchemy import select

from classbridge.demo import DEMO_OWNER_EMAIL
from classbridge.models import activity as activity_model
from classbridge.models import company as company_model
from classbridge.models import staff as staff_model
from classbridge.models.aggregator import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueLink,
    ExtensionStatus,
)
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.outbox import OutboxKind, add_outbox_items


async def connect_demo(database: Database, *, aggregator: Aggregator) -> int:
    """Make the demo studio's connection ACTIVE; returns how many venues were linked."""
    async with database.transaction() as db:
        owner = await db.scalar(
            select(staff_model.StaffUser).where(staff_model.StaffUser.email == DEMO_OWNER_EMAIL)
        )
        if owner is None:
            raise DomainError(ErrorCode.NOT_FOUND, "no demo studio: run `classbridge seed-demo`")
        company_id = owner.company_id
        extension = await db.scalar(
            select(AggregatorExtension).where(
                AggregatorExtension.company_id == company_id,
                AggregatorExtension.aggregator == aggregator,
            )
        )
        now = utcnow()
        if extension is None:
            extension = AggregatorExtension(
                company_id=company_id, aggregator=aggregator, status=ExtensionStatus.ACTIVE
            )
            db.add(extension)
        extension.status, extension.activated_at, extension.updated_at = (
            ExtensionStatus.ACTIVE,
            now,
            now,
        )
        venues = await company_model.list_venues(db=db, company_id=company_id)
        linked = set(
            await db.scalars(
                select(AggregatorVenueLink.venue_id).where(
                    AggregatorVenueLink.aggregator == aggregator
                )
            )
        )
        for n, venue in enumerate(venues, start=1):
            if venue.id not in linked:
                db.add(
                    AggregatorVenueLink(
                        venue_id=venue.id, aggregator=aggregator, aggregator_venue_id=f"demo-{n}"
                    )
                )
        for activity in await activity_model.list_activities(db=db, company_id=company_id):
            await activity_model.update_rules(
                db=db,
                company_id=company_id,
                activity_id=activity.id,
                rules={"allow_aggregator_bookings": True},
            )
        add_outbox_items(
            db=db,
            company_id=company_id,
            kind=OutboxKind.EXTENSION_CHANGED,
            aggregator=aggregator.value,
        )
    return len(venues)
