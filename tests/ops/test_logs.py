"""Logs: JSON or text lines, a request id on every line of a request (taken from
X-Request-ID or made, and returned), errors naming their operation, and never a token,
password or customer's personal data — checked by grepping what a real server logged."""

import json
import logging
import uuid

import httpx
import pytest
import strawberry
from prometheus_client import generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL

from classbridge.graph.errors import CodedSchema, ErrorCodes
from classbridge.graph.operation_metrics import OperationMetrics
from classbridge.models.db import Database
from classbridge.models.tables import Aggregator
from classbridge.ops.logs import RequestFields
from classbridge.ops.request_context import RequestContext
from tests.aggregators.partner import PARTNER_PATH, make_partner
from tests.processes import running_server
from tests.studio import Studio

LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
CREATE = "mutation($i: CustomerInput!) { createCustomer(input: $i) { id } }"
SECRET_CUSTOMER = {
    "firstName": "Wilhelmina",
    "lastName": "Zwanziger",
    "email": "wilhelmina.zwanziger@private.example",
    "phone": "+49 170 5550123",
    "street": "Geheimweg 7",
}


async def test_a_server_logs_request_ids_and_no_secrets(
    database_url: str, database: Database, studio: Studio
) -> None:
    partner = await make_partner(database, Aggregator.EGYM_WELLPASS)
    env = {"CLASSBRIDGE_LOG_FORMAT": "json", "CLASSBRIDGE_LOG_LEVEL": "DEBUG"}
    async with (
        running_server(database_url, extra_env=env) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        given = f"desk-{uuid.uuid4().hex[:8]}"
        response = await client.post(
            "/graphql",
            json={"query": CREATE, "variables": {"i": SECRET_CUSTOMER}},
            headers={**studio.headers(), "X-Request-ID": given},
        )
        assert "errors" not in response.json(), response.text
        assert response.headers["x-request-id"] == given
        made = (await client.get("/healthz")).headers["x-request-id"]
        assert len(made) == 32 and made != given
        for unsafe in ("two words", "x" * 129, 'quote"d'):  # replaced, not echoed into logs
            echoed = await client.get("/healthz", headers={"X-Request-ID": unsafe})
            assert echoed.headers["x-request-id"] not in (unsafe, made)

        for password in ("correct horse battery", "wrong-password-123"):
            await client.post(
                "/graphql",
                json={"query": LOGIN, "variables": {"e": studio.owner_email, "p": password}},
            )
        # Variables in a GET query string, and a token where it does not belong.
        await client.get(
            "/graphql",
            params={
                "query": "query($e: String) { customers(first: 1, search: $e) { totalCount } }",
                "variables": json.dumps({"e": SECRET_CUSTOMER["email"]}),
                "access_token": studio.token,
            },
            headers=studio.headers(),
        )
        await client.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": "Bearer cbs_not-a-real-token"},
        )
        await client.post(PARTNER_PATH, json={"query": "{ __typename }"}, headers=partner.headers())
        await client.post(
            PARTNER_PATH,
            json={"query": "{ __typename }"},
            headers={"Authorization": "Bearer cbp_forged-partner-token"},
        )
    lines = [line for line in server.lines if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object

    access = [r for r in records if r["logger"] == "uvicorn.access"]
    mine = [r for r in access if r["request_id"] == given]
    assert len(mine) == 1 and mine[0]["path"] == "/graphql" and mine[0]["status"] == 200
    assert all(r["request_id"] != "-" for r in access)
    assert all("?" not in r["path"] and "?" not in r["message"] for r in access)

    logged = "\n".join(lines)
    secrets = [
        studio.token,
        partner.token,
        "cbs_not-a-real-token",
        "cbp_forged-partner-token",
        "correct horse battery",
        "wrong-password-123",
        *SECRET_CUSTOMER.values(),
        "wilhelmina",  # the email's local part, also URL-encoded forms
    ]
    leaked = [s for s in secrets if s.lower() in logged.lower()]
    assert leaked == [], f"logged: {leaked}"


async def test_text_lines_carry_the_request_id(database_url: str) -> None:
    async with (
        running_server(database_url, extra_env={"CLASSBRIDGE_LOG_FORMAT": "text"}) as server,
        httpx.AsyncClient(base_url=server.url) as client,
    ):
        await client.get("/readyz", headers={"X-Request-ID": "probe-42"})
    [line] = [line for line in server.lines if "GET /readyz" in line]
    assert " INFO uvicorn.access [probe-42] " in line


@strawberry.type
class _Query:
    @strawberry.field
    def boom(self) -> str:
        logging.getLogger("classbridge.test").info("resolving boom")
        raise RuntimeError("the database said no")


async def test_errors_log_the_operation_and_every_line_its_request(
    caplog: pytest.LogCaptureFixture,
) -> None:
    schema = CodedSchema(query=_Query, extensions=[ErrorCodes, OperationMetrics.for_api("test")])

    async def background(request: Request) -> JSONResponse:
        logging.getLogger("classbridge.test").info("outside GraphQL")
        return JSONResponse({})

    app = RequestContext(
        Starlette(routes=[Route("/graphql", GraphQL(schema)), Route("/plain", background)])
    )
    caplog.handler.addFilter(RequestFields())
    operation = f"Explode_{uuid.uuid4().hex[:8]}"
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t"
        ) as client:
            response = await client.post(
                "/graphql",
                json={"query": f"query {operation} {{ boom }}"},
                headers={"X-Request-ID": "req-boom"},
            )
            await client.get("/plain", headers={"X-Request-ID": "req-plain"})
    assert response.json()["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    ours = [r for r in caplog.records if r.name.startswith("classbridge")]
    assert {r.request_id for r in ours} == {"req-boom", "req-plain"}  # type: ignore[attr-defined]
    [error] = [r for r in ours if r.levelno == logging.ERROR]
    assert operation in error.getMessage()
    assert error.operation == operation  # type: ignore[attr-defined]
    assert error.request_id == "req-boom"  # type: ignore[attr-defined]
    assert "the database said no" not in response.text  # the client sees no details

    registry_text = generate_latest().decode()  # this process's metrics
    assert (
        f'classbridge_graphql_operations_total{{api="test",operation="{operation}",'
        'outcome="server_error"} 1.0' in registry_text
    )


async def test_database_errors_do_not_carry_their_values(database: Database) -> None:
    with pytest.raises(Exception) as caught:
        async with database.read() as db:
            await db.execute(
                text("SELECT * FROM no_such_table WHERE email = :e"),
                {"e": "hidden.person@private.example"},
            )
    assert "hidden.person" not in str(caught.value)
