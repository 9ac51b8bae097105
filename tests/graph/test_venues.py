"""Venues (issue 13.3): updateVenue changes name, address, coordinates, contact and time
zone; a new zone keeps sessions at their instants and says so; aggregators see the change."""

import uuid
from typing import Any

import httpx
import pytest
from sqlmodel import select

from classbridge.models.tables import Aggregator, OutboxItem
from tests.aggregators.partner import connect, make_partner, pgql
from tests.graph.rows import diff, snapshot
from tests.studio import Studio, error_codes, gql

UPDATE_VENUE = """
mutation($id: ID!, $input: UpdateVenueInput!) {
  updateVenue(id: $id, input: $input) {
    venue {
      id name timezone street zip city country phone email website
      coordinates { latitude longitude } updatedAt
    }
    previousTimezone sessionsKeptAtInstant notice
  }
}
"""
SESSION = "query($id: ID!) { session(id: $id) { startsAt localStart version } }"
PARTNER_VENUE = """
{ venues { edges { node {
  name timezone address { street zip city country } coordinate { latitude longitude }
  email phone website
} } } }
"""
PARTNER_SESSION = "query($id: ID!) { session(id: $id) { startv2 venue { timezone } } }"

EVERYTHING = {
    "name": "Loft Kreuzberg",
    "street": "Oranienstraße 2",
    "zip": "10999",
    "city": "Berlin",
    "country": "DE",
    "coordinates": {"latitude": 52.5, "longitude": 13.42},
    "phone": "+49 30 1234567",
    "email": "Desk@Loft.example",
    "website": "https://loft.example/kreuzberg",
}


async def _update(
    client: httpx.AsyncClient, studio: Studio, input: dict[str, Any], *, token: str | None = None
) -> dict[str, Any]:
    return await gql(
        client,
        UPDATE_VENUE,
        {"id": str(studio.venue_id), "input": input},
        token=token or studio.token,
    )


async def test_update_venue_sets_every_field_and_the_partner_api_shows_them(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    body = await _update(client, studio, EVERYTHING)
    assert "errors" not in body, body
    answer = body["data"]["updateVenue"]
    venue = answer["venue"]
    assert venue["name"] == "Loft Kreuzberg" and venue["email"] == "desk@loft.example"
    assert venue["coordinates"] == {"latitude": 52.5, "longitude": 13.42}
    assert (answer["previousTimezone"], answer["sessionsKeptAtInstant"], answer["notice"]) == (
        None,
        0,
        None,
    )
    seen = await pgql(client, partner, PARTNER_VENUE)
    assert seen["data"]["venues"]["edges"][0]["node"] == {
        "name": "Loft Kreuzberg",
        "timezone": "Europe/Berlin",
        "address": {"street": "Oranienstraße 2", "zip": "10999", "city": "Berlin", "country": "DE"},
        "coordinate": {"latitude": 52.5, "longitude": 13.42},
        "email": "desk@loft.example",
        "phone": "+49 30 1234567",
        "website": "https://loft.example/kreuzberg",
    }

    # Left out keeps its value; null clears an optional one.
    body = await _update(client, studio, {"coordinates": None, "street": None, "city": "Potsdam"})
    venue = body["data"]["updateVenue"]["venue"]
    assert (venue["coordinates"], venue["street"], venue["city"], venue["zip"]) == (
        None,
        None,
        "Potsdam",
        "10999",
    )


async def test_a_new_time_zone_keeps_sessions_at_their_instants_and_says_so(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    partner = await make_partner(studio.database, Aggregator.EGYM_WELLPASS)
    session_id = str(await studio.session(hour=18))
    before = (await gql(client, SESSION, {"id": session_id}, token=studio.token))["data"]
    assert before["session"]["localStart"][11:16] == "18:00"
    async with studio.database.read() as db:
        outbox_before = len(
            (
                await db.scalars(
                    select(OutboxItem).where(OutboxItem.session_id == uuid.UUID(session_id))
                )
            ).all()
        )

    body = await _update(client, studio, {"timezone": "Europe/London"})
    answer = body["data"]["updateVenue"]
    assert answer["venue"]["timezone"] == "Europe/London"
    assert answer["previousTimezone"] == "Europe/Berlin"
    assert answer["sessionsKeptAtInstant"] == 1
    assert "keep their instant" in answer["notice"]

    after = (await gql(client, SESSION, {"id": session_id}, token=studio.token))["data"]
    assert after["session"]["startsAt"] == before["session"]["startsAt"]  # the same instant
    assert after["session"]["localStart"][11:16] == "17:00"  # London is an hour behind Berlin
    assert after["session"]["version"] > before["session"]["version"]  # aggregators re-read it
    async with studio.database.read() as db:
        outbox_after = len(
            (
                await db.scalars(
                    select(OutboxItem).where(OutboxItem.session_id == uuid.UUID(session_id))
                )
            ).all()
        )
    assert outbox_after == outbox_before + 1  # the push is told
    seen = await pgql(client, partner, PARTNER_SESSION, {"id": session_id})
    assert seen["data"]["session"]["venue"]["timezone"] == "Europe/London"
    assert seen["data"]["session"]["startv2"][11:] == "17:00:00+00:00"


@pytest.mark.parametrize(
    ("input", "field"),
    [
        ({"coordinates": {"latitude": 91, "longitude": 0}}, "input.coordinates.latitude"),
        ({"coordinates": {"latitude": 0, "longitude": -180.5}}, "input.coordinates.longitude"),
        ({"email": "not-an-address"}, "input.email"),
        ({"website": "ftp://loft.example"}, "input.website"),
        ({"website": "loft.example"}, "input.website"),
        ({"timezone": "Mars/Olympus"}, "input.timezone"),
        ({"timezone": None}, "input.timezone"),
        ({"name": None}, "input.name"),
        ({"name": "  "}, "input.name"),
        ({"zip": "1" * 21}, "input.zip"),
    ],
)
async def test_bad_venue_input_is_refused_with_its_field_and_changes_nothing(
    client: httpx.AsyncClient, studio: Studio, input: dict[str, Any], field: str
) -> None:
    before = await snapshot(studio.database)
    body = await _update(client, studio, {"city": "Changed", **input})
    assert body["data"] is None and error_codes(body) == ["VALIDATION"], body
    assert body["errors"][0]["extensions"]["field"] == field
    after = await snapshot(studio.database)
    assert after == before, diff(before, after)


async def test_only_owners_update_venues(client: httpx.AsyncClient, studio: Studio) -> None:
    desk = await studio.desk_token()
    body = await _update(client, studio, {"name": "Mine now"}, token=desk)
    assert error_codes(body) == ["FORBIDDEN"]


async def test_create_venue_takes_the_same_details(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    body = await gql(
        client,
        """mutation($input: VenueInput!) { createVenue(input: $input) {
             name website coordinates { latitude longitude } } }""",
        {"input": {"timezone": "Europe/Vienna", **EVERYTHING}},
        token=studio.token,
    )
    assert body["data"]["createVenue"] == {
        "name": "Loft Kreuzberg",
        "website": "https://loft.example/kreuzberg",
        "coordinates": {"latitude": 52.5, "longitude": 13.42},
    }
