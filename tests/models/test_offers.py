"""An offer (partner API and push) says "offered" only at a venue the aggregator itself
linked — not at a venue another aggregator linked — and carries the venues' links."""

from classbridge.models.offer import session_offers
from classbridge.models.tables import Aggregator
from tests.aggregators.partner import activate, connect, link
from tests.studio import Studio

EGYM, USC = Aggregator.EGYM_WELLPASS, Aggregator.URBAN_SPORTS_CLUB


async def test_a_venue_linked_by_another_aggregator_is_not_offered_to_this_one(
    studio: Studio,
) -> None:
    await connect(studio)  # EGYM Wellpass linked the studio's first venue
    second = await studio.venue("Second")
    at_second = await studio.session(days_ahead=3, venue_id=second)
    await activate(studio, USC)
    await link(studio, USC, venue_id=second, external="usc-2")
    at_first = await studio.session()
    async with studio.database.read() as db:
        for_egym = await session_offers(db=db, aggregator=EGYM, session_ids=[at_first, at_second])
        for_usc = await session_offers(db=db, aggregator=USC, session_ids=[at_second])
    assert for_egym.by_session[at_first].offered
    assert not for_egym.by_session[at_second].offered
    assert for_egym.venue_links == {studio.venue_id: "wp-venue-1"}
    assert for_usc.by_session[at_second].offered
    assert for_usc.venue_links == {second: "usc-2"}
