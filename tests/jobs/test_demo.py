"""The README's push demo: the seeded demo studio (connected to EGYM Wellpass) pushes its
offered schedule to the simulator."""

from classbridge.demo import seed_demo
from classbridge.jobs.push import PushRuntime
from classbridge.jobs.reconcile import reconcile
from classbridge.models.db import Database
from tests.jobs.processes import Receiver


async def test_connected_demo_studio_pushes_its_schedule(
    database: Database, receiver: Receiver, runtime: PushRuntime
) -> None:
    await seed_demo(database, token_ttl_days=1)
    await seed_demo(database, token_ttl_days=1)  # again: nothing duplicated

    await reconcile(runtime)  # what `classbridge serve` runs at start-up

    held = (await receiver.state())["sessions"]
    assert len(held) > 20
    assert {s["state"] for s in held.values()} == {"OFFERED"}
    assert {s["aggregatorVenueId"] for s in held.values()} == {"wellpass-demo-1", "wellpass-demo-2"}
