"""The studio's side of an aggregator connection: activating the extension ("Market"),
and the aggregator linking venues (which makes the connection live)."""

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from classbridge.models import company as company_model
from classbridge.models import email as email_model
from classbridge.models.base import utcnow
from classbridge.models.db import is_unique_violation
from classbridge.models.errors import DomainError, ErrorCode, not_found
from classbridge.models.fields import ExternalId
from classbridge.models.outbox import (
    add_outbox_items,
    touch_sessions,
    touch_venue_sessions,
    upcoming,
)
from classbridge.models.staff import StaffActor
from classbridge.models.tables.aggregator import (
    Aggregator,
    AggregatorExtension,
    AggregatorVenueExclusion,
    AggregatorVenueLink,
    ExtensionStatus,
)
from classbridge.models.tables.company import Company, Venue
from classbridge.models.tables.outbox import OutboxKind
from classbridge.models.tables.session import ClassSession
from classbridge.models.validation import check


@dataclass(frozen=True)
class VenueLinkView:
    """One venue as shown in Settings > Aggregators."""

    venue: Venue
    aggregator_venue_id: str | None
    offered: bool
    """The studio lets this aggregator have the venue (it still needs linking)."""


@dataclass(frozen=True)
class ExtensionView:
    """One aggregator's extension for a company (NOT_ACTIVATED when there is no row)."""

    aggregator: Aggregator
    company_id: uuid.UUID
    status: ExtensionStatus
    extension: AggregatorExtension | None
    venues: list[VenueLinkView]


async def find_extension(
    *, db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator
) -> AggregatorExtension | None:
    """The company's extension row for an aggregator; None when it never activated one."""
    return await db.scalar(
        select(AggregatorExtension).where(
            AggregatorExtension.company_id == company_id,
            AggregatorExtension.aggregator == aggregator,
        )
    )


async def _lock_company(db: AsyncSession, company_id: uuid.UUID) -> Company:
    # Extension changes of one company are serialized on its row (PostgreSQL; SQLite's
    # write transactions are exclusive anyway), so two clicks cannot create two rows.
    company = await db.scalar(select(Company).where(Company.id == company_id).with_for_update())
    if company is None:
        raise not_found("company")
    return company


async def _has_links(db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator) -> bool:
    found = await db.scalar(
        select(sa.func.count())
        .select_from(AggregatorVenueLink)
        .join(Venue, col(Venue.id) == AggregatorVenueLink.venue_id)
        .where(Venue.company_id == company_id, AggregatorVenueLink.aggregator == aggregator)
    )
    return bool(found)


async def _announce_change(db: AsyncSession, company_id: uuid.UUID, aggregator: Aggregator) -> None:
    await add_outbox_items(
        db=db, company_id=company_id, kind=OutboxKind.EXTENSION_CHANGED, aggregator=aggregator
    )


async def _touch_upcoming_sessions(db: AsyncSession, company_id: uuid.UUID) -> None:
    """Everything the aggregator sees of the company changed (it is offered or withdrawn)."""
    await touch_sessions(db, (col(ClassSession.company_id) == company_id) & upcoming())


async def activate_extension(
    *, db: AsyncSession, actor: StaffActor, aggregator: Aggregator
) -> AggregatorExtension:
    """The OWNER switches an aggregator on (graph/staff/permissions.py lets only OWNERs call
    it). It waits for the aggregator to link a venue
    (or is ACTIVE at once when venues are still linked from before). Emails the owners
    the next steps and the IDs the aggregator needs. Activating twice changes nothing."""
    company = await _lock_company(db, actor.company_id)
    extension = await find_extension(db=db, company_id=company.id, aggregator=aggregator)
    if extension is not None and extension.status in (
        ExtensionStatus.WAITING_FOR_AGGREGATOR,
        ExtensionStatus.ACTIVE,
    ):
        return extension
    now = utcnow()
    if extension is None:
        extension = AggregatorExtension(
            company_id=company.id, aggregator=aggregator, status=ExtensionStatus.ACTIVE
        )
        db.add(extension)
    linked = await _has_links(db, company.id, aggregator)
    extension.status = ExtensionStatus.ACTIVE if linked else ExtensionStatus.WAITING_FOR_AGGREGATOR
    extension.activated_at = now
    extension.deactivated_at = None
    extension.updated_at = now
    await db.flush()
    if linked:
        await _touch_upcoming_sessions(db, company.id)
    await _announce_change(db, company.id, aggregator)
    venues = await company_model.list_venues(db=db, company_id=company.id)
    email_model.queue_email(
        db=db,
        to=await email_model.owner_addresses(db=db, company_id=company.id),
        subject=f"{aggregator.display_name} extension activated for {company.name}",
        body=_activation_body(company, venues, aggregator),
        company_id=company.id,
    )
    return extension


def _activation_body(company: Company, venues: list[Venue], aggregator: Aggregator) -> str:
    name = aggregator.display_name
    venue_lines = "\n".join(f"  - {v.name}: venue UUID {v.id}" for v in venues)
    return (
        f"Hello,\n\nyou activated the {name} extension for {company.name}.\n\n"
        "Next steps:\n"
        f"1. In each activity's registration rules, turn on \"Allow bookings from "
        f'aggregators" (optionally with a limit of {name} spots).\n'
        f"2. Send your {name} contact the IDs below, so they can connect your schedule.\n"
        "   You find them again under Settings > Aggregators.\n"
        f"3. We email you as soon as {name} has connected a venue: from then on your "
        "sessions are offered and bookings arrive in your sign-in lists.\n\n"
        f"Company UUID: {company.id}\n"
        f"Venues:\n{venue_lines}\n"
    )


async def deactivate_extension(
    *, db: AsyncSession, actor: StaffActor, aggregator: Aggregator
) -> AggregatorExtension:
    """The OWNER switches an aggregator off: nothing is offered to it any more (existing
    bookings stay). Deactivating what is not active is refused."""
    company = await _lock_company(db, actor.company_id)
    extension = await find_extension(db=db, company_id=company.id, aggregator=aggregator)
    if extension is None or extension.status is ExtensionStatus.DEACTIVATED:
        raise DomainError(
            ErrorCode.EXTENSION_NOT_ACTIVATED,
            f"the {aggregator.display_name} extension is not activated",
        )
    was_active = extension.status is ExtensionStatus.ACTIVE
    extension.status = ExtensionStatus.DEACTIVATED
    if was_active:
        # Every upcoming session changes for this aggregator: it is no longer offered.
        await _touch_upcoming_sessions(db, company.id)
    # Stamped after the bump: the change feed reports changes up to this moment only.
    now = utcnow()
    extension.deactivated_at = now
    extension.updated_at = now
    await db.flush()
    await _announce_change(db, company.id, aggregator)
    return extension


async def set_aggregator_venue_id(
    *,
    db: AsyncSession,
    aggregator: Aggregator,
    venue_id: uuid.UUID,
    aggregator_venue_id: str,
) -> Venue:
    """The aggregator links one of our venues to its own id. Allowed only once the studio
    activated the extension; the first link makes the extension ACTIVE. Linking again
    replaces the id. The studio's owners learn by email that the connection is live.

    A venue of a studio that has not activated this aggregator is NOT_FOUND, exactly as
    an unknown id: the aggregator must not learn which venue ids exist elsewhere."""
    aggregator_venue_id = check(ExternalId, aggregator_venue_id, name="aggregator_venue_id")
    venue = await db.get(Venue, venue_id)
    if venue is None:
        raise not_found("venue")
    company = await _lock_company(db, venue.company_id)
    extension = await find_extension(db=db, company_id=company.id, aggregator=aggregator)
    if extension is None or extension.status not in (
        ExtensionStatus.WAITING_FOR_AGGREGATOR,
        ExtensionStatus.ACTIVE,
    ):
        raise not_found("venue")
    link = await db.scalar(
        select(AggregatorVenueLink).where(
            AggregatorVenueLink.venue_id == venue.id,
            AggregatorVenueLink.aggregator == aggregator,
        )
    )
    taken = await db.scalar(
        select(sa.func.count())
        .select_from(AggregatorVenueLink)
        .where(
            AggregatorVenueLink.aggregator == aggregator,
            AggregatorVenueLink.aggregator_venue_id == aggregator_venue_id,
            AggregatorVenueLink.venue_id != venue.id,
        )
    )
    if taken:
        raise _venue_id_taken(aggregator_venue_id)
    now = utcnow()
    newly_linked = link is None
    relinked = link is not None and link.aggregator_venue_id != aggregator_venue_id
    if link is None:
        link = AggregatorVenueLink(
            venue_id=venue.id, aggregator=aggregator, aggregator_venue_id=aggregator_venue_id
        )
        db.add(link)
    elif link.aggregator_venue_id != aggregator_venue_id:
        link.aggregator_venue_id = aggregator_venue_id
        link.linked_at = now
    became_active = extension.status is not ExtensionStatus.ACTIVE
    if became_active:
        extension.status = ExtensionStatus.ACTIVE
        extension.updated_at = now
    venue.updated_at = now
    try:
        # A savepoint: two venues linked to one id at once meet the unique constraint.
        async with db.begin_nested():
            await db.flush()
    except sa.exc.IntegrityError as exc:
        if not is_unique_violation(exc):
            raise
        raise _venue_id_taken(aggregator_venue_id) from None
    if became_active:
        await _touch_upcoming_sessions(db, company.id)
        await _announce_change(db, company.id, aggregator)
    elif newly_linked or relinked:
        # The venue's sessions carry the aggregator's venue id: a change it can see.
        await touch_venue_sessions(db, venue.id)
    if newly_linked:
        name = aggregator.display_name
        email_model.queue_email(
            db=db,
            to=await email_model.owner_addresses(db=db, company_id=company.id),
            subject=f"Your {name} connection is live: {venue.name}",
            body=(
                f"Hello,\n\n{name} has connected your venue {venue.name} "
                f"(venue UUID {venue.id}, {name} venue id {aggregator_venue_id}).\n\n"
                f"The connection is live: sessions of activities that allow bookings from "
                f"aggregators are offered to {name} members now, and their bookings appear "
                "in your sign-in lists with the product "
                f'"{name}".\n'
            ),
            company_id=company.id,
        )
    return venue


def _venue_id_taken(aggregator_venue_id: str) -> DomainError:
    # Which venue holds it is not said: it may be another studio's.
    return DomainError(
        ErrorCode.AGGREGATOR_ID_TAKEN,
        f"the venue id {aggregator_venue_id} is already linked to another venue",
        loc=("aggregator_venue_id",),
    )


async def set_venue_offered(
    *,
    db: AsyncSession,
    actor: StaffActor,
    aggregator: Aggregator,
    venue_id: uuid.UUID,
    offered: bool,
) -> Venue:
    """The OWNER chooses whether this aggregator gets one of the studio's venues. A venue
    kept from it is neither listed, offered, pushed nor bookable there (its sessions are
    withdrawn); offering it again brings them back once the aggregator linked it."""
    venue = await company_model.get_venue(db=db, company_id=actor.company_id, venue_id=venue_id)
    await _lock_company(db, venue.company_id)
    exclusion = await db.scalar(
        select(AggregatorVenueExclusion).where(
            AggregatorVenueExclusion.venue_id == venue.id,
            AggregatorVenueExclusion.aggregator == aggregator,
        )
    )
    if offered == (exclusion is None):
        return venue  # already so: nothing changes, nothing is sent
    if offered:
        assert exclusion is not None
        await db.delete(exclusion)
    else:
        db.add(AggregatorVenueExclusion(venue_id=venue.id, aggregator=aggregator))
    await db.flush()
    await touch_venue_sessions(db, venue.id)
    return venue


async def list_extensions(*, db: AsyncSession, company_id: uuid.UUID) -> list[ExtensionView]:
    """Settings > Aggregators: every aggregator, its status, and the IDs it needs."""
    rows = {
        e.aggregator: e
        for e in await db.scalars(
            select(AggregatorExtension).where(AggregatorExtension.company_id == company_id)
        )
    }
    venues = await company_model.list_venues(db=db, company_id=company_id)
    excluded = {
        (e.venue_id, e.aggregator)
        for e in await db.scalars(
            select(AggregatorVenueExclusion).where(
                col(AggregatorVenueExclusion.venue_id).in_([v.id for v in venues])
            )
        )
    }
    links: dict[tuple[uuid.UUID, Aggregator], str] = {
        (link.venue_id, link.aggregator): link.aggregator_venue_id
        for link in await db.scalars(
            select(AggregatorVenueLink).where(
                col(AggregatorVenueLink.venue_id).in_([v.id for v in venues])
            )
        )
    }
    return [
        ExtensionView(
            aggregator=aggregator,
            company_id=company_id,
            status=rows[aggregator].status if aggregator in rows else ExtensionStatus.NOT_ACTIVATED,
            extension=rows.get(aggregator),
            venues=[
                VenueLinkView(v, links.get((v.id, aggregator)), (v.id, aggregator) not in excluded)
                for v in venues
            ],
        )
        for aggregator in Aggregator
    ]
