"""What the contract text promises outsiders, asserted: a base URL with a path prefix, how
manifest answers are read."""

import uuid
from pathlib import Path

from classbridge.jobs.client import AggregatorClient
from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.jobs.reconcile import _stale_ids, reconcile
from classbridge.models.db import Database
from tests.jobs.conftest import all_arrived, connect, push_settings, versions
from tests.jobs.processes import Receiver
from tests.studio import Studio


async def test_a_base_url_with_a_path_prefix_and_a_trailing_slash_works(
    studio: Studio, database: Database, database_url: str, tmp_path: Path
) -> None:
    receiver = Receiver(tmp_path, "--path-prefix", "/hooks/classbridge")
    try:
        settings = push_settings(database_url, receiver, "unused")
        settings.egym_wellpass_push_url = f"{receiver.url}/hooks/classbridge/"

        async def schedule(_at):  # type: ignore[no-untyped-def]
            return None

        rt = PushRuntime(
            database=database,
            client=AggregatorClient(settings),
            settings=settings,
            schedule=schedule,
        )
        try:
            await connect(studio)
            sid = await studio.session(days_ahead=1)
            await push_changes(rt)
            await receiver.reset()
            await reconcile(rt)  # the manifest path too
        finally:
            await rt.client.aclose()
        assert all_arrived(await receiver.state(), await versions(studio.database, [sid]))
        assert (await receiver.state())["counters"]["manifests"] == 1
    finally:
        receiver.process.stop()


def test_manifest_answers_are_read_as_the_contract_says() -> None:
    asked = {uuid.uuid4(), uuid.uuid4()}
    one = next(iter(asked))
    assert _stale_ids({"stale": [str(one)]}, asked) == [one]
    # No `stale`, no JSON object, or a `stale` that is no list: "I hold everything".
    assert _stale_ids({}, asked) == []
    assert _stale_ids(None, asked) == []
    assert _stale_ids({"stale": "everything"}, asked) == []
    # Ids not in this chunk and things that are not ids are ignored.
    assert _stale_ids({"stale": [str(uuid.uuid4()), "nonsense", 7]}, asked) == []


async def test_a_refused_manifest_is_skipped_until_the_next_reconciliation(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    await push_changes(runtime)
    await receiver.reset()
    await receiver.faults(failStatus=500, failCount=1)

    await reconcile(runtime)  # the manifest is refused: no repair yet, no crash
    assert str(sid) not in (await receiver.state())["sessions"]

    await reconcile(runtime)
    assert all_arrived(await receiver.state(), await versions(studio.database, [sid]))


async def test_deactivation_resends_an_already_cancelled_session_as_cancelled(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    from classbridge.models import extension as extension_model
    from classbridge.models import session_cancellation
    from classbridge.models.tables import Aggregator
    from tests.aggregators.partner import owner_actor

    await connect(studio)
    offered = await studio.session(days_ahead=1)
    cancelled = await studio.session(days_ahead=2)
    await push_changes(runtime)  # both offered; then one is cancelled
    async with studio.database.transaction() as db:
        await session_cancellation.cancel_session(
            db=db, company_id=studio.company_id, session_id=cancelled, reason=None
        )
    await push_changes(runtime)
    before = await versions(studio.database, [offered, cancelled])

    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.deactivate_extension(
            db=db, actor=actor, aggregator=Aggregator.EGYM_WELLPASS
        )
    await push_changes(runtime)

    held = (await receiver.state())["sessions"]
    assert held[str(offered)]["state"] == "REMOVED"
    assert held[str(cancelled)]["state"] == "CANCELLED"  # it stays cancelled
    for sid in (offered, cancelled):
        assert held[str(sid)]["version"] == before[str(sid)] + 1
