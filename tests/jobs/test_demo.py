"""The README's push demo: seed, connect, and the demo schedule reaches the simulator."""

from classbridge.demo import seed_demo
from classbridge.demo_push import connect_demo
from classbridge.jobs.push import PushRuntime
from classbridge.jobs.reconcile import reconcile
from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database
from tests.jobs.processes import Receiver


async def test_connected_demo_studio_pushes_its_schedule(
    database: Database, receiver: Receiver, runtime: PushRuntime
) -> None:
    await seed_demo(database, token_ttl_days=1)
    assert await connect_demo(database, aggregator=Aggregator.EGYM_WELLPASS) == 2
    await connect_demo(database, aggregator=Aggregator.EGYM_WELLPASS)  # again: no duplicates

    await reconcile(runtime)  # what `classbridge serve` runs at start-up

    held = (await receiver.state())["sessions"]
    assert len(held) > 20
    assert {s["state"] for s in held.values()} == {"OFFERED"}
    assert {s["aggregatorVenueId"] for s in held.values()} == {"demo-1", "demo-2"}
