"""The studio activates an aggregator, the aggregator links venues: statuses, emails,
outbox rows and session versions."""

import pytest
from sqlalchemy import func, select

from classbridge.models import company as company_model
from classbridge.models import extension as extension_model
from classbridge.models.db import Database
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.tables import (
    Aggregator,
    ClassSession,
    EmailMessage,
    ExtensionStatus,
    OutboxItem,
    OutboxKind,
)
from tests.aggregators.partner import activate, link, owner_actor
from tests.studio import Studio

EGYM = Aggregator.EGYM_WELLPASS


async def _status(studio: Studio, aggregator: Aggregator = EGYM) -> ExtensionStatus:
    async with studio.database.read() as db:
        views = await extension_model.list_extensions(db=db, company_id=studio.company_id)
    return next(v.status for v in views if v.aggregator is aggregator)


async def _emails(database: Database) -> list[EmailMessage]:
    async with database.read() as db:
        return list(await db.scalars(select(EmailMessage).order_by(EmailMessage.id)))


async def test_lifecycle_statuses_from_not_activated_to_deactivated(studio: Studio) -> None:
    assert await _status(studio) is ExtensionStatus.NOT_ACTIVATED
    await activate(studio)
    assert await _status(studio) is ExtensionStatus.WAITING_FOR_AGGREGATOR
    assert await _status(studio, Aggregator.CLASSPASS) is ExtensionStatus.NOT_ACTIVATED
    await link(studio)
    assert await _status(studio) is ExtensionStatus.ACTIVE
    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.deactivate_extension(db=db, actor=actor, aggregator=EGYM)
    assert await _status(studio) is ExtensionStatus.DEACTIVATED
    # Re-activating with venues still linked is live at once.
    await activate(studio)
    assert await _status(studio) is ExtensionStatus.ACTIVE


async def test_activation_emails_the_owner_the_company_and_venue_uuids(studio: Studio) -> None:
    await activate(studio)
    await activate(studio)  # twice: no second email
    emails = await _emails(studio.database)
    assert len(emails) == 1
    assert emails[0].to_address == studio.owner_email
    assert str(studio.company_id) in emails[0].body
    assert str(studio.venue_id) in emails[0].body
    assert "Next steps" in emails[0].body
    assert emails[0].sent_at is None and emails[0].attempts == 0


async def test_linking_needs_an_activated_extension(studio: Studio) -> None:
    # Not activated looks exactly like an unknown venue: no existence oracle.
    with pytest.raises(DomainError) as refused:
        await link(studio)
    assert refused.value.code is ErrorCode.NOT_FOUND
    await activate(studio)
    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.deactivate_extension(db=db, actor=actor, aggregator=EGYM)
    with pytest.raises(DomainError) as refused:
        await link(studio)
    assert refused.value.code is ErrorCode.NOT_FOUND


async def test_several_venues_link_and_relinking_replaces_the_id(studio: Studio) -> None:
    async with studio.database.transaction() as db:
        second = await company_model.create_venue(
            db=db,
            company_id=studio.company_id,
            venue=VenueCreate(name="Second", timezone="Europe/Vienna"),
        )
    await activate(studio)
    await link(studio, external="wp-1")
    await link(studio, venue_id=second.id, external="wp-2")
    await link(studio, external="wp-1b")
    async with studio.database.read() as db:
        views = await extension_model.list_extensions(db=db, company_id=studio.company_id)
    egym = next(v for v in views if v.aggregator is EGYM)
    assert {v.venue.id: v.aggregator_venue_id for v in egym.venues} == {
        studio.venue_id: "wp-1b",
        second.id: "wp-2",
    }
    emails = await _emails(studio.database)
    # Activation, then "live" once per newly linked venue (not for re-linking).
    assert [e.subject.split(":")[0] for e in emails] == [
        "EGYM Wellpass extension activated for Yoga Loft",
        "Your EGYM Wellpass connection is live",
        "Your EGYM Wellpass connection is live",
    ]


async def test_an_unknown_venue_is_not_found(studio: Studio) -> None:
    import uuid

    await activate(studio)
    with pytest.raises(DomainError) as refused:
        await link(studio, venue_id=uuid.uuid4())
    assert refused.value.code is ErrorCode.NOT_FOUND


async def test_going_live_and_deactivating_touch_upcoming_sessions(studio: Studio) -> None:
    session_id = await studio.session()

    async def state() -> tuple[int, int]:
        async with studio.database.read() as db:
            session = await db.get(ClassSession, session_id)
            assert session is not None
            outbox = await db.scalar(
                select(func.count())
                .select_from(OutboxItem)
                .where(
                    OutboxItem.session_id == session_id,
                    OutboxItem.kind == OutboxKind.SESSION_CHANGED,
                )
            )
        return session.version, outbox or 0

    version, rows = await state()
    await activate(studio)
    assert await state() == (version, rows)  # nothing is offered yet
    await link(studio)
    assert await state() == (version + 1, rows + 1)
    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.deactivate_extension(db=db, actor=actor, aggregator=EGYM)
    assert await state() == (version + 2, rows + 2)
    async with studio.database.read() as db:
        kinds = list(
            await db.scalars(
                select(OutboxItem.aggregator).where(OutboxItem.kind == OutboxKind.EXTENSION_CHANGED)
            )
        )
    assert kinds == ["EGYM_WELLPASS"] * 3  # activate, live, deactivate
