"""Live fan-out: one execution per event for every subscriber that would get the same bytes.

Like Hasura's multiplexed live queries: subscribers whose result can only be the same —
the same document, variables and caller's scope (company, and whatever else the
resolvers' authorization looks at) — form a `RenderGroup`. The first of them to deliver
a message executes the document over it and serializes the payload once; every other
member sends that very string. What stays per subscriber is cheap: its authorization
(checked when it subscribed, its token watched while it lasts), its place in the
session's sequence (live/ordering.py), its bounded queue of references to shared messages
(live/bus.py) and the frame envelope with its operation id.

Nothing here knows GraphQL: the group's `execute` turns a message into a payload string.
An execution that fails becomes the payload of its group only (errors stay per group).
"""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

M = TypeVar("M")

# A subscriber that fell behind may render an older message after the group moved on;
# keep the last few so it still shares instead of executing again.
RECENT_RENDERS = 16

Rendered = str | Awaitable[str]


Payload = str | asyncio.Future[str]


class RenderGroup(Generic[M]):
    """Subscribers sharing (document, variables, scope); renders each message once."""

    def __init__(
        self, registry: "Multiplexer[M]", key: Hashable, execute: Callable[[M], Rendered]
    ) -> None:
        self.registry = registry
        self.key = key
        self.members = 0
        self.executions = 0
        self._execute = execute
        # id(message) -> (message, payload); the message is kept so its id is not reused.
        self._recent: OrderedDict[int, tuple[M, Payload]] = OrderedDict()

    async def render(self, message: M) -> str:
        """The payload of `message` for this group: executed at most once per message."""
        hit = self._recent.get(id(message))
        if hit is not None and hit[0] is message:
            payload = hit[1]
        else:
            self.executions += 1
            self.registry.executions += 1
            rendered = self._execute(message)
            # An asynchronous execution runs as its own task: a member that is cancelled
            # while waiting must not cancel it for the others.
            payload = rendered if isinstance(rendered, str) else asyncio.ensure_future(rendered)
            self._recent[id(message)] = (message, payload)
            if len(self._recent) > RECENT_RENDERS:
                self._recent.popitem(last=False)
        if isinstance(payload, str):
            return payload
        return await asyncio.shield(payload)


class Multiplexer(Generic[M]):
    """This process's render groups, by key; a group lives while it has members."""

    def __init__(self) -> None:
        self._groups: dict[Hashable, RenderGroup[M]] = {}
        self.executions = 0  # all groups, ever: tests count executions per event with it

    def join(self, key: Hashable, execute: Callable[[], Callable[[M], Rendered]]) -> RenderGroup[M]:
        """The group of `key` (created with `execute()` when it is the first member)."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = RenderGroup(self, key, execute())
        group.members += 1
        return group

    def leave(self, group: RenderGroup[M]) -> None:
        group.members -= 1
        if group.members <= 0 and self._groups.get(group.key) is group:
            del self._groups[group.key]

    def group_count(self) -> int:
        return len(self._groups)
