"""A reference receiver of the push contract (docs/aggregator-push.md), with fault injection.

`classbridge simulate-aggregator --port P --secret S` runs it. It verifies every signature,
keeps the newest version of each session and of each reservation event, answers
manifests, and can be told to fail:

  POST /admin/faults  {"errorRate": 0.3, "latencyMs": 200, "downForSeconds": 10,
                       "rateLimitCount": 2, "retryAfterSeconds": 1,
                       "rejectSessionIds": ["<uuid>"],
                       "failStatus": 507, "failCount": 2}
  POST /admin/reset   forget every session (a receiver that lost its state)
  GET  /state         everything received, plus counters
  GET  /versions      per session [version, unix time received], plus counters
"""

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Faults:
    """What goes wrong on purpose; every field can change at runtime."""

    error_rate: float = 0.0
    latency_ms: int = 0
    down_until: float = 0.0
    rate_limit_count: int = 0
    retry_after_seconds: float = 1.0
    reject_ids: set[str] = field(default_factory=set)
    """Sessions whose payload the receiver calls invalid (422), as a strict receiver might."""
    fail_status: int = 503
    fail_count: int = 0
    """The next `fail_count` requests are answered with `fail_status` (any code)."""

    def update(self, data: dict[str, Any]) -> None:
        if "errorRate" in data:
            self.error_rate = float(data["errorRate"])
        if "latencyMs" in data:
            self.latency_ms = int(data["latencyMs"])
        if "downForSeconds" in data:
            self.down_until = time.monotonic() + float(data["downForSeconds"])
        if "down" in data:
            self.down_until = float("inf") if data["down"] else 0.0
        if "rateLimitCount" in data:
            self.rate_limit_count = int(data["rateLimitCount"])
        if "retryAfterSeconds" in data:
            self.retry_after_seconds = float(data["retryAfterSeconds"])
        if "rejectSessionIds" in data:
            self.reject_ids = {str(i) for i in data["rejectSessionIds"]}
        if "failStatus" in data:
            self.fail_status = int(data["failStatus"])
        if "failCount" in data:
            self.fail_count = int(data["failCount"])

    def as_json(self) -> dict[str, Any]:
        left = self.down_until - time.monotonic()
        return {
            "errorRate": self.error_rate,
            "latencyMs": self.latency_ms,
            "down": left > 0,
            "rateLimitCount": self.rate_limit_count,
            "retryAfterSeconds": self.retry_after_seconds,
            "rejectSessionIds": sorted(self.reject_ids),
            "failStatus": self.fail_status,
            "failCount": self.fail_count,
        }


@dataclass
class ReceiverState:
    """What the receiver holds: the newest state per session, and what happened."""

    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    reservations: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The newest reservation event per reservation id."""
    waitlist_entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The newest waitlist event per waitlist entry id."""
    seen_ids: set[str] = field(default_factory=set)
    in_flight: dict[str, int] = field(default_factory=dict)
    received_at: dict[str, float] = field(default_factory=dict)
    """Unix time each session's newest state arrived (for lag measurements)."""
    counters: dict[str, int] = field(default_factory=dict)
    requests_open: int = 0
    """Session requests being answered right now (their highest: `maxConcurrentRequests`)."""

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n


def create_simulator(
    secret: str, faults: Faults | None = None, *, path_prefix: str = ""
) -> Starlette:
    """The receiver app; `path_prefix` serves the contract's paths under a prefix (a base
    URL with a path), the /state and /admin paths stay at the root."""
    prefix = "/" + path_prefix.strip("/") if path_prefix.strip("/") else ""
    webhook = Webhook(secret)
    state = ReceiverState()
    faults = faults or Faults()

    async def inject() -> Response | None:
        """Downtime, a given status, 429 and random errors, in that order."""
        if time.monotonic() < faults.down_until:
            state.count("refusedDown")
            return JSONResponse({"error": "down"}, status_code=503)
        if faults.fail_count > 0:
            faults.fail_count -= 1
            state.count(f"answered{faults.fail_status}")
            return JSONResponse({"error": "injected"}, status_code=faults.fail_status)
        if faults.rate_limit_count > 0:
            faults.rate_limit_count -= 1
            state.count("rateLimited")
            return JSONResponse(
                {"error": "slow down"},
                status_code=429,
                headers={"Retry-After": f"{faults.retry_after_seconds:g}"},
            )
        if faults.error_rate and random.random() < faults.error_rate:
            state.count("injectedErrors")
            return JSONResponse({"error": "injected"}, status_code=500)
        return None

    async def verified(request: Request) -> dict[str, Any] | Response:
        body = await request.body()
        try:
            data = webhook.verify(body, dict(request.headers))
        except (WebhookVerificationError, ValueError) as exc:
            state.count("badSignatures")
            return JSONResponse({"error": f"signature: {exc}"}, status_code=401)
        if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
            state.count("badPayloads")
            return JSONResponse({"error": "expected {type, data}"}, status_code=400)
        return data

    async def sessions(request: Request) -> Response:
        fault = await inject()
        if fault is not None:
            return fault
        data = await verified(request)
        if isinstance(data, Response):
            return data
        items = data["data"].get("sessions")
        if data.get("type") != "sessions.updated" or not isinstance(items, list):
            state.count("badPayloads")
            return JSONResponse({"error": "expected sessions.updated"}, status_code=400)
        ids = [str(i.get("id")) for i in items]
        refused = faults.reject_ids.intersection(ids)
        if refused:
            state.count("rejected")
            return JSONResponse(
                {"error": "invalid session payload", "ids": sorted(refused)}, status_code=422
            )
        overlap = [i for i in ids if state.in_flight.get(i)]
        if overlap:  # the same session in two requests at once: the sender broke its lease
            state.count("concurrentDeliveries", len(overlap))
        for i in ids:
            state.in_flight[i] = state.in_flight.get(i, 0) + 1
        state.requests_open += 1
        most = max(state.counters.get("maxConcurrentRequests", 0), state.requests_open)
        state.counters["maxConcurrentRequests"] = most
        try:
            # Added latency holds the items "in flight", so overlapping requests are seen.
            await asyncio.sleep(faults.latency_ms / 1000)
            if await request.is_disconnected():
                # The sender went away (timeout, crash) before our answer: keep nothing,
                # as a receiver that stores only on a completed request would.
                state.count("abandoned")
                return JSONResponse({"error": "client went away"}, status_code=499)
            msg_id = request.headers["webhook-id"]
            if msg_id in state.seen_ids:
                state.count("duplicateMessages")
                return JSONResponse({"accepted": 0, "stale": 0, "duplicate": True})
            state.seen_ids.add(msg_id)
            state.count("requests")
            accepted = stale = 0
            for item in items:
                sid = str(item["id"])
                held = state.sessions.get(sid)
                # Versions only grow: an older (or equal) one arrived late and is dropped.
                if held is not None and held["version"] >= int(item["version"]):
                    stale += 1
                    continue
                state.sessions[sid] = item
                state.received_at[sid] = time.time()
                accepted += 1
            state.count("accepted", accepted)
            state.count("stale", stale)
            return JSONResponse({"accepted": accepted, "stale": stale})
        finally:
            state.requests_open -= 1
            for i in ids:
                state.in_flight[i] -= 1

    def event_receiver(
        kind: str, key: str, store: dict[str, dict[str, Any]], counter: str
    ) -> Callable[[Request], Awaitable[Response]]:
        """Events (reservations, waitlist entries): the same rule as sessions, the highest
        version per id wins."""

        async def receive(request: Request) -> Response:
            fault = await inject()
            if fault is not None:
                return fault
            data = await verified(request)
            if isinstance(data, Response):
                return data
            items = data["data"].get(key)
            if data.get("type") != kind or not isinstance(items, list):
                state.count("badPayloads")
                return JSONResponse({"error": f"expected {kind}"}, status_code=400)
            state.count(f"{counter}Requests")
            accepted = stale = 0
            for item in items:
                rid = str(item["id"])
                held = store.get(rid)
                if held is not None and held["version"] >= int(item["version"]):
                    stale += 1
                    continue
                store[rid] = item
                accepted += 1
            state.count(f"{counter}sAccepted", accepted)
            return JSONResponse({"accepted": accepted, "stale": stale})

        return receive

    reservations = event_receiver(
        "reservations.updated", "reservations", state.reservations, "reservation"
    )
    waitlist_entries = event_receiver(
        "waitlistEntries.updated", "waitlistEntries", state.waitlist_entries, "waitlistEvent"
    )

    async def manifest(request: Request) -> Response:
        await asyncio.sleep(faults.latency_ms / 1000)
        fault = await inject()
        if fault is not None:
            return fault
        data = await verified(request)
        if isinstance(data, Response):
            return data
        items = data["data"].get("sessions")
        if not isinstance(items, list):
            return JSONResponse({"error": "expected sessions"}, status_code=400)
        state.count("manifests")
        lacking = [
            str(i["id"])
            for i in items
            if str(i["id"]) not in state.sessions
            or state.sessions[str(i["id"])]["version"] < int(i["version"])
        ]
        return JSONResponse({"stale": lacking})

    async def read_state(_request: Request) -> Response:
        return JSONResponse(
            {
                "sessions": state.sessions,
                "reservations": state.reservations,
                "waitlistEntries": state.waitlist_entries,
                "counters": state.counters,
                "receivedAt": state.received_at,
                "inFlight": sum(state.in_flight.values()),
                "faults": faults.as_json(),
            }
        )

    async def read_versions(_request: Request) -> Response:
        """The compact view: version and arrival time per session, and the counters."""
        return JSONResponse(
            {
                "sessions": {
                    sid: [item["version"], state.received_at.get(sid)]
                    for sid, item in state.sessions.items()
                },
                "counters": state.counters,
            }
        )

    async def set_faults(request: Request) -> Response:
        faults.update(await request.json())
        return JSONResponse(faults.as_json())

    async def reset(_request: Request) -> Response:
        state.sessions.clear()
        state.reservations.clear()
        state.waitlist_entries.clear()
        state.received_at.clear()
        state.seen_ids.clear()
        state.count("resets")
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route(f"{prefix}/v1/sessions", sessions, methods=["POST"]),
            Route(f"{prefix}/v1/sessions/manifest", manifest, methods=["POST"]),
            Route(f"{prefix}/v1/reservations", reservations, methods=["POST"]),
            Route(f"{prefix}/v1/waitlist-entries", waitlist_entries, methods=["POST"]),
            Route("/state", read_state, methods=["GET"]),
            Route("/versions", read_versions, methods=["GET"]),
            Route("/admin/faults", set_faults, methods=["POST"]),
            Route("/admin/reset", reset, methods=["POST"]),
        ]
    )
