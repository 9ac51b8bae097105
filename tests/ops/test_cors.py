"""CORS for browser front ends: none by default; configured origins get preflights
answered on both endpoints, and every answer (errors too) readable by the page."""

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import ValidationError

from classbridge.graph.app import create_app
from classbridge.models.db import Database
from classbridge.settings import Settings
from tests.aggregators.partner import PARTNER_PATH
from tests.studio import Studio

APP_ORIGIN = "https://desk.studio.example"
ENDPOINTS = ["/graphql", PARTNER_PATH]


@pytest.fixture
async def cors_client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(update={"cors_origins": [APP_ORIGIN, "http://localhost:5173"]}),
        database,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://classbridge.test"
    ) as client:
        yield client


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_preflights_of_a_configured_origin_are_answered(
    cors_client: httpx.AsyncClient, path: str
) -> None:
    response = await cors_client.options(path, headers=preflight(APP_ORIGIN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers  # bearer tokens only


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_other_origins_get_no_cors_headers(cors_client: httpx.AsyncClient, path: str) -> None:
    response = await cors_client.options(path, headers=preflight("https://evil.example"))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    response = await cors_client.post(
        path, json={"query": "{ __typename }"}, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_answers_and_refusals_are_readable_by_the_page(
    cors_client: httpx.AsyncClient, studio: Studio
) -> None:
    response = await cors_client.post(
        "/graphql",
        json={"query": "{ me { role } }"},
        headers={**studio.headers(), "Origin": APP_ORIGIN},
    )
    assert response.json() == {"data": {"me": {"role": "OWNER"}}}
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    for path in ENDPOINTS:  # a 401 too, so the page can tell the user to sign in again
        response = await cors_client.post(
            path,
            json={"query": "{ __typename }"},
            headers={"Authorization": "Bearer revoked", "Origin": APP_ORIGIN},
        )
        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == APP_ORIGIN


async def test_no_origin_is_allowed_by_default(client: httpx.AsyncClient) -> None:
    response = await client.options("/graphql", headers=preflight(APP_ORIGIN))
    assert "access-control-allow-origin" not in response.headers
    response = await client.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"Origin": APP_ORIGIN}
    )
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_origins_are_read_as_a_list_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSBRIDGE_CORS_ORIGINS", "https://a.example, http://localhost:5173/")
    assert Settings().cors_origins == ["https://a.example", "http://localhost:5173"]
    monkeypatch.setenv("CLASSBRIDGE_CORS_ORIGINS", '["https://b.example"]')
    assert Settings().cors_origins == ["https://b.example"]
    monkeypatch.delenv("CLASSBRIDGE_CORS_ORIGINS")
    assert Settings().cors_origins == []
    for bad in ("https://a.example/app", "a.example", "ftp://a.example", "https://"):
        monkeypatch.setenv("CLASSBRIDGE_CORS_ORIGINS", bad)
        with pytest.raises(ValidationError, match="no origin"):
            Settings()
