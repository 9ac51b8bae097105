"""One definition of what an aggregator sees: activation grows each upcoming session's
version once; a deactivated aggregator gets its withdrawals and then nothing; staff see a
change as pending from its commit on."""

import httpx

from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.models import extension as extension_model
from classbridge.models import session as session_model
from classbridge.models.base import utcnow
from classbridge.models.inputs.session import SessionEdit
from classbridge.models.push import expand_outbox
from classbridge.models.tables import Aggregator
from tests.aggregators.partner import (
    activate,
    link,
    make_partner,
    offer_activity,
    owner_actor,
    pgql,
)
from tests.aggregators.test_partner_api import SESSIONS
from tests.jobs.conftest import connect, versions
from tests.jobs.processes import Receiver
from tests.jobs.test_staff_visibility import AGGREGATOR_SYNC, SESSION_SYNC
from tests.studio import Studio, gql

WELLPASS = Aggregator.EGYM_WELLPASS


async def _deactivate(studio: Studio) -> None:
    actor = await owner_actor(studio)
    async with studio.database.transaction() as db:
        await extension_model.deactivate_extension(db=db, actor=actor, aggregator=WELLPASS)


async def _edit_room(studio: Studio, sid, room: str) -> None:  # type: ignore[no-untyped-def]
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db,
            company_id=studio.company_id,
            session_id=sid,
            changes=SessionEdit(room=room),
        )


async def test_going_live_grows_each_upcoming_session_once(studio: Studio) -> None:
    sid = await studio.session()
    [before] = (await versions(studio.database, [sid])).values()
    await activate(studio)
    await offer_activity(studio)
    await link(studio)  # the extension becomes ACTIVE: everything is offered now
    [live] = (await versions(studio.database, [sid])).values()
    async with studio.database.transaction() as db:
        await expand_outbox(db=db)  # the push's turn: it must not grow them again

    assert (await versions(studio.database, [sid]))[str(sid)] == live
    assert live == before + 2  # one for the activity's rules, one for going live


async def test_a_deactivated_aggregator_gets_its_withdrawals_and_then_no_feed_entries(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await activate(studio)
    await offer_activity(studio)
    await link(studio)
    sid = await studio.session()
    partner = await make_partner(studio.database, WELLPASS)
    since = utcnow().isoformat()

    await _deactivate(studio)
    feed = await pgql(client, partner, SESSIONS, {"since": since})
    [node] = [e["node"] for e in feed["data"]["sessions"]["edges"]]
    assert node["id"] == str(sid) and node["isCancelled"] is True  # withdrawn, once

    after = utcnow().isoformat()
    await _edit_room(studio, sid, "Studio 9")  # none of its business any more
    feed = await pgql(client, partner, SESSIONS, {"since": after})
    assert feed["data"]["sessions"]["edges"] == []


async def test_session_sync_forgets_a_deactivated_aggregator_once_it_has_the_removal(
    client: httpx.AsyncClient, studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session()
    await push_changes(runtime)
    await _deactivate(studio)

    body = await gql(client, SESSION_SYNC, {"id": str(sid)}, token=studio.token)
    [wellpass] = body["data"]["sessionSync"]["aggregators"]
    assert wellpass["pending"] is True  # the removal is owed

    await push_changes(runtime)
    assert (await receiver.state())["sessions"][str(sid)]["state"] == "REMOVED"
    await _edit_room(studio, sid, "Studio 9")
    await push_changes(runtime)

    body = await gql(client, SESSION_SYNC, {"id": str(sid)}, token=studio.token)
    assert body["data"]["sessionSync"]["aggregators"] == []  # nothing owed, nothing stuck


async def test_a_change_is_pending_while_it_coalesces_in_both_views(
    client: httpx.AsyncClient, studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session()
    await push_changes(runtime)
    await _edit_room(studio, sid, "Loft")  # in the outbox; no worker ran yet

    body = await gql(client, SESSION_SYNC, {"id": str(sid)}, token=studio.token)
    [wellpass] = body["data"]["sessionSync"]["aggregators"]
    assert wellpass["pending"] is True and wellpass["upToDate"] is False
    body = await gql(client, AGGREGATOR_SYNC, token=studio.token)
    [sync] = body["data"]["aggregatorSync"]
    assert sync["itemsPending"] == 1

    await push_changes(runtime)
    body = await gql(client, SESSION_SYNC, {"id": str(sid)}, token=studio.token)
    [wellpass] = body["data"]["sessionSync"]["aggregators"]
    assert wellpass["pending"] is False and wellpass["upToDate"] is True
