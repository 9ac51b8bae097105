"""Thin push jobs: expand the outbox, claim due deliveries, load offers, send batches,
record acknowledgements. The arq worker and the embedded runner call the same functions."""

import asyncio
import hashlib
import json
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from classbridge.jobs.backoff import retry_delay
from classbridge.jobs.client import (
    AggregatorClient,
    Delivered,
    Outcome,
    Rejected,
    RetryLater,
)
from classbridge.models.base import utcnow
from classbridge.models.db import Database
from classbridge.models.offer import SessionOffer, format_local, session_offers
from classbridge.models.push import (
    Ack,
    Claimed,
    ClaimedReservation,
    ClaimedWaitlistEvent,
    ReservationState,
    WaitlistEventState,
    claim_deliveries,
    claim_reservations,
    claim_waitlist_events,
    defer_deliveries,
    expand_outbox,
    fail_leased,
    mark_entering_window,
    next_due,
    next_event_due,
    next_window_entry,
    record_acks,
    record_event_acks,
    record_failure,
    reservation_states,
    waitlist_event_states,
)
from classbridge.models.tables import KNOWN_STATES, Aggregator, PushState
from classbridge.models.tables.push import (
    EVENT_DELIVERY_TABLES,
    EventDeliveryTable,
    ReservationDelivery,
    WaitlistDelivery,
)
from classbridge.settings import Settings

C = TypeVar("C")
S = TypeVar("S")


class _Attempted(Protocol):
    @property
    def attempts(self) -> int: ...


class _ClaimedEvent(_Attempted, Protocol):
    """A claimed event row (models/push reservations.py, waitlist.py)."""

    @property
    def id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def pending_gen(self) -> int: ...


E = TypeVar("E", bound=_ClaimedEvent)

log = logging.getLogger("classbridge.push")

SESSIONS_PATH = "/v1/sessions"
MANIFEST_PATH = "/v1/sessions/manifest"
RESERVATIONS_PATH = "/v1/reservations"
WAITLIST_ENTRIES_PATH = "/v1/waitlist-entries"
MAX_CLAIMS_PER_RUN = 50
CLAIMS_IN_FLIGHT = 3
"""Claimed batches of one kind and aggregator being worked on at once (see `_drain`)."""
OUTBOX_CHUNK = 5000

Sending = tuple[Claimed, SessionOffer, PushState, dict[str, Any]]
"""A claimed row, its offer, the state to send and the payload (built once: sent and digested)."""

Schedule = Callable[[datetime], Awaitable[None]]
"""Ask for another push run at (or soon after) a moment: retries and expired leases."""


@dataclass
class PushRuntime:
    """What the jobs need, built once per process (worker start-up or app lifespan)."""

    database: Database
    client: AggregatorClient
    settings: Settings
    schedule: Schedule
    stats: dict[str, int] = field(default_factory=dict)
    failed_runs: int = 0
    """Runs in a row that an exception ended (see `run_recovering`)."""
    _slots: dict[Aggregator, asyncio.Semaphore] = field(default_factory=dict)

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    def aggregators(self) -> list[Aggregator]:
        """Aggregators with a configured receiver (others are not pushed to)."""
        return [a for a in Aggregator if self.settings.push_target(a) is not None]

    async def post(self, aggregator: Aggregator, path: str, body: bytes) -> Outcome:
        """POST to the aggregator's receiver, never more than `push_parallel_requests` of
        this process's requests in flight to it at once (batches overlap: `_drain`)."""
        slots = self._slots.get(aggregator)
        if slots is None:
            slots = self._slots[aggregator] = asyncio.Semaphore(
                self.settings.push_parallel_requests
            )
        async with slots:
            return await self.client.post(aggregator, path, body)


def session_payload(
    offer: SessionOffer, state: PushState, aggregator_venue_id: str | None
) -> dict[str, Any]:
    """One session state as the contract describes it (docs/aggregator-push.md)."""
    body: dict[str, Any] = {
        "id": str(offer.session_id),
        "version": offer.version,
        "state": state.value,
        "updatedAt": offer.updated_at.isoformat(),
        "companyId": str(offer.company_id),
        "venueId": str(offer.venue_id),
        "aggregatorVenueId": aggregator_venue_id,
    }
    if state is PushState.REMOVED:
        return body
    body.update(
        activityId=str(offer.activity_id),
        name=offer.name,
        description=offer.description,
        sport=offer.sport,
        timezone=offer.timezone,
        start=format_local(offer.start_local, with_offset=False),
        end=format_local(offer.end_local, with_offset=False),
        startv2=format_local(offer.start_local, with_offset=True),
        endv2=format_local(offer.end_local, with_offset=True),
        startsAt=offer.starts_at.isoformat(),
        endsAt=offer.ends_at.isoformat(),
        room=offer.room,
        teacher=offer.teacher,
        totalSpots=offer.total_spots,
        totalAggregatorSpots=offer.total_aggregator_spots,
        availableSpots=offer.available_spots,
        bookingWindowStart=offer.booking_window_start,
        bookingWindowEnd=offer.booking_window_end,
        lateCancelWindow=offer.late_cancel_window,
        cancelledAt=offer.cancelled_at.isoformat() if offer.cancelled_at else None,
    )
    return body


def content_digest(item: dict[str, Any]) -> str:
    """Digest of what a pushed session state says, leaving out its version and updatedAt:
    equal digests, equal content (the reconciliation compares what was acknowledged)."""
    content = {k: v for k, v in item.items() if k not in ("version", "updatedAt")}
    return hashlib.sha256(encode(content)).hexdigest()


def encode(data: dict[str, Any]) -> bytes:
    """Compact, key-sorted JSON: the same content always gives the same bytes (and id).

    The bytes are json.dumps' (`ensure_ascii`: non-ASCII and DEL as `\\u` escapes),
    which every acknowledged digest was made of. orjson writes the same bytes ten
    times faster, for content of strings, integers, booleans and nulls (all a pushed state
    holds) as long as none of it needs an escape json.dumps would write: its answer is
    taken when it is ASCII without DEL, json.dumps' otherwise (tests/jobs/test_encode.py).
    """
    try:
        fast = orjson.dumps(data, option=_STRICT_SORTED)
    except orjson.JSONEncodeError:  # a lone surrogate, an integer over 64 bits, a datetime
        fast = None
    if fast is not None and fast.isascii() and b"\x7f" not in fast:
        return fast
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


# Sorted keys; a datetime, dataclass or subclass of str or int is refused (TypeError) as
# json.dumps refuses it, instead of being written in orjson's own way.
_STRICT_SORTED = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def state_of(offer: SessionOffer) -> PushState:
    if offer.is_cancelled:
        return PushState.CANCELLED
    return PushState.OFFERED if offer.offered else PushState.REMOVED


async def push_changes(rt: PushRuntime) -> int:
    """Expand the outbox, then deliver everything due to every aggregator; returns how
    many session states were acknowledged."""
    # The states owed by changes leave first (the commit -> receipt lag); the upkeep
    # (sessions entering the window, reservation events, when to run next) follows.
    while True:
        async with rt.database.transaction() as db:
            if await expand_outbox(db=db, limit=OUTBOX_CHUNK) < OUTBOX_CHUNK:
                break
    aggregators = rt.aggregators()
    window = timedelta(days=rt.settings.reconcile_window_days)
    sent = sum(await asyncio.gather(*(deliver(rt, a) for a in aggregators)))
    async with rt.database.transaction() as db:
        entering = await mark_entering_window(db=db, aggregators=aggregators, window=window)
    if entering:
        sent += sum(await asyncio.gather(*(deliver(rt, a) for a in aggregators)))
    sent += sum(await asyncio.gather(*(deliver_reservations(rt, a) for a in aggregators)))
    sent += sum(await asyncio.gather(*(deliver_waitlist_events(rt, a) for a in aggregators)))
    async with rt.database.read() as db:
        moments = [
            await next_due(db=db, aggregators=aggregators),
            *[
                await next_event_due(db=db, table=table, aggregators=aggregators)
                for table in EVENT_DELIVERY_TABLES
            ],
            # Wake up when the next session enters the window (not at the reconciliation).
            await next_window_entry(db=db, aggregators=aggregators, window=window),
        ]
    due = min((m for m in moments if m is not None), default=None)
    if due is not None:
        await rt.schedule(due)
    return sent


async def run_recovering(rt: PushRuntime, run: Callable[[PushRuntime], Awaitable[int]]) -> int:
    """Run a push or a reconciliation; when an exception escapes it (the database away,
    a bug), ask for another run after the backoff instead of waiting for the next commit
    or the next reconciliation. The arq worker and the embedded runner both call this."""
    try:
        result = await run(rt)
    except Exception:
        rt.failed_runs += 1
        rt.count("failedRuns")
        wait = retry_delay(rt.settings, rt.failed_runs)
        log.exception(
            "push run failed (%d in a row); next run in %.1fs",
            rt.failed_runs,
            wait.total_seconds(),
        )
        try:
            await rt.schedule(utcnow() + wait)
        except Exception:  # Redis away too: the worker's start-up or the cron runs it
            log.exception("could not schedule the next push run")
        return 0
    rt.failed_runs = 0
    return result


class _Claim(Protocol[C]):
    async def __call__(
        self,
        *,
        db: AsyncSession,
        aggregator: Aggregator,
        token: str,
        limit: int,
        lease: timedelta,
    ) -> list[C]: ...


async def _drain(
    rt: PushRuntime,
    aggregator: Aggregator,
    claim: _Claim[C],
    send: Callable[[PushRuntime, Aggregator, str, list[C], datetime], Awaitable[int]],
    what: str,
    limit: int,
) -> int:
    """Claim (`limit` at a time) and send batches of one kind (session states, reservation
    or waitlist events) for one aggregator until nothing is due; the number acknowledged."""
    token = uuid.uuid4().hex
    lease = timedelta(seconds=rt.settings.push_lease_seconds)
    acked = 0
    # Bounded, so one job stays short (arq's timeout, fairness); what is left is due now,
    # and push_changes schedules the next run at once.
    # Batches overlap (CLAIMS_IN_FLIGHT): the next is claimed and made ready (database,
    # offers, bodies) while earlier ones' requests are out and their acknowledgements are
    # recorded, so the database's and the receiver's time hide each other's (two: +10% on
    # PostgreSQL, three: +6% more; the requests in flight stay bounded by
    # `PushRuntime.post`).
    in_flight: deque[asyncio.Task[int | None]] = deque()

    async def sending(claimed: list[C], lease_until: datetime) -> int | None:
        try:
            return await send(rt, aggregator, token, claimed, lease_until)
        except Exception:
            # One bad batch must not stop the others; its lease runs out and it is retried.
            log.exception("%s to %s failed unexpectedly", what, aggregator)
            return None

    try:
        for _ in range(MAX_CLAIMS_PER_RUN):
            lease_until = utcnow() + lease  # the claim's own lease ends no earlier than this
            async with rt.database.transaction() as db:
                claimed = await claim(
                    db=db,
                    aggregator=aggregator,
                    token=token,
                    limit=limit,
                    lease=lease,
                )
            if not claimed:
                break
            in_flight.append(asyncio.create_task(sending(claimed, lease_until)))
            if len(in_flight) >= CLAIMS_IN_FLIGHT:
                done = await in_flight.popleft()
                if done is None:  # a batch failed: stop after the ones already started
                    break
                acked += done
    except asyncio.CancelledError:
        for task in in_flight:  # the job is being stopped: their leases run out, as ever
            task.cancel()
        raise
    except Exception:
        for task in in_flight:  # a claim failed (the database away): finish the others
            await task
        raise
    # Every claimed batch is sent (or failed) before the run ends: none is left leased.
    for task in in_flight:
        acked += await task or 0
    return acked


async def deliver(rt: PushRuntime, aggregator: Aggregator) -> int:
    """Claim and send batches of session states for one aggregator until nothing is due."""
    # One claim takes what the parallel requests carry (`push_parallel_requests` batches):
    # the database work of a claim (claim, offers, acknowledgements) is shared by all.
    limit = rt.settings.push_batch_size * rt.settings.push_parallel_requests
    return await _drain(rt, aggregator, claim_deliveries, send_batch, "push batch", limit)


async def send_batch(
    rt: PushRuntime,
    aggregator: Aggregator,
    token: str,
    claimed: list[Claimed],
    lease_until: datetime | None = None,
) -> int:
    """Send the newest state of the claimed sessions, `push_batch_size` per request and
    up to `push_parallel_requests` requests at once (each session in one of them only),
    and record every outcome in one transaction."""
    settings = rt.settings
    async with rt.database.read() as db:
        found = await session_offers(
            db=db, aggregator=aggregator, session_ids=[c.session_id for c in claimed]
        )
    offers, links = found.by_session, found.venue_links
    now = utcnow()
    horizon = now + timedelta(days=settings.reconcile_window_days)
    sending: list[Sending] = []
    quiet: list[Ack] = []
    later: list[Claimed] = []
    for c in claimed:
        offer = offers.get(c.session_id)
        if offer is None:
            later.append(c)
            continue
        state = state_of(offer)
        known = c.acked_state in KNOWN_STATES
        if not known and state is not PushState.OFFERED:
            # The aggregator never had it: nothing to withdraw or cancel.
            was = PushState.REMOVED if c.acked_state is PushState.REMOVED else None
            quiet.append(Ack(c, offer.version, was or PushState.NOT_OFFERED))
        elif not known and (offer.ends_at <= now or offer.starts_at >= horizon):
            later.append(c)  # outside the window: the reconciliation sends it in time
        else:
            payload = session_payload(offer, state, links.get(offer.venue_id))
            sending.append((c, offer, state, payload))
    if sending and lease_until is not None and utcnow() >= lease_until:
        # Too slow (an overloaded machine): another worker may hold these rows by now.
        # Send nothing; they are claimed again, by whoever comes first.
        log.warning(
            "push batch to %s: lease ran out before sending; left to a new claim", aggregator
        )
        return 0
    size = settings.push_batch_size
    batches = [sending[i : i + size] for i in range(0, len(sending), size)]
    groups: list[tuple[list[Sending], Outcome]] = []
    for batch_groups in await asyncio.gather(*(_send_one(rt, aggregator, b) for b in batches)):
        groups += batch_groups
    async with rt.database.transaction() as db:
        await defer_deliveries(db=db, token=token, claimed=later)
        acks = list(quiet)
        for items, outcome in groups:
            if isinstance(outcome, Delivered):
                acks += [Ack(c, o.version, s, content_digest(p)) for c, o, s, p in items]
                rt.count("sent", len(items))
                rt.count("requests")
            else:
                await _record_failure(
                    rt, db, aggregator, token, [c for c, _, _, _ in items], outcome
                )
        await record_acks(db=db, token=token, acks=acks)
    return len(acks)


async def _send_one(
    rt: PushRuntime, aggregator: Aggregator, batch: list[Sending]
) -> list[tuple[list[Sending], Outcome]]:
    """One request with this batch; when the receiver rejects it, one request per session
    to find the bad one(s), so one bad session does not hold back the rest."""
    outcome = await _post_sessions(rt, aggregator, batch)
    if isinstance(outcome, Rejected) and len(batch) > 1:
        return [([item], await _post_sessions(rt, aggregator, [item])) for item in batch]
    return [(batch, outcome)]


async def _post_sessions(rt: PushRuntime, aggregator: Aggregator, items: list[Sending]) -> Outcome:
    body = encode(
        {
            "type": "sessions.updated",
            "data": {"aggregator": aggregator.value, "sessions": [p for _, _, _, p in items]},
        }
    )
    return await rt.post(aggregator, SESSIONS_PATH, body)


def _retry_at(
    rt: PushRuntime, aggregator: Aggregator, attempt: int, outcome: RetryLater | Rejected
) -> datetime | None:
    """When to try again (the one retry rule and backoff), or None: give up until the
    reconciliation."""
    settings = rt.settings
    if not isinstance(outcome, RetryLater) or attempt >= settings.push_max_attempts:
        return None
    wait = retry_delay(settings, attempt).total_seconds()
    if outcome.after is not None:
        wait = max(wait, outcome.after)
    rt.count("retries")
    log.warning("push to %s: %s; retry in %.1fs", aggregator, outcome.error, wait)
    return utcnow() + timedelta(seconds=wait)


async def _record_failure(
    rt: PushRuntime,
    db: Any,
    aggregator: Aggregator,
    token: str,
    claimed: list[Claimed],
    outcome: RetryLater | Rejected,
) -> None:
    retry_at = _retry_at(rt, aggregator, max(c.attempts for c in claimed) + 1, outcome)
    if retry_at is None:
        rt.count("failed", len(claimed))
        log.error(
            "push to %s failed for %d session(s): %s", aggregator, len(claimed), outcome.error
        )
    await record_failure(
        db=db, token=token, claimed=claimed, error=outcome.error, retry_at=retry_at
    )


# The partner API's names (graph/partner/types.py): the push and the API never disagree.
_RESERVATION_STATUS = {
    "BOOKED": "RESERVATION_STATUS_ENROLLED",
    "NO_SHOW": "RESERVATION_STATUS_ENROLLED",
    "CHECKED_IN": "RESERVATION_STATUS_CHECKED_IN",
    "CANCELLED": "RESERVATION_STATUS_CANCELLED",
}
_CANCELLATION_TYPE = {
    "NONE": "CANCELLATION_TYPE_NONE",
    "SESSION": "CANCELLATION_TYPE_SESSION",
    "EARLY": "CANCELLATION_TYPE_USER_EARLY",
    "LATE": "CANCELLATION_TYPE_USER_LATE",
}


def reservation_payload(item: ReservationState) -> dict[str, Any]:
    """One reservation event as the contract describes it (docs/aggregator-push.md)."""
    booking = item.booking
    return {
        "id": str(booking.id),
        "version": item.claimed.version,
        "sessionId": str(booking.session_id),
        "companyId": str(booking.company_id),
        "memberId": item.member_id,
        "status": _RESERVATION_STATUS[booking.status.value],
        "noShow": booking.status.value == "NO_SHOW",
        "cancellationType": _CANCELLATION_TYPE[booking.cancellation_type.value],
        "cancelledAt": booking.cancelled_at.isoformat() if booking.cancelled_at else None,
        "updatedAt": booking.updated_at.isoformat(),
    }


async def deliver_reservations(rt: PushRuntime, aggregator: Aggregator) -> int:
    """Claim and send the reservation events owed to one aggregator until none is due."""
    return await _drain(
        rt,
        aggregator,
        claim_reservations,
        partial(_send_events, RESERVATION_EVENTS),
        "reservation events",
        rt.settings.push_batch_size,
    )


@dataclass(frozen=True)
class EventKind(Generic[E, S]):
    """One kind of signed event besides session states (reservations, waitlist entries):
    its delivery table, how to read the owed items and say each one, where to send them."""

    type: str
    path: str
    key: str
    counter: str
    states: Callable[..., Awaitable[list[S]]]
    payload: Callable[[S], dict[str, Any]]
    table: EventDeliveryTable


async def _send_events(
    kind: EventKind[E, S],
    rt: PushRuntime,
    aggregator: Aggregator,
    token: str,
    claimed: list[E],
    lease_until: datetime | None = None,
) -> int:
    async with rt.database.read() as db:
        states = await kind.states(db=db, aggregator=aggregator, claimed=claimed)
    outcome: Outcome = Delivered(None)
    if states and lease_until is not None and utcnow() >= lease_until:
        log.warning("%s to %s: lease ran out before sending", kind.type, aggregator)
        return 0
    if states:
        body = encode(
            {
                "type": kind.type,
                "data": {
                    "aggregator": aggregator.value,
                    kind.key: [kind.payload(s) for s in states],
                },
            }
        )
        outcome = await rt.post(aggregator, kind.path, body)
    async with rt.database.transaction() as db:
        if isinstance(outcome, Delivered):
            # A deleted row (states leaves it out) has nothing left to tell: done too.
            # The aggregator has these versions; a change noted meanwhile keeps a row pending.
            acked = [(c.id, c.version, c.pending_gen) for c in claimed]
            await record_event_acks(db=db, table=kind.table, token=token, acked=acked)
            rt.count(kind.counter, len(states))
            return len(claimed)
        retry_at = _retry_at(rt, aggregator, max(c.attempts for c in claimed) + 1, outcome)
        await fail_leased(
            db=db,
            table=kind.table,
            token=token,
            ids=[c.id for c in claimed],
            error=outcome.error,
            retry_at=retry_at,
        )
    return 0


# The partner API's names (graph/partner/types.py `WaitlistEntryStatus`).
_WAITLIST_STATUS = {
    "WAITING": "WAITLIST_ENTRY_STATUS_WAITING",
    "PROMOTED": "WAITLIST_ENTRY_STATUS_PROMOTED",
    "LEFT": "WAITLIST_ENTRY_STATUS_LEFT",
    "EXPIRED": "WAITLIST_ENTRY_STATUS_EXPIRED",
}


def waitlist_payload(item: WaitlistEventState) -> dict[str, Any]:
    """One waitlist event as the contract describes it (docs/aggregator-push.md)."""
    entry = item.entry
    return {
        "id": str(entry.id),
        "version": item.claimed.version,
        "sessionId": str(entry.session_id),
        "companyId": str(entry.company_id),
        "memberId": item.member_id,
        "status": _WAITLIST_STATUS[entry.status.value],
        "position": entry.position,
        "reservationId": str(entry.booking_id) if entry.booking_id else None,
        "endedAt": entry.ended_at.isoformat() if entry.ended_at else None,
        "updatedAt": entry.updated_at.isoformat(),
    }


async def deliver_waitlist_events(rt: PushRuntime, aggregator: Aggregator) -> int:
    """Claim and send the waitlist events owed to one aggregator until none is due."""
    return await _drain(
        rt,
        aggregator,
        claim_waitlist_events,
        partial(_send_events, WAITLIST_EVENTS),
        "waitlist events",
        rt.settings.push_batch_size,
    )


RESERVATION_EVENTS: EventKind[ClaimedReservation, ReservationState] = EventKind(
    type="reservations.updated",
    path=RESERVATIONS_PATH,
    key="reservations",
    counter="reservationsSent",
    states=reservation_states,
    payload=reservation_payload,
    table=ReservationDelivery,
)
WAITLIST_EVENTS: EventKind[ClaimedWaitlistEvent, WaitlistEventState] = EventKind(
    type="waitlistEntries.updated",
    path=WAITLIST_ENTRIES_PATH,
    key="waitlistEntries",
    counter="waitlistEventsSent",
    states=waitlist_event_states,
    payload=waitlist_payload,
    table=WaitlistDelivery,
)
