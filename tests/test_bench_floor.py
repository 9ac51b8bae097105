"""The bench's bare endpoints (bench/bare.py) answer exactly what the GraphQL documents of
bench/read_paths.py answer: "GraphQL/bare" compares the same work only while the JSON is
the same, field for field, on SQLite and PostgreSQL."""

import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select
from starlette.applications import Starlette

from classbridge.models.db import Database
from classbridge.models.tables import AuditActorKind, AuditEntry
from tests.models.test_statement_counts import statements

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bare
import read_paths


@pytest.fixture
async def app(database_url: str) -> AsyncIterator[Starlette]:
    app = bare.build(database_url, plain=False)
    try:
        yield app
    finally:
        await app.state.database.dispose()


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        yield client


async def test_the_bare_endpoints_answer_what_graphql_answers(
    database: Database, client: httpx.AsyncClient
) -> None:
    staff, partner, sign_in_id = await read_paths.seed(database)

    async def graphql(path: str, document: str, variables: dict[str, Any], token: str) -> Any:
        response = await client.post(
            path,
            content=read_paths._body(document, variables),
            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def bare_get(path: str, token: str) -> Any:
        response = await client.get(path, headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        return response.json()

    partner_page = await graphql(
        "/aggregator/v1/graphql", read_paths.PARTNER_POLL, {"first": 100}, partner
    )
    assert len(partner_page["data"]["sessions"]["edges"]) == 100
    assert partner_page == await bare_get("/bare/partner-sessions?first=100", partner)

    schedule = await graphql("/graphql", read_paths.STAFF_SCHEDULE, {"first": 100}, staff)
    assert len(schedule["data"]["sessions"]["edges"]) == 100
    assert schedule == await bare_get("/bare/staff-sessions?first=100", staff)

    sign_in = await graphql("/graphql", read_paths.SIGN_IN_LIST, {"id": sign_in_id}, staff)
    assert len(sign_in["data"]["signInList"]["bookings"]) == 50
    assert sign_in == await bare_get(f"/bare/sign-in-list?id={sign_in_id}", staff)


async def test_the_bare_reservation_does_the_work_graphql_does(
    database: Database, app: Starlette, client: httpx.AsyncClient
) -> None:
    """Same statements (the audit log's entries included) for `makeReservation` and the
    bench's bare `/bare/reserve`: "GraphQL/bare" of bench/partner_reservations.py is the
    GraphQL layer's cost alone."""
    _, partner, session_id = await read_paths.seed(database)
    user = {"firstName": "B", "lastName": "M"}
    make = "mutation($s: ID!, $u: UserInput!) { makeReservation(sessionId: $s, user: $u) { id } }"
    requests = {
        "graphql": (
            "/aggregator/v1/graphql",
            read_paths._body(make, {"s": session_id, "u": {"id": "via-graphql", **user}}),
        ),
        "bare": (
            "/bare/reserve",
            json.dumps({"sessionId": session_id, "user": {"id": "via-bare", **user}}),
        ),
    }
    # The aggregator's first reservation ever also creates its built-in product.
    warm_up = {"sessionId": session_id, "user": {"id": "warm-up", **user}}
    response = await client.post(
        "/bare/reserve", content=json.dumps(warm_up), headers={"authorization": f"Bearer {partner}"}
    )
    assert response.status_code == 200, response.text
    sent: dict[str, list[str]] = {}
    for name, (path, body) in requests.items():
        with statements(app.state.database) as sent[name]:
            response = await client.post(
                path,
                content=body,
                headers={"authorization": f"Bearer {partner}", "content-type": "application/json"},
            )
        assert response.status_code == 200 and "errors" not in response.json(), response.text
    assert len(sent["graphql"]) > 5
    assert [_verb(s) for s in sent["graphql"]] == [_verb(s) for s in sent["bare"]]
    async with database.read() as db:
        entries = await db.scalars(
            select(AuditEntry)
            .where(AuditEntry.actor_kind == AuditActorKind.AGGREGATOR)
            .order_by(col(AuditEntry.at))
        )
        by_transaction: dict[uuid.UUID, list[tuple[str, str]]] = {}
        for e in entries:
            by_transaction.setdefault(e.transaction_id, []).append((e.entity_type, e.action))
    _, graphql, bare_ = (sorted(v) for v in by_transaction.values())  # in request order
    assert graphql == bare_ and ("booking", "CREATE") in graphql, by_transaction


def _verb(statement: str) -> str:
    """A statement's kind and table: what each does, not its parameters."""
    words = statement.split()
    return " ".join(words[:4])
