"""Test actors for the aggregator side: a studio connected to EGYM Wellpass and its token."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from classbridge.models import activity as activity_model
from classbridge.models import extension as extension_model
from classbridge.models import partner_token as token_model
from classbridge.models import staff as staff_model
from classbridge.models.db import Database
from classbridge.models.inputs.activity import RegistrationRules
from classbridge.models.tables import Aggregator
from tests.studio import Studio

PARTNER_PATH = "/aggregator/v1/graphql"


@dataclass
class Partner:
    aggregator: Aggregator
    token: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_partner(database: Database, aggregator: Aggregator) -> Partner:
    async with database.transaction() as db:
        _, token = await token_model.create_token(db=db, aggregator=aggregator)
    return Partner(aggregator=aggregator, token=token)


async def owner_actor(studio: Studio) -> staff_model.StaffActor:
    async with studio.database.read() as db:
        actor = await staff_model.authenticate(db=db, token=studio.token)
    assert actor is not None
    return actor


async def activate(studio: Studio, aggregator: Aggregator = Aggregator.EGYM_WELLPASS) -> None:
    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.activate_extension(db=db, actor=actor, aggregator=aggregator)


async def link(
    studio: Studio,
    aggregator: Aggregator = Aggregator.EGYM_WELLPASS,
    *,
    venue_id: uuid.UUID | None = None,
    external: str = "wp-venue-1",
) -> None:
    async with studio.database.transaction() as db:
        await extension_model.set_aggregator_venue_id(
            db=db,
            aggregator=aggregator,
            venue_id=venue_id or studio.venue_id,
            aggregator_venue_id=external,
        )


async def offer_activity(
    studio: Studio, *, limit: int | None = None, activity_id: uuid.UUID | None = None
) -> None:
    async with studio.database.transaction() as db:
        await activity_model.update_rules(
            db=db,
            company_id=studio.company_id,
            activity_id=activity_id or studio.activity_id,
            rules=RegistrationRules(allow_aggregator_bookings=True, aggregator_limit=limit),
        )


async def connect(studio: Studio, *, limit: int | None = 3) -> None:
    """The whole studio-side lifecycle: activate, the aggregator links, offer the activity."""
    await activate(studio)
    await link(studio)
    await offer_activity(studio, limit=limit)


async def pgql(
    client: httpx.AsyncClient,
    partner: Partner,
    query: str,
    variables: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """POST to the partner API; returns the JSON body (asserting HTTP 200)."""
    response = await client.post(
        PARTNER_PATH,
        json={"query": query, "variables": variables or {}},
        headers=partner.headers(),
    )
    assert response.status_code == 200, response.text
    return response.json()


def member(n: int | str = 1, **extra: Any) -> dict[str, Any]:
    return {"id": f"member-{n}", "firstName": "Mia", "lastName": f"Member{n}", **extra}
