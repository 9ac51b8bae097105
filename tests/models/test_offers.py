"""An offer (partner API and push) says "offered" only at a venue the aggregator itself
linked — not at a venue another aggregator linked — and carries the venues' links."""

from datetime import datetime, timedelta

from classbridge.models import company as company_model
from classbridge.models import session as session_model
from classbridge.models.base import utcnow
from classbridge.models.inputs.company import VenueCreate
from classbridge.models.inputs.session import SessionSchedule
from classbridge.models.offer import session_offers
from classbridge.models.tables import Aggregator
from tests.aggregators.partner import activate, connect, link
from tests.studio import Studio

EGYM, USC = Aggregator.EGYM_WELLPASS, Aggregator.URBAN_SPORTS_CLUB


async def test_a_venue_linked_by_another_aggregator_is_not_offered_to_this_one(
    studio: Studio,
) -> None:
    await connect(studio)  # EGYM Wellpass linked the studio's first venue
    async with studio.database.transaction() as db:
        second = await company_model.create_venue(
            db=db,
            company_id=studio.company_id,
            venue=VenueCreate(name="Second", timezone="Europe/Berlin"),
        )
        day = (utcnow() + timedelta(days=3)).date()
        (at_second,) = await session_model.schedule_sessions(
            db=db,
            company_id=studio.company_id,
            schedule=SessionSchedule(
                activity_id=studio.activity_id,
                venue_id=second.id,
                start=datetime(day.year, day.month, day.day, 18),
            ),
        )
    await activate(studio, USC)
    await link(studio, USC, venue_id=second.id, external="usc-2")
    at_first = await studio.session()
    async with studio.database.read() as db:
        for_egym = await session_offers(
            db=db, aggregator=EGYM, session_ids=[at_first, at_second.id]
        )
        for_usc = await session_offers(db=db, aggregator=USC, session_ids=[at_second.id])
    assert for_egym.by_session[at_first].offered
    assert not for_egym.by_session[at_second.id].offered
    assert for_egym.venue_links == {studio.venue_id: "wp-venue-1"}
    assert for_usc.by_session[at_second.id].offered
    assert for_usc.venue_links == {second.id: "usc-2"}
