"""Parsed and validated documents are cached per schema; every limit still applies to
every request (graph/limits.py `DocumentCache`)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from graphql import parse

from classbridge.graph.app import create_app
from classbridge.graph.limits import DocumentCache, PreparedDocument
from classbridge.models.db import Database
from classbridge.models.tables import Aggregator
from classbridge.settings import Settings
from tests.aggregators.partner import PARTNER_PATH, connect, make_partner, member
from tests.studio import Studio, error_codes, gql

PAGE = """
query Page($first: Int) {
  sessions(first: $first) { edges { node { id bookings { customer { lastName } } } } }
}
"""
# 1,000 nodes allowed: first 5 estimates 5 + 5 x 100 = 505, first 10 estimates 1,010.
MAX_NODES = 1000


@pytest.fixture
async def app_client(
    database_url: str, database: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, DocumentCache]]]:
    settings = Settings(database_url=database_url, max_query_nodes=MAX_NODES)
    app = create_app(settings, database)
    caches = {name: schema.document_cache for name, schema in app.state.schemas.items()}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://classbridge.test") as c:
        yield c, caches


async def test_a_repeated_document_is_parsed_and_validated_once(
    app_client: tuple[httpx.AsyncClient, dict[str, DocumentCache]], studio: Studio
) -> None:
    client, caches = app_client
    staff = caches["staff"]
    for _ in range(3):
        body = await gql(client, PAGE, {"first": 5}, token=studio.token)
        assert "errors" not in body, body
    assert (staff.parsed, staff.validated) == (1, 1)
    # Other variables: the same prepared document (the cost is worked out again).
    body = await gql(client, PAGE, {"first": 2}, token=studio.token)
    assert "errors" not in body, body
    assert (staff.parsed, staff.validated) == (1, 1)
    # Another document is another entry.
    await gql(client, "{ me { id } }", token=studio.token)
    assert (staff.parsed, staff.validated, len(staff)) == (2, 2, 2)


async def test_the_partner_mutation_is_prepared_once(
    app_client: tuple[httpx.AsyncClient, dict[str, DocumentCache]],
    studio: Studio,
    database: Database,
) -> None:
    client, caches = app_client
    await connect(studio, limit=None)
    session_id = await studio.session()
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    make = "mutation M($s: ID!, $u: UserInput!) { makeReservation(sessionId: $s, user: $u) { id } }"
    for n in range(3):
        response = await client.post(
            PARTNER_PATH,
            json={"query": make, "variables": {"s": str(session_id), "u": member(n)}},
            headers=partner.headers(),
        )
        assert "errors" not in response.json(), response.text
    assert (caches["partner"].parsed, caches["partner"].validated) == (1, 1)


async def test_a_cached_document_over_a_limit_is_still_refused(
    app_client: tuple[httpx.AsyncClient, dict[str, DocumentCache]], studio: Studio
) -> None:
    client, caches = app_client
    body = await gql(client, PAGE, {"first": 5}, token=studio.token)
    assert "errors" not in body, body
    # The same document, now asking for more than the node limit allows: refused, again
    # and again, and allowed again with the small page.
    for _ in range(2):
        body = await gql(client, PAGE, {"first": 10}, token=studio.token)
        assert error_codes(body) == ["QUERY_TOO_COMPLEX"], body
        assert body["errors"][0]["extensions"]["nodes"] == 1010
    body = await gql(client, PAGE, {"first": 5}, token=studio.token)
    assert "errors" not in body, body
    # A page size out of range is refused from the cached cost too.
    body = await gql(client, PAGE, {"first": 0}, token=studio.token)
    assert error_codes(body) == ["VALIDATION"], body
    # A document over the limit whatever its variables: refused every time, never run.
    literal = PAGE.replace("$first", "100").replace("query Page(100: Int)", "query Page")
    for _ in range(2):
        body = await gql(client, literal, token=studio.token)
        assert error_codes(body) == ["QUERY_TOO_COMPLEX"], body
    # A cached document still needs a token; an invalid one still gets its errors.
    body = await gql(client, PAGE, {"first": 5})
    assert error_codes(body) == ["UNAUTHENTICATED"], body
    for _ in range(2):
        body = await gql(client, "{ me { nope } }", token=studio.token)
        assert error_codes(body) == ["GRAPHQL_VALIDATION"], body
    assert caches["staff"].validated == 3  # PAGE once, the invalid document twice


def test_the_cache_is_bounded() -> None:
    cache = DocumentCache(size=2)
    for text in ("{ a }", "{ b }", "{ c }"):
        cache.put((text, None), PreparedDocument(document=parse(text)))
    assert len(cache) == 2
    assert cache.get(("{ a }", None)) is None
    assert cache.get(("{ c }", None)) is not None
