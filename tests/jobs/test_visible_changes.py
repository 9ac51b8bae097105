"""Every change an aggregator can see gives a new version, and the reconciliation
compares acknowledged content, not only versions; a change it cannot see sends nothing."""

import sqlalchemy as sa

from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.jobs.reconcile import reconcile
from classbridge.models import extension as extension_model
from classbridge.models import session as session_model
from classbridge.models.inputs.session import SessionEdit
from tests.jobs.conftest import WELLPASS, connect, versions
from tests.jobs.processes import Receiver
from tests.studio import Studio


async def test_relinking_a_venue_pushes_its_sessions_with_a_new_version(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    await push_changes(runtime)
    [before] = (await versions(studio.database, [sid])).values()

    async with studio.database.transaction() as db:
        await extension_model.set_aggregator_venue_id(
            db=db, aggregator=WELLPASS, venue_id=studio.venue_id, aggregator_venue_id="wp-9999"
        )
    await push_changes(runtime)

    held = (await receiver.state())["sessions"][str(sid)]
    assert held["aggregatorVenueId"] == "wp-9999"
    assert held["version"] == before + 1


async def test_content_changed_without_a_version_is_repaired_with_a_new_version(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    await push_changes(runtime)
    [before] = (await versions(studio.database, [sid])).values()
    # A path that forgot its version bump (raw SQL stands in for it), then a receiver
    # that lost its state: the repair must not re-send the same version with new content.
    async with studio.database.transaction() as db:
        await db.execute(
            sa.text("UPDATE class_session SET room = 'Forgotten' WHERE id = :id"),
            {"id": sid.hex if studio.database.engine.dialect.name == "sqlite" else sid},
        )
    await receiver.reset()

    await reconcile(runtime)

    held = (await receiver.state())["sessions"][str(sid)]
    assert held["room"] == "Forgotten"
    assert held["version"] == before + 1 == (await versions(studio.database, [sid]))[str(sid)]


async def test_an_edit_that_changes_nothing_sends_nothing(
    studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session(days_ahead=1)
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=sid, changes=SessionEdit(room="Loft")
        )
    await push_changes(runtime)
    before = await versions(studio.database, [sid])
    requests = (await receiver.state())["counters"]["requests"]

    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=sid, changes=SessionEdit(room="Loft")
        )
    await push_changes(runtime)
    await reconcile(runtime)

    assert await versions(studio.database, [sid]) == before
    assert (await receiver.state())["counters"]["requests"] == requests
