"""SequenceOrder: per-session commit order restored, duplicates dropped, gaps waited out."""

import uuid

from classbridge.live.ordering import SequenceOrder

A, B = uuid.uuid4(), uuid.uuid4()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def order(seen: dict[uuid.UUID, int], clock: Clock) -> SequenceOrder[tuple[uuid.UUID, int]]:
    return SequenceOrder(seen, key=lambda item: item, wait=2.0, clock=clock)


def test_holds_back_until_the_missing_one_arrives() -> None:
    clock = Clock()
    o = order({A: 4}, clock)
    assert o.push((A, 4)) == []  # already in the snapshot
    assert o.push((A, 6)) == []
    assert o.push((B, 1)) == [(B, 1)]  # sessions are independent; a new one starts at 1
    assert o.wait_time() == 2.0
    assert o.push((A, 5)) == [(A, 5), (A, 6)]
    assert o.wait_time() is None and o.held() == 0


def test_gives_up_on_a_lost_event_after_the_wait() -> None:
    clock = Clock()
    o = order({A: 0}, clock)
    assert o.push((A, 2)) == []
    assert o.push((A, 4)) == []
    clock.now += 1.0
    assert o.expire() == []
    assert o.wait_time() == 1.0
    clock.now += 1.0
    assert o.expire() == [(A, 2)]  # 1 is lost; 3 may still come
    assert o.wait_time() == 2.0
    assert o.push((A, 3)) == [(A, 3), (A, 4)]
    assert o.push((A, 1)) == []  # too late: dropped, never out of order
