"""seed-demo connects the demo studio to EGYM Wellpass and hands out a partner token
(a new one each run, revoking the previous one)."""

import json
import os

import httpx

from classbridge.graph.app import create_app
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests import zygote
from tests.aggregators.partner import PARTNER_PATH

QUERY = """
{ venues { edges { node { id aggregatorVenueId } } }
  sessions(timeRangeInDays: 14, first: 100) {
    edges { node { class { name } totalAggregatorSpots availableSpots } } } }
"""


def seed(database_url: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "CLASSBRIDGE_DATABASE_URL": database_url}
    done = zygote.run([zygote.CLASSBRIDGE, "seed-demo", "--json"], env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


async def test_the_demo_studio_is_live_for_egym_wellpass(
    database: Database, database_url: str, settings: Settings
) -> None:
    first = seed(database_url)
    second = seed(database_url)  # re-running duplicates nothing
    assert first["companyId"] == second["companyId"]
    token = second["aggregatorTokens"]["EGYM_WELLPASS"]
    app = create_app(settings, database)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cb.test") as c:
        response = await c.post(
            PARTNER_PATH, json={"query": QUERY}, headers={"Authorization": f"Bearer {token}"}
        )
        old = await c.post(
            PARTNER_PATH,
            json={"query": QUERY},
            headers={"Authorization": f"Bearer {first['aggregatorTokens']['EGYM_WELLPASS']}"},
        )
    assert response.status_code == 200
    # Each run revokes the previous demo partner token: one stays live, not one per run.
    assert old.status_code == 401
    data = response.json()["data"]
    venues = [e["node"] for e in data["venues"]["edges"]]
    assert sorted(v["id"] for v in venues) == sorted(second["venueIds"])
    assert sorted(v["aggregatorVenueId"] for v in venues) == ["wellpass-demo-1", "wellpass-demo-2"]
    sessions = [e["node"] for e in data["sessions"]["edges"]]
    offered = {s["class"]["name"] for s in sessions}
    assert offered == {"Vinyasa Flow", "HIIT Express"}
    assert len(sessions) >= 20
    assert all(s["totalAggregatorSpots"] in (4, 5) for s in sessions)
