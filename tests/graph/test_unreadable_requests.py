"""Requests that cannot be read get a 4xx with a JSON body and a code, on both endpoints,
and change nothing — never a 500, never strawberry's plain-text answer."""

from typing import Any

import httpx
import pytest

from classbridge.models.aggregator import Aggregator
from classbridge.models.db import Database
from tests.aggregators.partner import PARTNER_PATH, make_partner
from tests.graph.rows import snapshot
from tests.studio import Studio

DEEP = "[" * 3000 + "]" * 3000
MUTATION = 'mutation { createProduct(name: "P", kind: DROP_IN) { id } }'

# (name, method, request arguments, status, code)
CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("body null", "POST", {"content": b"null"}, 400, "BAD_REQUEST"),
    ("body a string", "POST", {"content": b'"x"'}, 400, "BAD_REQUEST"),
    ("body a number", "POST", {"content": b"5"}, 400, "BAD_REQUEST"),
    ("body true", "POST", {"content": b"true"}, 400, "BAD_REQUEST"),
    ("JSON 3,000 deep", "POST", {"content": DEEP.encode()}, 400, "BAD_REQUEST"),
    (
        "variables 3,000 deep",
        "POST",
        {"content": b'{"query": "{ __typename }", "variables": ' + DEEP.encode() + b"}"},
        400,
        "BAD_REQUEST",
    ),
    ("not UTF-8", "POST", {"content": b'{"query": "\xff\xfe"}'}, 400, "BAD_REQUEST"),
    (
        "wrong content type",
        "POST",
        {"content": b"{ __typename }", "type": "text/plain"},
        400,
        "BAD_REQUEST",
    ),
    ("no query", "POST", {"content": b'{"variables": {}}'}, 400, "BAD_REQUEST"),
    ("a batch", "POST", {"content": b'[{"query": "{ __typename }"}]'}, 400, "BAD_REQUEST"),
    ("query not text", "POST", {"content": b'{"query": 42}'}, 400, "BAD_REQUEST"),
    ("malformed JSON", "POST", {"content": b'{"query": '}, 400, "BAD_REQUEST"),
    ("PUT", "PUT", {"content": b'{"query": "{ __typename }"}'}, 405, "METHOD_NOT_ALLOWED"),
    ("DELETE", "DELETE", {}, 405, "METHOD_NOT_ALLOWED"),
    ("PATCH", "PATCH", {"content": b"{}"}, 405, "METHOD_NOT_ALLOWED"),
    ("OPTIONS", "OPTIONS", {}, 405, "METHOD_NOT_ALLOWED"),
]
STAFF_ONLY: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET of a mutation", "GET", {"params": {"query": MUTATION}}, 400, "BAD_REQUEST"),
    (
        "GET with variables 3,000 deep",
        "GET",
        {"params": {"query": "{ __typename }", "variables": DEEP}},
        400,
        "BAD_REQUEST",
    ),
]
PARTNER_ONLY: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("GET", "GET", {"params": {"query": "{ __typename }"}}, 405, "METHOD_NOT_ALLOWED"),
    ("GET of a mutation", "GET", {"params": {"query": MUTATION}}, 405, "METHOD_NOT_ALLOWED"),
]


@pytest.fixture
async def partner_token(database: Database) -> str:
    return (await make_partner(database, Aggregator.EGYM_WELLPASS)).token


@pytest.mark.parametrize("endpoint", ["staff", "partner"])
async def test_unreadable_requests_get_json_with_a_code(
    client: httpx.AsyncClient,
    studio: Studio,
    database: Database,
    partner_token: str,
    endpoint: str,
) -> None:
    path, token, cases = (
        ("/graphql", studio.token, CASES + STAFF_ONLY)
        if endpoint == "staff"
        else (PARTNER_PATH, partner_token, CASES + PARTNER_ONLY)
    )
    before = await snapshot(database)
    for name, method, arguments, status, code in cases:
        response = await client.request(
            method,
            path,
            content=arguments.get("content"),
            params=arguments.get("params"),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": arguments.get("type", "application/json"),
            },
        )
        assert response.status_code == status, (name, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/json"), name
        body = response.json()
        assert body["data"] is None, name
        assert [e["extensions"]["code"] for e in body["errors"]] == [code], (name, body)
        if status == 405:
            assert set(response.headers["allow"].split(", ")) <= {"GET", "POST"}, name
    assert await snapshot(database) == before


async def test_a_subscription_over_http_is_refused_with_a_code(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    query = 'subscription { signInUpdates(sessionId: "%s") { change } }' % await studio.session()
    response = await client.post("/graphql", json={"query": query}, headers=studio.headers())
    body = response.json()
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION"], body
    assert "WebSocket" in body["errors"][0]["message"]
