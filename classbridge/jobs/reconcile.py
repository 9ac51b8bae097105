"""The reconciliation: the safety net that repairs whatever a failure left behind.

For every aggregator with a receiver: mark pending whatever it lacks (no acknowledgement,
an older one, a failed delivery, a removal), ask the receiver which of the sessions it
should hold it is missing (the manifest), then push.
"""

import logging
import uuid
from datetime import timedelta

from classbridge.jobs.client import Delivered
from classbridge.jobs.push import MANIFEST_PATH, PushRuntime, encode, push_changes
from classbridge.models.push import (
    forget_acks,
    known_sessions,
    mark_differing,
    retry_failed_reservations,
)
from classbridge.models.tables import Aggregator

log = logging.getLogger("classbridge.push")

MANIFEST_CHUNK = 1000


async def reconcile(rt: PushRuntime) -> int:
    """One reconciliation run; returns how many session states were acknowledged."""
    window = timedelta(days=rt.settings.reconcile_window_days)
    for aggregator in rt.aggregators():
        try:
            async with rt.database.transaction() as db:
                marked = await mark_differing(db=db, aggregator=aggregator, window=window)
                marked += await retry_failed_reservations(db=db, aggregator=aggregator)
            lost = await check_manifest(rt, aggregator, window)
        except Exception:
            log.exception("reconciliation for %s failed; the next run tries again", aggregator)
            continue
        log.info("reconcile %s: %d differing, %d lost by the receiver", aggregator, marked, lost)
    rt.count("reconciliations")
    return await push_changes(rt)


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
        outcome = await rt.client.post(aggregator, MANIFEST_PATH, body)
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
