"""Staff see where their changes stand at each aggregator (staff API, graph/staff/sync.py)."""

import httpx
from pydantic import SecretStr

from classbridge.jobs.push import PushRuntime, push_changes
from classbridge.jobs.reconcile import reconcile
from classbridge.models import session as session_model
from classbridge.models.inputs.session import SessionEdit
from classbridge.models.push import expand_outbox
from tests.jobs.conftest import cancel, connect, reserve
from tests.jobs.processes import Receiver
from tests.studio import Studio, error_codes, gql

SESSION_SYNC = """
query ($id: ID!) {
  sessionSync(sessionId: $id) {
    version
    session { id room }
    aggregators { aggregator acknowledgedVersion acknowledgedAt state upToDate pending failed }
  }
}
"""

AGGREGATOR_SYNC = """
query {
  aggregatorSync {
    aggregator status lastSuccessfulPushAt itemsPending itemsFailed eventsPending eventsFailed
    failedItems { session { id } attempts lastError failedAt }
  }
}
"""


async def test_staff_see_whether_a_change_is_on_wellpass_yet(
    client: httpx.AsyncClient, studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    sid = await studio.session()
    await push_changes(runtime)
    async with studio.database.transaction() as db:
        await session_model.edit_session(
            db=db, company_id=studio.company_id, session_id=sid, changes=SessionEdit(room="Loft")
        )

    body = await gql(client, SESSION_SYNC, {"id": str(sid)}, token=studio.token)
    sync = body["data"]["sessionSync"]
    [wellpass] = sync["aggregators"]
    assert wellpass["aggregator"] == "EGYM_WELLPASS"
    assert wellpass["acknowledgedVersion"] == sync["version"] - 1  # the edit is not out yet
    assert wellpass["upToDate"] is False

    await push_changes(runtime)

    body = await gql(client, SESSION_SYNC, {"id": str(sid)}, token=studio.token)
    [wellpass] = body["data"]["sessionSync"]["aggregators"]
    assert wellpass["acknowledgedVersion"] == body["data"]["sessionSync"]["version"]
    assert wellpass["upToDate"] is True and wellpass["state"] == "OFFERED"
    assert wellpass["acknowledgedAt"] is not None


async def test_connection_shows_last_push_pending_and_failed_items(
    client: httpx.AsyncClient, studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    delivered = await studio.session(days_ahead=1)
    await push_changes(runtime)
    runtime.settings.egym_wellpass_push_secret = SecretStr(
        "whsec_" + "d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC13cm9uZyE="
    )
    failing = await studio.session(days_ahead=2)
    await push_changes(runtime)
    await studio.session(days_ahead=3)
    async with studio.database.transaction() as db:
        await expand_outbox(db=db)  # known to be owed, not sent yet: pending

    body = await gql(client, AGGREGATOR_SYNC, token=studio.token)
    [sync] = body["data"]["aggregatorSync"]
    assert sync["aggregator"] == "EGYM_WELLPASS" and sync["status"] == "ACTIVE"
    assert sync["lastSuccessfulPushAt"] is not None
    assert sync["itemsPending"] == 1
    assert sync["itemsFailed"] == 1
    [failed] = sync["failedItems"]
    assert failed["session"]["id"] == str(failing) != str(delivered)
    assert "401" in failed["lastError"]
    assert failed["attempts"] == 1


async def test_connection_shows_reservation_events_pending_and_failed(
    client: httpx.AsyncClient, studio: Studio, receiver: Receiver, runtime: PushRuntime
) -> None:
    await connect(studio)
    refused = await studio.session(days_ahead=1)
    waiting = await studio.session(days_ahead=2)
    members = [await reserve(studio, sid, f"m-{n}") for n, sid in enumerate([refused, waiting])]
    await push_changes(runtime)

    # The cancellation's session state and then its reservation event are refused for good.
    await receiver.faults(failStatus=422, failCount=2)
    await cancel(studio, refused)
    await push_changes(runtime)
    await cancel(studio, waiting)  # owed, not sent yet

    body = await gql(client, AGGREGATOR_SYNC, token=studio.token)
    [sync] = body["data"]["aggregatorSync"]
    assert (sync["eventsPending"], sync["eventsFailed"]) == (1, 1)
    assert sync["itemsFailed"] == 1

    await reconcile(runtime)  # retries the failed ones; the pending one leaves too
    body = await gql(client, AGGREGATOR_SYNC, token=studio.token)
    [sync] = body["data"]["aggregatorSync"]
    assert (sync["eventsPending"], sync["eventsFailed"]) == (0, 0)
    held = (await receiver.state())["reservations"]
    assert sorted(held) == sorted(str(m.id) for m in members)


async def test_another_companys_session_is_not_found(
    client: httpx.AsyncClient, studio: Studio, other_studio: Studio
) -> None:
    sid = await other_studio.session()
    body = await gql(client, SESSION_SYNC, {"id": str(sid)}, token=studio.token)
    assert error_codes(body) == ["NOT_FOUND"]


async def test_a_change_no_worker_picked_up_yet_shows_as_pending(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    await connect(studio)
    sid = await studio.session()  # only the outbox knows: no push ran

    body = await gql(client, SESSION_SYNC, {"id": str(sid)}, token=studio.token)
    [wellpass] = body["data"]["sessionSync"]["aggregators"]
    assert wellpass["aggregator"] == "EGYM_WELLPASS"
    assert wellpass["pending"] is True and wellpass["upToDate"] is False
    assert wellpass["acknowledgedVersion"] is None

    body = await gql(client, AGGREGATOR_SYNC, token=studio.token)
    [sync] = body["data"]["aggregatorSync"]
    assert sync["itemsPending"] == 1 and sync["lastSuccessfulPushAt"] is None
