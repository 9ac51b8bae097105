"""The aggregator HTTP client: signs each push (Standard Webhooks) and turns every response
into one of three outcomes: delivered, retry later, or rejected."""

import hashlib
import logging
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from classbridge.settings import Settings

log = logging.getLogger("classbridge.push")

# 4xx codes that say "not now" rather than "never". Every 5xx is retried too.
RETRY_4XX = frozenset({408, 425, 429})


def is_retryable(status: int) -> bool:
    """The one retry rule of the contract (docs/aggregator-push.md, "Status codes"):
    every 5xx, 408, 425 and 429 are retried; any other non-2xx answer gives up."""
    return status >= 500 or status in RETRY_4XX


@dataclass(frozen=True)
class Delivered:
    """2xx: the receiver has the message."""

    body: Any


@dataclass(frozen=True)
class RetryLater:
    """Network error, timeout, 5xx, 408, 425, 429: try again, not before `after` seconds
    if the receiver said."""

    error: str
    after: float | None = None


@dataclass(frozen=True)
class Rejected:
    """Any other answer (400, 401, 404, 422, 3xx…): sending it again as it is would not help."""

    error: str


Outcome = Delivered | RetryLater | Rejected


def message_id(body: bytes) -> str:
    """The same body always gets the same id, so a retried message keeps its id and the
    receiver can use it as an idempotency key."""
    return "msg_" + hashlib.sha256(body).hexdigest()[:32]


def sign_headers(secrets: list[str], msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """Standard Webhooks v1 headers; one signature per secret during a rotation."""
    text = body.decode()
    signatures = " ".join(Webhook(s).sign(msg_id, now, text) for s in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
    }


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verified TLS context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR),
    built once per process: building one loads the CA bundle, tens of milliseconds."""
    return httpx.create_ssl_context()


class AggregatorClient:
    """One pooled httpx client for every aggregator; build once per process, close once."""

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None):
        self.settings = settings
        timeout = httpx.Timeout(settings.push_timeout_seconds, connect=5.0)
        self.http = httpx.AsyncClient(
            verify=tls_context(),
            timeout=timeout,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def post(self, aggregator: str, path: str, body: bytes) -> Outcome:
        """POST a signed JSON body to the aggregator's receiver."""
        target = self.settings.push_target(aggregator)
        if target is None:
            return RetryLater(f"no receiver configured for {aggregator}")
        base_url, secrets = target
        msg_id = message_id(body)
        headers = sign_headers(secrets, msg_id, body, datetime.now(UTC))
        url = f"{base_url}{path}"
        try:
            response = await self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return RetryLater(f"{type(exc).__name__}: {exc}".strip())
        if response.is_success:
            try:
                return Delivered(response.json() if response.content else None)
            except ValueError:
                return Delivered(None)
        detail = f"HTTP {response.status_code} from {url}: {response.text[:500]}"
        if is_retryable(response.status_code):
            return RetryLater(detail, retry_after_seconds(response.headers.get("retry-after")))
        # 400/401/403/404/422…: the same message would fail the same way. Logged with the
        # response so an operator can see why; the reconciliation tries again later.
        log.error("push %s rejected (%s): %s", msg_id, aggregator, detail)
        return Rejected(detail)
