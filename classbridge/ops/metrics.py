"""Prometheus metrics at /metrics (prometheus-client), safe with several processes.

Counters and histograms are updated where things happen: HTTP requests here
(`HttpMetrics`), GraphQL operations in graph/operation_metrics.py, live subscribers by the
event bus. Queue figures (push items pending and failed, the oldest change still owed,
emails queued) are read from the database when scraped (`BacklogCollector`), at most once
per `BACKLOG_TTL_SECONDS` however often anyone scrapes.

With `PROMETHEUS_MULTIPROC_DIR` set (prometheus-client's own variable, set before the
process starts) every process writes its figures there and any process's /metrics
reports the sum of all of them; without it each process reports its own.
"""

import asyncio
import hmac
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from classbridge.models.backlog import Backlog, read_backlog
from classbridge.models.base import utcnow
from classbridge.models.db import Database

log = logging.getLogger("classbridge.metrics")

# The *_created series only double what Prometheus tracks itself.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus-client is untyped here

BACKLOG_TTL_SECONDS = 5.0
BACKLOG_TIMEOUT_SECONDS = 5.0
MAX_LABEL_VALUES = 200  # per label and process: clients choose operation names

HTTP_REQUESTS = Counter(
    "classbridge_http_requests_total",
    "HTTP requests answered, by route, method and status code.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "classbridge_http_request_duration_seconds",
    "Time from receiving an HTTP request to the end of its response, by route.",
    ["route"],
)
GRAPHQL_OPERATIONS = Counter(
    "classbridge_graphql_operations_total",
    "GraphQL operations by API (staff, partner), operation name and outcome "
    "(ok; client_error: refused or invalid; server_error: unexpected).",
    ["api", "operation", "outcome"],
)
GRAPHQL_DURATION = Histogram(
    "classbridge_graphql_operation_duration_seconds",
    "Time to parse, validate and execute a query or mutation, by API and operation name.",
    ["api", "operation"],
)
GRAPHQL_ERRORS = Counter(
    "classbridge_graphql_errors_total",
    "Errors in GraphQL responses by API and extensions.code.",
    ["api", "code"],
)
LIVE_SUBSCRIBERS = Gauge(
    "classbridge_live_subscribers",
    "Live sign-in subscriptions currently connected.",
    multiprocess_mode="livesum",
)


class BoundedLabel:
    """A label's values as seen, up to a limit; later newcomers become "other", so a client
    inventing operation names cannot grow the metrics without bound."""

    def __init__(self, limit: int = MAX_LABEL_VALUES, pattern: str = r"[_A-Za-z][_0-9A-Za-z]*"):
        self.limit = limit
        self.pattern = re.compile(pattern)
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self.seen:
            return value
        if len(value) > 64 or not self.pattern.fullmatch(value):
            return "invalid"
        if len(self.seen) >= self.limit:
            return "other"
        self.seen.add(value)
        return value


_live_counts: dict[object, int] = {}


def live_subscriber_observer() -> Callable[[int], None]:
    """An observer for one event bus; the gauge shows the sum over the process's buses."""
    key = object()

    def observe(count: int) -> None:
        if count:
            _live_counts[key] = count
        else:
            _live_counts.pop(key, None)
        LIVE_SUBSCRIBERS.set(sum(_live_counts.values()))

    return observe


class HttpMetrics:
    """Count and time every HTTP request by route: one of `routes`, a path under one of
    `mounts`, or "other" (so unknown paths cannot grow the metrics)."""

    def __init__(self, app: ASGIApp, routes: Iterable[str], mounts: Iterable[str] = ()) -> None:
        self.app = app
        self.routes = frozenset(routes)
        self.mounts = tuple(mounts)

    def route(self, path: str) -> str:
        if path in self.routes:
            return path
        return next((m for m in self.mounts if path.startswith(m + "/")), "other")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.route(scope["path"])
        status = 500  # unless the app answers

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, observe)
        finally:
            HTTP_DURATION.labels(route).observe(time.perf_counter() - started)
            method = scope["method"] if scope["method"] in _METHODS else "other"
            HTTP_REQUESTS.labels(route, method, str(status)).inc()


_METHODS = {"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"}


def _per_aggregator(name: str, documentation: str, counts: dict[str, int]) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=["aggregator"])
    for aggregator, count in sorted(counts.items()):
        family.add_metric([aggregator], count)
    return family


def backlog_families(backlog: Backlog | None, now_ts: float) -> list[Metric]:
    """The database figures as metric families; only `classbridge_backlog_up 0` when the
    database could not be read."""
    up = GaugeMetricFamily(
        "classbridge_backlog_up", "1 when the queue figures below could be read from the database."
    )
    up.add_metric([], 0 if backlog is None else 1)
    if backlog is None:
        return [up]
    pending = _per_aggregator(
        "classbridge_push_items_pending",
        "Sessions whose newest state an aggregator has yet to receive.",
        backlog.pending,
    )
    failed = _per_aggregator(
        "classbridge_push_items_failed",
        "Sessions whose push ran out of attempts (the reconciliation retries them).",
        backlog.failed,
    )
    events_pending = _per_aggregator(
        "classbridge_push_events_pending",
        "Reservation and waitlist events an aggregator has yet to receive.",
        backlog.events_pending,
    )
    events_failed = _per_aggregator(
        "classbridge_push_events_failed",
        "Reservation and waitlist events an aggregator refused (the reconciliation retries).",
        backlog.events_failed,
    )
    unprocessed = GaugeMetricFamily(
        "classbridge_push_outbox_unprocessed",
        "Changes written to the outbox that no push run has picked up yet.",
        value=backlog.unprocessed_changes,
    )
    age = GaugeMetricFamily(
        "classbridge_push_oldest_pending_change_age_seconds",
        "Age of the oldest change still owed to an aggregator (0 when nothing is owed).",
        value=0.0
        if backlog.oldest_pending_at is None
        else max(0.0, now_ts - backlog.oldest_pending_at.timestamp()),
    )
    emails = GaugeMetricFamily(
        "classbridge_emails_queued",
        "Emails not yet accepted by the SMTP server.",
        value=backlog.emails_queued,
    )
    return [up, pending, failed, events_pending, events_failed, unprocessed, age, emails]


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


class _Process(Collector):
    """This process's own registry (the default), when not in multiprocess mode."""

    def collect(self) -> Iterator[Metric]:
        return iter(REGISTRY.collect())


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def forget_process() -> None:
    """At shutdown in multiprocess mode: this process's live gauges stop counting."""
    if multiprocess_dir():
        multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]  # untyped


class Metrics:
    """The /metrics endpoint of one app."""

    def __init__(
        self,
        database: Database,
        token: str | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.token = token
        self.clock = clock
        self._lock = asyncio.Lock()
        self._backlog: tuple[float, Backlog | None] | None = None

    async def backlog(self) -> Backlog | None:
        async with self._lock:  # one scrape reads the database; concurrent ones wait for it
            if self._backlog is not None and self.clock() - self._backlog[0] < BACKLOG_TTL_SECONDS:
                return self._backlog[1]
            try:
                async with asyncio.timeout(BACKLOG_TIMEOUT_SECONDS):
                    async with self.database.read() as db:
                        backlog: Backlog | None = await read_backlog(db=db)
            except Exception:
                log.warning("could not read the queue figures for /metrics", exc_info=True)
                backlog = None
            self._backlog = (self.clock(), backlog)
            return backlog

    def _authorized(self, request: Request) -> bool:
        if self.token is None:
            return True
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )

    async def endpoint(self, request: Request) -> Response:
        if not self._authorized(request):
            return JSONResponse(
                {
                    "errors": [
                        {
                            "message": "send the metrics token",
                            "extensions": {"code": "UNAUTHENTICATED"},
                        }
                    ]
                },
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        families = backlog_families(await self.backlog(), utcnow().timestamp())
        registry = CollectorRegistry(auto_describe=False)
        if multiprocess_dir():
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped
        else:
            registry.register(_Process())
        registry.register(_Families(families))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
