"""The HTTP face of /graphql: GraphiQL for people, no changes over GET, health."""

import httpx
from graphql import get_introspection_query

from classbridge.models.db import Database
from tests.graph.rows import snapshot
from tests.studio import Studio, gql

CREATE_CUSTOMER = 'mutation { createCustomer(input: {firstName: "G", lastName: "Et"}) { id } }'


async def test_a_browser_gets_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "graphiql" in response.text.lower()


async def test_queries_work_over_get_but_mutations_do_not(
    client: httpx.AsyncClient, studio: Studio, database: Database
) -> None:
    response = await client.get(
        "/graphql", params={"query": "{ me { role } }"}, headers=studio.headers()
    )
    assert response.json() == {"data": {"me": {"role": "OWNER"}}}
    before = await snapshot(database)
    response = await client.get(
        "/graphql", params={"query": CREATE_CUSTOMER}, headers=studio.headers()
    )
    assert 400 <= response.status_code < 500
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await snapshot(database) == before


async def test_a_bad_token_gets_401_on_get_too(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/graphql", params={"query": "{ me { role } }"}, headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_graphiqls_full_introspection_fits_the_limits(
    client: httpx.AsyncClient, studio: Studio
) -> None:
    query = get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    body = await gql(client, query, token=studio.token)
    assert "errors" not in body
    names = {t["name"] for t in body["data"]["__schema"]["types"]}
    assert {"Session", "Booking", "Customer", "SignInList"} <= names
