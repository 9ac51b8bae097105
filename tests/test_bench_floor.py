"""The bench's bare endpoints (bench/bare.py) answer exactly what the GraphQL documents of
bench/read_paths.py answer: "GraphQL/bare" compares the same work only while the JSON is
the same, field for field, on SQLite and PostgreSQL."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from classbridge.models.db import Database

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bare
import read_paths


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    app = bare.build(database_url, plain=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client
    finally:
        await app.state.database.dispose()


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
