"""Aggregator venue ids are unique per aggregator, and a studio chooses which venues each
aggregator gets: an unlinked or excluded venue is neither listed, offered, pushed nor
bookable there."""

import uuid

import httpx
import pytest

from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.models import extension as extension_model
from classbridge.models import reservation as reservation_model
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.models.inputs.customer import Member
from classbridge.models.tables import Aggregator
from tests.aggregators.partner import activate, make_partner, owner_actor, pgql
from tests.jobs.conftest import WELLPASS, connect
from tests.jobs.processes import Receiver
from tests.studio import Studio, gql

VENUES = "query { venues(first: 50) { edges { node { id } } } }"
SESSIONS = "query { sessions(first: 50) { edges { node { id isCancelled } } } }"
SET_OFFERED = """
mutation($v: ID!, $o: Boolean!) {
  setAggregatorVenueOffered(aggregator: EGYM_WELLPASS, venueId: $v, offered: $o) {
    venues { venueId offered aggregatorVenueId }
  }
}
"""


async def _link(studio: Studio, venue_id: uuid.UUID, external: str, aggregator=WELLPASS) -> None:  # type: ignore[no-untyped-def]
    async with studio.database.transaction() as db:
        await extension_model.set_aggregator_venue_id(
            db=db, aggregator=aggregator, venue_id=venue_id, aggregator_venue_id=external
        )


async def _second_venue_session(studio: Studio) -> tuple[uuid.UUID, uuid.UUID]:
    annex = await studio.venue("Annex")
    return annex, await studio.session(days_ahead=2, hour=12, venue_id=annex)


async def _reserve(studio: Studio, session_id: uuid.UUID) -> None:
    async with studio.database.transaction() as db:
        await reservation_model.make_reservation(
            db=db,
            aggregator=WELLPASS,
            session_id=session_id,
            member=Member(id="m-1", first_name="Mia", last_name="Member"),
        )


async def test_an_aggregator_venue_id_names_one_venue(studio: Studio, other_studio: Studio) -> None:
    await connect(studio)  # studio's venue is wp-4711 at Wellpass
    await activate(other_studio)
    with pytest.raises(DomainError) as taken:
        await _link(other_studio, other_studio.venue_id, "wp-4711")
    assert taken.value.code is ErrorCode.AGGREGATOR_ID_TAKEN
    assert str(studio.venue_id) not in taken.value.message  # nothing about the other studio
    # Another aggregator's ids are its own business.
    await activate(other_studio, Aggregator.URBAN_SPORTS_CLUB)
    await _link(other_studio, other_studio.venue_id, "wp-4711", Aggregator.URBAN_SPORTS_CLUB)


async def test_an_unlinked_venue_is_neither_listed_offered_pushed_nor_bookable(
    client: httpx.AsyncClient, studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    linked = await studio.session(days_ahead=1)
    annex, unlinked = await _second_venue_session(studio)
    partner = await make_partner(studio.database, WELLPASS)

    venues = await pgql(client, partner, VENUES)
    assert [e["node"]["id"] for e in venues["data"]["venues"]["edges"]] == [str(studio.venue_id)]
    sessions = await pgql(client, partner, SESSIONS)
    assert [e["node"]["id"] for e in sessions["data"]["sessions"]["edges"]] == [str(linked)]
    await push_changes(runtime)
    assert set((await receiver.state())["sessions"]) == {str(linked)}
    with pytest.raises(DomainError) as refused:
        await _reserve(studio, unlinked)
    assert refused.value.code is ErrorCode.NOT_BOOKABLE_BY_AGGREGATOR

    await _link(studio, annex, "wp-annex")  # linking it offers it
    await push_changes(runtime)
    held = (await receiver.state())["sessions"][str(unlinked)]
    assert held["state"] == "OFFERED" and held["aggregatorVenueId"] == "wp-annex"


async def test_a_venue_only_another_aggregator_linked_is_not_pushed(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)  # Wellpass linked the studio's first venue
    linked = await studio.session(days_ahead=1)
    annex, _ = await _second_venue_session(studio)
    await activate(studio, Aggregator.URBAN_SPORTS_CLUB)
    await _link(studio, annex, "usc-annex", Aggregator.URBAN_SPORTS_CLUB)
    await push_changes(runtime)  # to Wellpass: the annex is not its venue
    assert set((await receiver.state())["sessions"]) == {str(linked)}


async def test_a_venue_the_studio_keeps_from_an_aggregator_is_withdrawn(
    client: httpx.AsyncClient, studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    await push_changes(runtime)
    partner = await make_partner(studio.database, WELLPASS)

    body = await gql(
        client, SET_OFFERED, {"v": str(studio.venue_id), "o": False}, token=studio.token
    )
    assert body["data"]["setAggregatorVenueOffered"]["venues"] == [
        {"venueId": str(studio.venue_id), "offered": False, "aggregatorVenueId": "wp-4711"}
    ]
    await push_changes(runtime)

    assert (await receiver.state())["sessions"][str(sid)]["state"] == "REMOVED"
    assert (await pgql(client, partner, VENUES))["data"]["venues"]["edges"] == []
    assert (await pgql(client, partner, SESSIONS))["data"]["sessions"]["edges"] == []
    with pytest.raises(DomainError) as refused:
        await _reserve(studio, sid)
    assert refused.value.code is ErrorCode.NOT_BOOKABLE_BY_AGGREGATOR

    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.set_venue_offered(
            db=db, actor=actor, aggregator=WELLPASS, venue_id=studio.venue_id, offered=True
        )
    await push_changes(runtime)
    assert (await receiver.state())["sessions"][str(sid)]["state"] == "OFFERED"
