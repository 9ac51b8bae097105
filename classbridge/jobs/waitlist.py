"""Waitlist expiry: entries still waiting when their session's booking window closes end
(EXPIRED) and their members are told (email outbox; the aggregator for members).

Promotion needs no job (it happens in the transaction that frees the spot), and a closed
window is also applied lazily whenever a session's waitlist is touched under its lock; this
loop makes sure members hear about it promptly even when nothing else happens. Several
API processes may run it: each session is locked and checked again, so nobody is told
twice.
"""

import asyncio
import logging
from contextlib import suppress

from classbridge.models import waitlist as waitlist_model
from classbridge.models.db import Database

log = logging.getLogger("classbridge.waitlist")


async def expire_waitlists(database: Database) -> int:
    """One pass: expire every due entry; returns how many expired."""
    async with database.transaction() as db:
        return await waitlist_model.expire_due(db=db)


class WaitlistExpiry:
    """Runs `expire_waitlists` every `every_seconds` for as long as the app runs."""

    def __init__(self, database: Database, *, every_seconds: float) -> None:
        self.database = database
        self.every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="waitlist-expiry")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                expired = await expire_waitlists(self.database)
                if expired:
                    log.info("expired %d waitlist entries", expired)
            except Exception:  # keep the loop alive; the next pass tries again
                log.exception("waitlist expiry failed")
            await asyncio.sleep(self.every_seconds)
