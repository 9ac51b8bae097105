"""A failing field never harms another request.

When a field fails, graphql-core cancels its siblings, possibly in the middle of a read,
and settles some of them in the background after the response is built. The request's
read session must then be closed only once nothing uses it any more: closing it under a
running read broke the connection, uvicorn logged "Exception in ASGI application" and
dropped the client's next keep-alive request, and (on SQLite) the broken connection went
back to the pool and failed other clients' requests.
"""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy import text

from classbridge.graph.app import create_app
from classbridge.graph.context import Context, RequestFinished
from classbridge.models import booking as booking_model
from classbridge.models.aggregator import Aggregator
from classbridge.models.booking import BookingSource
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.aggregators.partner import PARTNER_PATH, connect, make_partner
from tests.processes import running_server
from tests.services import TLS
from tests.studio import Studio

SLOW = {
    # A read that takes a noticeable while on each backend.
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)"
    " SELECT count(*) FROM c",
    "postgres": "SELECT count(*) FROM (SELECT pg_sleep(0.3)) AS s",
}


def _context(database: Database, settings: Settings) -> Context:
    return Context(request=None, response=None, database=database, settings=settings)  # type: ignore[arg-type]


async def _healthy(database: Database) -> None:
    for _ in range(3):  # every pooled connection still works
        async with database.read() as db:
            assert (await db.execute(text("SELECT 1"))).scalar() == 1


async def test_closing_waits_for_a_read_in_progress_and_refuses_later_ones(
    database: Database, settings: Settings, backend: str
) -> None:
    context = _context(database, settings)
    reading = asyncio.Event()

    async def slow_read() -> int:
        async with context.read() as db:
            reading.set()
            return (await db.execute(text(SLOW[backend]))).scalar()  # type: ignore[no-any-return]

    task = asyncio.create_task(slow_read())
    await reading.wait()
    await context.close()  # the request is over while a background read still runs
    assert await task == (1 if backend == "postgres" else 400000)
    with pytest.raises(RequestFinished):
        async with context.read():
            pass
    await _healthy(database)


async def test_a_read_cancelled_midway_leaves_nothing_broken(
    database: Database, settings: Settings, backend: str
) -> None:
    context = _context(database, settings)
    reading = asyncio.Event()

    async def slow_read() -> None:
        async with context.read() as db:
            reading.set()
            await db.execute(text(SLOW[backend]))

    task = asyncio.create_task(slow_read())
    await reading.wait()
    task.cancel()  # as graphql-core cancels the siblings of a failed field
    with pytest.raises(asyncio.CancelledError):
        await task
    async with context.read() as db:  # a later read of the same request gets a good session
        assert (await db.execute(text("SELECT 2"))).scalar() == 2
    await context.close()
    await _healthy(database)


NORMAL = """
{ sessions(first: 20) { edges { node { id localStart activity { name }
    counts { booked capacity } bookings { id status customer { lastName } } } } } }
"""
# `session` is non-null and fails (unknown id) while `sessions` and `venues` read.
FAILING = """
{ sessions(first: 50) { edges { node { id localStart bookings { id customer { lastName } }
    counts { booked } } } }
  venues { id name }
  session(id: "%s") { id } }
"""
PARTNER_NORMAL = """
{ sessions(first: 50) { edges { node { id name startv2 availableSpots venue { name }
    reservations { edges { node { id status } } } } } } }
"""
# Each session's `reservations` fails (a cursor of another listing) while its siblings read.
PARTNER_FAILING = """
{ sessions(first: 50) { edges { node { id name startv2 availableSpots venue { name }
    reservations(after: "WyJ4Il0=") { edges { node { id status } } } } } } }
"""


async def _busy_studio(studio: Studio) -> None:
    """Sessions with bookings, offered to EGYM Wellpass: reads take a while."""
    await connect(studio, limit=None)
    customers = [await studio.customer(f"Guest{i}", f"Family{i}") for i in range(8)]
    for day in range(1, 11):
        session_id = await studio.session(days_ahead=day, capacity=50)
        async with studio.database.transaction() as db:
            for customer in customers:
                await booking_model.book(
                    db=db,
                    company_id=studio.company_id,
                    session_id=session_id,
                    customer_id=customer,
                    product_id=studio.product_id,
                    source=BookingSource.STAFF,
                )


async def test_a_mixed_load_drops_nothing_and_logs_no_asgi_exception(
    database_url: str, database: Database, studio: Studio
) -> None:
    await _busy_studio(studio)
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    outcomes: dict[str, int] = {"ok": 0, "refused": 0}
    problems: list[str] = []

    async with running_server(database_url) as server:

        async def client(kind: str) -> None:
            token = partner.token if kind.startswith("partner") else studio.token
            path = PARTNER_PATH if kind.startswith("partner") else "/graphql"
            document = {
                "staff": NORMAL,
                "staff-failing": FAILING % uuid.uuid4(),
                "partner": PARTNER_NORMAL,
                "partner-failing": PARTNER_FAILING,
            }[kind]
            # One keep-alive connection per client, as a browser or an integration has.
            limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
            async with httpx.AsyncClient(
                verify=TLS,
                base_url=server.url,
                headers={"Authorization": f"Bearer {token}"},
                limits=limits,
                timeout=60,
            ) as http:
                for _ in range(8):
                    try:
                        response = await http.post(path, json={"query": document})
                    except httpx.TransportError as exc:  # the server dropped the connection
                        problems.append(f"{kind}: dropped ({exc!r})")
                        continue
                    if response.status_code != 200:
                        problems.append(f"{kind}: HTTP {response.status_code}")
                        continue
                    body = response.json()
                    if kind.endswith("failing"):
                        assert body["data"] is None and body["errors"], body
                        outcomes["refused"] += 1
                    elif "errors" in body:
                        problems.append(f"{kind}: {body['errors']}")
                    else:
                        outcomes["ok"] += 1

        kinds = ["staff-failing", "partner-failing"] * 2 + ["staff", "partner"] * 8
        await asyncio.gather(*(client(kind) for kind in kinds))
        await _healthy(database)

    log = "".join(server.lines)
    assert problems == [], problems
    assert outcomes == {"ok": 16 * 8, "refused": 4 * 8}
    assert "Exception in ASGI application" not in log, log
    assert "Traceback" not in log, log


@pytest.mark.parametrize("path", ["/graphql", PARTNER_PATH])
async def test_a_client_that_leaves_before_its_body_arrives_is_no_error(
    settings: Settings,
    database: Database,
    studio: Studio,
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A request whose client disconnects before its body is read (a load tool stopping,
    a closed tab): nothing is answered and nothing is raised or logged as an error (uvicorn
    used to log "Exception in ASGI application" with a traceback). The next request on the
    same app is served."""
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    token = studio.token if path == "/graphql" else partner.token
    app = create_app(settings, database)
    sent: list[dict[str, object]] = []

    async def gone() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    with caplog.at_level("WARNING"):
        await app(scope, gone, send)  # type: ignore[arg-type]
    assert [m for m in sent if m["type"] == "http.response.start"] == []
    assert [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://classbridge.test"
    ) as client:
        response = await client.post(
            path, json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200 and "errors" not in response.json(), response.text
