"""/metrics scraped after real traffic: HTTP and GraphQL counters, latency histograms,
live subscribers, and the queues read from the database at scrape time."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import update

from classbridge.graph.app import create_app
from classbridge.models import email as email_model
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.push.owed import expand_outbox
from classbridge.models.tables import Aggregator, PushDelivery, ReservationDelivery
from classbridge.ops import metrics
from classbridge.settings import Settings
from tests.aggregators.partner import PARTNER_PATH, make_partner
from tests.conftest import QueryCounter
from tests.jobs.conftest import cancel, connect, reserve
from tests.live.conftest import serve
from tests.live.test_sign_in_events import subscribe
from tests.live.wsclient import TRANSPORT_WS
from tests.ops.metrics import scrape
from tests.studio import Studio

OPS = "classbridge_graphql_operations_total"


def unique(prefix: str) -> str:
    """Operation names of this test alone: counters are per process, shared by tests."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def test_operations_are_counted_by_api_name_and_outcome(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    ok, bad, part = unique("Schedule"), unique("Broken"), unique("PartnerPing")
    before = await scrape(client)
    for _ in range(2):
        response = await client.post(
            "/graphql",
            json={"query": f"query {ok} {{ me {{ role }} }}"},
            headers=studio.headers(),
        )
        assert response.json() == {"data": {"me": {"role": "OWNER"}}}
    response = await client.post(
        "/graphql", json={"query": f"query {bad} {{ noSuchField }}"}, headers=studio.headers()
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION"
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    response = await client.post(
        PARTNER_PATH, json={"query": f"query {part} {{ __typename }}"}, headers=partner.headers()
    )
    assert response.status_code == 200, response.text
    refused = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": "Bearer nope"}
    )
    assert refused.status_code == 401

    after = await scrape(client)
    assert after.value(OPS, api="staff", operation=ok, outcome="ok") == 2
    assert after.value(OPS, api="staff", operation=bad, outcome="client_error") == 1
    assert after.value(OPS, api="partner", operation=part, outcome="ok") == 1
    assert (
        after.value(
            "classbridge_graphql_operation_duration_seconds_count", api="staff", operation=ok
        )
        == 2
    )

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("classbridge_graphql_errors_total", api="staff", code="GRAPHQL_VALIDATION") >= 1
    # HTTP level: everything, including what never reached GraphQL (the 401).
    http = "classbridge_http_requests_total"
    assert delta(http, route="/graphql", method="POST", status="401") >= 1
    assert delta(http, route="/graphql", method="POST", status="200") >= 3
    assert delta(http, route=PARTNER_PATH, method="POST", status="200") >= 1
    assert delta("classbridge_http_request_duration_seconds_count", route="/graphql") >= 4


async def test_unknown_paths_and_invented_names_cannot_grow_the_metrics(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/wp-admin", f"/{uuid.uuid4().hex}"):
        assert (await client.get(path)).status_code == 404
    text = (await scrape(client)).text
    assert "/wp-admin" not in text and 'route="other"' in text

    names = metrics.BoundedLabel(limit=3)
    assert [names(n) for n in ("A", "B", "C", "D", "A")] == ["A", "B", "C", "other", "A"]
    assert names("x" * 65) == "invalid" and names("not a name") == "invalid"


async def test_queues_are_read_from_the_database_at_scrape_time(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    empty = await scrape(client)
    assert empty.value("classbridge_backlog_up") == 1
    assert empty.value("classbridge_push_outbox_unprocessed") == 0
    assert empty.value("classbridge_push_oldest_pending_change_age_seconds") == 0
    assert empty.value("classbridge_emails_queued") == 0

    await connect(studio)
    sessions = [await studio.session(days_ahead=d) for d in (2, 3, 4)]
    async with database.transaction() as db:
        email_model.queue_email(
            db=db, to=["a@x.example", "b@x.example"], subject="s", body="b", company_id=None
        )
    app = create_app(Settings(database_url=str(database.url)), database)  # a fresh cache
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        owed = await scrape(c)
    assert owed.value("classbridge_push_outbox_unprocessed") >= 3
    assert owed.value("classbridge_push_oldest_pending_change_age_seconds") > 0
    assert owed.value("classbridge_emails_queued") == 2

    async with database.transaction() as db:
        await expand_outbox(db=db)
        await db.execute(
            update(PushDelivery)
            .where(PushDelivery.session_id == sessions[0])  # type: ignore[arg-type]
            .values(failed_at=utcnow())
        )
    app = create_app(Settings(database_url=str(database.url)), database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        pushed = await scrape(c)
    assert pushed.value("classbridge_push_outbox_unprocessed") == 0
    assert pushed.value("classbridge_push_items_pending", aggregator="EGYM_WELLPASS") == 2
    assert pushed.value("classbridge_push_items_failed", aggregator="EGYM_WELLPASS") == 1
    assert pushed.value("classbridge_push_oldest_pending_change_age_seconds") > 0


async def test_reservation_events_owed_and_failed_are_counted_per_aggregator(
    studio: Studio, database: Database
) -> None:
    await connect(studio)
    refused, owed = [await studio.session(days_ahead=d) for d in (2, 3)]
    bookings = [await reserve(studio, sid, f"m-{sid}") for sid in (refused, owed)]
    for sid in (refused, owed):
        await cancel(studio, sid)  # each owes its member's reservation event
    async with database.transaction() as db:
        await db.execute(
            update(ReservationDelivery)
            .where(ReservationDelivery.booking_id == bookings[0].id)  # type: ignore[arg-type]
            .values(failed_at=utcnow(), pending=False)
        )
    app = create_app(Settings(database_url=str(database.url)), database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        figures = await scrape(c)
    assert figures.value("classbridge_push_events_pending", aggregator="EGYM_WELLPASS") == 1
    assert figures.value("classbridge_push_events_failed", aggregator="EGYM_WELLPASS") == 1


async def test_scrapes_share_one_database_read_per_interval(
    database: Database, query_counter: QueryCounter
) -> None:
    now = [1000.0]
    endpoint = metrics.Metrics(database, None, clock=lambda: now[0])
    await endpoint.backlog()
    per_read = query_counter.count
    assert per_read > 0
    for _ in range(20):
        await endpoint.backlog()
    assert query_counter.count == per_read
    now[0] += metrics.BACKLOG_TTL_SECONDS
    await endpoint.backlog()
    assert query_counter.count == 2 * per_read


async def test_the_database_being_down_is_a_figure_not_an_error(tmp_path: object) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/missing/x.db")
    app = create_app(Settings(database_url=str(database.url)), database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        down = await scrape(c)
    await database.dispose()
    assert down.value("classbridge_backlog_up") == 0
    assert "classbridge_emails_queued" not in down.names()


async def test_a_metrics_token_protects_the_endpoint(
    settings: Settings, database: Database
) -> None:
    secret = SecretStr("scrape-secret")
    app = create_app(settings.model_copy(update={"metrics_token": secret}), database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret"}):
            response = await c.get("/metrics", headers=headers)
            assert response.status_code == 401
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "classbridge_backlog_up" in (await scrape(c, token="scrape-secret")).names()


@pytest.fixture
async def live(settings: Settings, database: Database) -> AsyncIterator[str]:
    async with serve(create_app(settings, database)) as server:
        yield server.host


async def test_live_subscribers_are_counted_while_connected(live: str, studio: Studio) -> None:
    session_id = await studio.session()
    async with httpx.AsyncClient(base_url=f"http://{live}") as client:
        before = (await scrape(client)).value("classbridge_live_subscribers")
        socket = await subscribe(f"ws://{live}/graphql", TRANSPORT_WS, studio, session_id)
        assert (await socket.event())["signInUpdates"]["change"] == "SNAPSHOT"
        assert (await scrape(client)).value("classbridge_live_subscribers") == before + 1
        await socket.close()
        # Closing is asynchronous on the server: poll with a deadline.
        from tests.live.conftest import wait_for

        async def gone() -> bool:
            return (await scrape(client)).value("classbridge_live_subscribers") == before

        await wait_for(gone)
