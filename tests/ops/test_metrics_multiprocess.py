"""Several server processes sharing PROMETHEUS_MULTIPROC_DIR: any one's /metrics reports
the sum over all of them, and figures of a stopped process stay counted."""

import uuid
from pathlib import Path

import httpx

from tests.ops.metrics import Scrape
from tests.processes import running_server
from tests.studio import Studio


async def _ask(url: str, studio: Studio, operation: str, times: int) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(times):
            response = await client.post(
                "/graphql",
                json={"query": f"query {operation} {{ me {{ role }} }}"},
                headers=studio.headers(),
            )
            assert response.json() == {"data": {"me": {"role": "OWNER"}}}


async def _scrape(url: str) -> Scrape:
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return Scrape(response.text)


async def test_any_process_reports_the_sum(
    database_url: str, studio: Studio, tmp_path: Path
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    operation = f"Desk_{uuid.uuid4().hex[:8]}"
    ops = "classbridge_graphql_operations_total"
    labels = {"api": "staff", "operation": operation, "outcome": "ok"}
    async with running_server(database_url, extra_env=env) as first:
        async with running_server(database_url, extra_env=env) as second:
            await _ask(first.url, studio, operation, 3)
            await _ask(second.url, studio, operation, 2)
            for url in (first.url, second.url):
                both = await _scrape(url)
                assert both.value(ops, **labels) == 5
                assert both.value("classbridge_backlog_up") == 1  # once, not per process
                assert "classbridge_backlog_up" in both.text
        # The second process stopped: what it counted still counts.
        after = await _scrape(first.url)
        assert after.value(ops, **labels) == 5
        assert after.value("classbridge_live_subscribers") == 0
