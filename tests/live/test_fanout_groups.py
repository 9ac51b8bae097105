"""Render groups (live/fanout.py) without sockets: one execution per message and group,
shared by concurrent members, and a group ends with its last member."""

import asyncio
from collections.abc import Callable

from classbridge.live.fanout import Multiplexer


class Message:
    def __init__(self, n: int) -> None:
        self.n = n


async def test_one_execution_per_message_and_group() -> None:
    mux: Multiplexer[Message] = Multiplexer()
    runs: list[tuple[str, int]] = []

    def renderer(name: str) -> Callable[[], Callable[[Message], str]]:
        def render(message: Message) -> str:
            runs.append((name, message.n))
            return f"{name}:{message.n}"

        return lambda: render

    a1 = mux.join("a", renderer("a"))
    a2 = mux.join("a", renderer("a-again"))  # same key: same group, its renderer unused
    b = mux.join("b", renderer("b"))
    assert a1 is a2 and mux.group_count() == 2

    first, second = Message(1), Message(2)
    assert [await a1.render(first), await a2.render(first), await b.render(first)] == [
        "a:1",
        "a:1",
        "b:1",
    ]
    assert await a2.render(second) == "a:2"
    assert await a1.render(first) == "a:1"  # a member that lags still shares
    assert runs == [("a", 1), ("b", 1), ("a", 2)]
    assert mux.executions == 3

    mux.leave(a1)
    mux.leave(a2)
    mux.leave(b)
    assert mux.group_count() == 0


async def test_an_asynchronous_execution_is_shared_and_survives_a_cancelled_member() -> None:
    mux: Multiplexer[Message] = Multiplexer()
    release = asyncio.Event()
    calls = 0

    async def slow(message: Message) -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return f"done:{message.n}"

    group = mux.join("k", lambda: slow)
    message = Message(7)
    impatient = asyncio.create_task(group.render(message))
    patient = asyncio.create_task(group.render(message))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await patient == "done:7"
    assert impatient.cancelled()
    assert calls == 1 and mux.executions == 1
