"""The database listener that publishes sign-in events after commit.

`Database.transaction()` calls it with the notices of a committed transaction only, so a
rolled-back booking publishes nothing. It builds each message once (a few queries for all
events of the transaction) and skips even that when no one, in any process, listens to
the session or its venue: a subscriber that arrives later reads a snapshot taken after
this commit, because it subscribes before it reads.
"""

import logging
from typing import Any

from classbridge.live.bus import EventBus
from classbridge.live.payload import (
    SignInMessage,
    build_messages,
    session_topic,
    topics_of,
    venue_prefix,
)
from classbridge.models.db import Database
from classbridge.models.sign_in_events import SignInEvent

log = logging.getLogger("classbridge.live")


class SignInPublisher:
    def __init__(self, database: Database, bus: EventBus[SignInMessage]) -> None:
        self.database = database
        self.bus = bus

    async def __call__(self, notices: list[Any]) -> None:
        events = [n for n in notices if isinstance(n, SignInEvent)]
        if not events:
            return
        try:
            await self._publish(events)
        except Exception:  # the change is committed; a dashboard resubscribes to catch up
            log.exception("could not publish %d sign-in event(s)", len(events))

    async def _publish(self, events: list[SignInEvent]) -> None:
        wanted = [
            e
            for e in events
            if await self.bus.has_subscribers(
                [session_topic(e.session_id)], prefixes=[venue_prefix(e.venue_id)]
            )
        ]
        if not wanted:
            return
        async with self.database.read() as db:
            messages = await build_messages(db=db, events=wanted)
        for message in messages:
            await self.bus.publish(topics_of(message), message)


def attach_publisher(database: Database, bus: EventBus[SignInMessage]) -> SignInPublisher:
    """Publish this database's committed sign-in events on `bus` (API servers, workers)."""
    publisher = SignInPublisher(database, bus)
    database.after_commit.add(publisher)
    return publisher
