"""Per-session delivery in commit order.

Every sign-in event carries its session's `sign_in_seq`, numbered under the session's row
lock, so the numbers of one session follow commit order without gaps (a rolled-back
change rolls its number back too). Publication can still overtake itself: two
transactions commit one after the other, but the second one's publisher (perhaps in
another process) reaches the bus first. `SequenceOrder` restores the order per
subscriber: it delivers n+1 only after n, holds a later event back while an earlier one
is missing, and gives up waiting after `wait` seconds (the earlier event's publisher may
have died after its commit), so one lost event cannot stall a dashboard for long.

It also drops events that a snapshot already reflects: the snapshot says which number each
session had when it was read, and anything at or below that number is old news.
"""

import time
import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")

MAX_HELD_PER_SESSION = 1000


class SequenceOrder(Generic[T]):
    def __init__(
        self,
        seen: dict[uuid.UUID, int],
        *,
        key: Callable[[T], tuple[uuid.UUID, int]],
        wait: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._last = dict(seen)
        self._key = key
        self._wait = wait
        self._clock = clock
        self._held: dict[uuid.UUID, dict[int, T]] = {}
        self._gap_since: dict[uuid.UUID, float] = {}

    def push(self, item: T) -> list[T]:
        """Take an event; return what can be delivered now, in order."""
        session_id, seq = self._key(item)
        # A session not in the snapshot appeared later: its numbers start at 1.
        last = self._last.get(session_id, 0)
        if seq <= last:
            return []
        if seq == last + 1 and session_id not in self._held:
            # The usual case, once per subscriber and event: next in line, nothing held.
            self._last[session_id] = seq
            return [item]
        held = self._held.setdefault(session_id, {})
        held[seq] = item
        return self._release(session_id, skip_gap=len(held) > MAX_HELD_PER_SESSION)

    def knows(self, session_id: uuid.UUID) -> bool:
        return session_id in self._last or session_id in self._held

    def start_at(self, session_id: uuid.UUID, seq: int) -> None:
        """A session joins with a known number (e.g. moved into a venue's day)."""
        self._last.setdefault(session_id, seq)

    def expire(self) -> list[T]:
        """Deliver events whose missing predecessors waited longer than `wait`."""
        now = self._clock()
        out: list[T] = []
        for session_id, since in list(self._gap_since.items()):
            if now - since >= self._wait:
                out.extend(self._release(session_id, skip_gap=True))
        return out

    def wait_time(self) -> float | None:
        """Seconds until `expire()` has something to do; None when nothing is held."""
        if not self._gap_since:
            return None
        return max(0.0, min(self._gap_since.values()) + self._wait - self._clock())

    def held(self) -> int:
        return sum(len(h) for h in self._held.values())

    def _release(self, session_id: uuid.UUID, *, skip_gap: bool) -> list[T]:
        held = self._held[session_id]
        out: list[T] = []
        while held:
            following = self._last.get(session_id, 0) + 1
            if following not in held:
                if not skip_gap:
                    break
                following = min(held)  # give up on the missing ones, once
                skip_gap = False
            out.append(held.pop(following))
            self._last[session_id] = following
        if not held:
            del self._held[session_id]
            self._gap_since.pop(session_id, None)
        elif out or session_id not in self._gap_since:
            self._gap_since[session_id] = self._clock()  # a new gap starts now
        return out
