"""After-commit listeners: each in its own task, in commit order, failures contained.

`Database.transaction()` hands the notices of a committed transaction to `dispatch`, which
never waits: the response (or the job) goes on while a listener publishes to Redis or
enqueues a job, and nothing a listener does can turn the committed change into an error.

Each listener has its own lane (a queue and a task), so a slow or failing one delays or
harms no other, and it receives notices in the order the commits finished in this process:
the order live sign-in relies on (per-session order, see live/ordering.py). Notices that
arrive while a listener is busy are handed over together, still in order, in one call.
A listener's exception is logged and the lane goes on with the next notices.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

log = logging.getLogger("classbridge.after_commit")

NoticeListener = Callable[[list[Any]], Awaitable[None]]

CLOSE_TIMEOUT_SECONDS = 10.0
"""How long closing waits for listeners to finish what was committed before it."""


class _Lane:
    """One listener's queue and the task that feeds it."""

    def __init__(self, listener: NoticeListener) -> None:
        self.listener = listener
        self.loop = asyncio.get_running_loop()
        self.pending: list[Any] = []
        self.wake = asyncio.Event()
        self.idle = asyncio.Event()
        self.idle.set()
        self.closing = False
        self.task = self.loop.create_task(self._run(), name="classbridge-after-commit")

    def put(self, notices: list[Any]) -> None:
        self.pending.extend(notices)
        self.idle.clear()
        self.wake.set()

    def close(self) -> None:
        self.closing = True
        self.wake.set()

    async def _run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.pending = self.pending, []
            if batch:
                try:
                    await self.listener(batch)
                except Exception:  # the change is committed; the listener's loss only
                    log.exception("after-commit listener %r failed", self.listener)
            if not self.pending:
                self.idle.set()
                if self.closing:
                    return


class AfterCommit:
    """The listeners of one `Database`."""

    def __init__(self) -> None:
        self._listeners: list[NoticeListener] = []
        self._lanes: dict[NoticeListener, _Lane] = {}

    def add(self, listener: NoticeListener) -> None:
        self._listeners.append(listener)

    def remove(self, listener: NoticeListener) -> None:
        """Stop listening; notices already dispatched to it are still delivered."""
        if listener in self._listeners:
            self._listeners.remove(listener)
        lane = self._lanes.pop(listener, None)
        if lane is not None:
            lane.close()

    def __contains__(self, listener: object) -> bool:
        return listener in self._listeners

    def dispatch(self, notices: list[Any]) -> None:
        """Hand a committed transaction's notices to every listener; returns at once."""
        if not notices:
            return
        for listener in self._listeners:
            self._lane(listener).put(notices)

    async def drain(self) -> None:
        """Wait until every notice dispatched so far has been handled (tests, shut-down)."""
        current = asyncio.get_running_loop()
        await asyncio.gather(
            *(lane.idle.wait() for lane in self._lanes.values() if lane.loop is current)
        )

    async def aclose(self) -> None:
        """Finish what was committed (for a while), then stop every lane."""
        lanes = list(self._lanes.values())
        self._lanes.clear()
        current = asyncio.get_running_loop()
        for lane in lanes:
            lane.close()
        ours = [lane.task for lane in lanes if lane.loop is current]
        if ours:
            _, late = await asyncio.wait(ours, timeout=CLOSE_TIMEOUT_SECONDS)
            for task in late:
                log.error("after-commit listener still busy at shut-down; stopping it")
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task

    def _lane(self, listener: NoticeListener) -> _Lane:
        lane = self._lanes.get(listener)
        if lane is None or lane.loop is not asyncio.get_running_loop() or lane.task.done():
            # First notice, or the loop it ran on is gone (a new asyncio.run()).
            lane = self._lanes[listener] = _Lane(listener)
        return lane
