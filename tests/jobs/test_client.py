"""The aggregator client's building blocks: signatures, ids, backoff, Retry-After."""

import asyncio
import importlib.abc
import re
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from classbridge.jobs.backoff import backoff_seconds
from classbridge.jobs.client import (
    AggregatorClient,
    Delivered,
    RetryLater,
    message_id,
    retry_after_seconds,
    sign_headers,
)
from classbridge.jobs.enqueue import cron_times, push_job_id
from classbridge.settings import Settings
from tests.jobs.processes import SECRET, ClosedPort

OLD = "whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZC1zZWNyZXQ="


def test_signature_verifies_with_the_standard_webhooks_library() -> None:
    body = b'{"type":"sessions.updated","data":{"sessions":[]}}'
    headers = sign_headers([SECRET], message_id(body), body, datetime.now(UTC))
    assert Webhook(SECRET).verify(body, headers) == {
        "type": "sessions.updated",
        "data": {"sessions": []},
    }
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body + b" ", headers)


def test_during_a_rotation_either_secret_verifies() -> None:
    body = b"{}"
    headers = sign_headers([SECRET, OLD], message_id(body), body, datetime.now(UTC))
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(SECRET).verify(body, headers)
    Webhook(OLD).verify(body, headers)


def test_stale_timestamps_are_refused_by_receivers() -> None:
    body = b"{}"
    old = datetime.now(UTC) - timedelta(minutes=6)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body, sign_headers([SECRET], message_id(body), body, old))


def test_same_body_same_message_id() -> None:
    assert message_id(b"{}") == message_id(b"{}") != message_id(b"[]")


def test_retry_after_as_seconds_or_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 50 < (retry_after_seconds(later) or 0) <= 60
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_backoff_grows_and_is_capped() -> None:
    assert all(0.5 <= backoff_seconds(1, base=1, cap=60) <= 1 for _ in range(50))
    assert max(backoff_seconds(6, base=1, cap=60) for _ in range(200)) > 8
    assert all(backoff_seconds(30, base=1, cap=60) <= 60 for _ in range(50))


async def test_network_error_means_retry_later() -> None:
    with ClosedPort() as closed:
        settings = Settings(
            egym_wellpass_push_url=f"http://127.0.0.1:{closed.port}",
            egym_wellpass_push_secret=SECRET,  # type: ignore[arg-type]
        )
        client = AggregatorClient(settings)
        try:
            outcome = await client.post("EGYM_WELLPASS", "/v1/sessions", b"{}")
        finally:
            await client.aclose()
    assert isinstance(outcome, RetryLater) and "Connect" in outcome.error


def test_bursts_share_one_job_per_coalescing_window() -> None:
    settings = Settings(push_coalesce_seconds=0.5, queue_name="q")
    base = datetime(2026, 1, 1, 12, 0, 0, 100_000, tzinfo=UTC)
    first, run_at = push_job_id(settings, base)
    assert push_job_id(settings, base + timedelta(milliseconds=300))[0] == first
    assert push_job_id(settings, base + timedelta(milliseconds=450))[0] != first
    assert timedelta(0) < run_at - base <= timedelta(seconds=0.5)


def test_reconciliation_interval_must_divide_an_hour() -> None:
    assert cron_times(1800) == {"minute": {0, 30}, "second": {0}}
    assert cron_times(5) == {"second": set(range(0, 60, 5))}
    with pytest.raises(ValidationError):
        Settings(reconcile_interval_seconds=700)


class _ImportWatch(importlib.abc.MetaPathFinder):
    """Records every module the import system has to search for (not already loaded)."""

    def __init__(self) -> None:
        self.searched: list[str] = []

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        self.searched.append(fullname)
        return None


async def test_a_push_request_searches_for_no_module() -> None:
    """httpcore imports sniffio on every request where it can (encode/httpcore#1103);
    without it installed, every request searched sys.path for it again."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AggregatorClient(
        Settings(
            egym_wellpass_push_url=f"http://127.0.0.1:{port}",
            egym_wellpass_push_secret=SECRET,  # type: ignore[arg-type]
        )
    )
    watch = _ImportWatch()
    try:
        assert isinstance(await client.post("EGYM_WELLPASS", "/v1/sessions", b"{}"), Delivered)
        sys.meta_path.insert(0, watch)
        for _ in range(3):
            assert isinstance(await client.post("EGYM_WELLPASS", "/v1/sessions", b"{}"), Delivered)
    finally:
        if watch in sys.meta_path:
            sys.meta_path.remove(watch)
        await client.aclose()
        server.close()
    assert watch.searched == []
