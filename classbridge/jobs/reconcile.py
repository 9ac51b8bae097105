"""The reconciliation: the safety net that repairs whatever a failure left behind.

For every aggregator with a receiver: mark pending whatever it lacks (no acknowledgement,
an older one, a failed delivery, a removal), ask the receiver which of the sessions it
should hold it is missing (the manifest), then push.
"""

import logging
import uuid
from datetime import timedelta

from sqlmodel import col

from classbridge.jobs.client import Delivered
from classbridge.jobs.push import (
    MANIFEST_PATH,
    PushRuntime,
    content_digest,
    encode,
    push_changes,
    session_payload,
    state_of,
)
from classbridge.models.offer import session_offers
from classbridge.models.outbox import touch_sessions
from classbridge.models.push import (
    acked_contents,
    forget_acks,
    known_sessions,
    mark_differing,
    retry_failed_events,
)
from classbridge.models.tables import Aggregator, ClassSession
from classbridge.models.tables.push import EVENT_DELIVERY_TABLES

log = logging.getLogger("classbridge.push")

MANIFEST_CHUNK = 1000
REPAIR_CHUNK = 500


async def reconcile(rt: PushRuntime) -> int:
    """One reconciliation run; returns how many session states were acknowledged."""
    window = timedelta(days=rt.settings.reconcile_window_days)
    for aggregator in rt.aggregators():
        try:
            async with rt.database.transaction() as db:
                marked = await mark_differing(db=db, aggregator=aggregator, window=window)
                for table in EVENT_DELIVERY_TABLES:  # failed events get fresh attempts
                    marked += await retry_failed_events(db=db, table=table, aggregator=aggregator)
            marked += await repair_content(rt, aggregator)
            lost = await check_manifest(rt, aggregator, window)
        except Exception:
            log.exception("reconciliation for %s failed; the next run tries again", aggregator)
            continue
        log.info("reconcile %s: %d differing, %d lost by the receiver", aggregator, marked, lost)
    rt.count("reconciliations")
    return await push_changes(rt)


async def repair_content(rt: PushRuntime, aggregator: Aggregator) -> int:
    """Compare what the aggregator acknowledged with what it would be sent now, by content.
    A session whose content differs at the same version changed without its version bump
    (a path that forgot to touch it): it gets a new version now, and the push sends it."""
    async with rt.database.read() as db:
        acked = await acked_contents(db=db, aggregator=aggregator)
    changed: list[uuid.UUID] = []
    for start in range(0, len(acked), REPAIR_CHUNK):
        chunk = acked[start : start + REPAIR_CHUNK]
        async with rt.database.read() as db:
            found = await session_offers(
                db=db, aggregator=aggregator, session_ids=[sid for sid, _, _ in chunk]
            )
        offers, links = found.by_session, found.venue_links
        for sid, version, digest in chunk:
            offer = offers.get(sid)
            if offer is None or offer.version != version:
                continue  # a newer version is owed already (mark_differing)
            item = session_payload(offer, state_of(offer), links.get(offer.venue_id))
            if content_digest(item) != digest:
                changed.append(sid)
    if changed:
        async with rt.database.transaction() as db:
            await touch_sessions(db, col(ClassSession.id).in_(changed))
        log.warning(
            "reconcile %s: %d session(s) changed without a new version; re-versioned",
            aggregator,
            len(changed),
        )
    return len(changed)


async def check_manifest(rt: PushRuntime, aggregator: Aggregator, window: timedelta) -> int:
    """Tell the receiver what it should hold; re-send what it says it lacks."""
    async with rt.database.read() as db:
        known = await known_sessions(db=db, aggregator=aggregator, window=window)
    lost = 0
    for start in range(0, len(known), MANIFEST_CHUNK):
        chunk = known[start : start + MANIFEST_CHUNK]
        body = encode(
            {
                "type": "sessions.manifest",
                "data": {
                    "aggregator": aggregator.value,
                    "sessions": [{"id": str(sid), "version": v} for sid, v in chunk],
                },
            }
        )
        outcome = await rt.post(aggregator, MANIFEST_PATH, body)
        if not isinstance(outcome, Delivered):
            log.warning("manifest to %s not accepted: %s", aggregator, outcome)
            return lost
        stale = _stale_ids(outcome.body, {sid for sid, _ in chunk})
        async with rt.database.transaction() as db:
            await forget_acks(db=db, aggregator=aggregator, session_ids=stale)
        lost += len(stale)
    return lost


def _stale_ids(body: object, asked: set[uuid.UUID]) -> list[uuid.UUID]:
    """The ids the receiver says it lacks; anything else in the answer is ignored."""
    raw = body.get("stale") if isinstance(body, dict) else None
    result = []
    for value in raw if isinstance(raw, list) else []:
        try:
            sid = uuid.UUID(str(value))
        except ValueError:
            continue
        if sid in asked:
            result.append(sid)
    return result
