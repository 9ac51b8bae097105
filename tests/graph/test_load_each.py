"""graph/loaders.load_each: what `load_many` returns, with one load per distinct key and
what the loader already holds read at once."""

import asyncio

import pytest
from strawberry.dataloader import DataLoader

from classbridge.graph.loaders import load_each


async def test_load_each_loads_each_distinct_key_once_and_reads_what_is_held() -> None:
    batches: list[list[str]] = []

    async def double(keys: list[str]) -> list[str]:
        batches.append(keys)
        return [k * 2 for k in keys]

    loader = DataLoader(double)
    loader.prime("p", "primed")
    keys = ["a", "p", "b", "a", "a", "p"]
    assert await load_each(loader, keys) == await loader.load_many(keys)
    assert await load_each(loader, keys) == ["aa", "primed", "bb", "aa", "aa", "primed"]
    assert batches == [["a", "b"]]  # once, distinct, the primed key not asked for
    assert await load_each(loader, []) == []


async def test_load_each_passes_on_a_failed_load_and_retries_a_cancelled_one() -> None:
    async def refuse(keys: list[str]) -> list[str]:
        raise LookupError(keys)

    failing = DataLoader(refuse)
    for _ in range(2):  # the failed future stays cached: it fails again, not silently
        with pytest.raises(LookupError):
            await load_each(failing, ["x"])

    async def echo(keys: list[str]) -> list[str]:
        return keys

    loader = DataLoader(echo)
    cancelled: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    cancelled.cancel()
    loader.cache_map.set("y", cancelled)
    assert await load_each(loader, ["y"]) == ["y"]


async def test_load_each_fetches_what_is_missing_in_one_call_and_primes_it() -> None:
    calls: list[list[str]] = []

    async def upper(keys: list[str]) -> list[str]:
        calls.append(keys)
        return [k.upper() for k in keys]

    loader = DataLoader(upper)
    assert await load_each(loader, ["a", "b", "a"]) == ["A", "B", "A"]
    assert calls == [["a", "b"]]
    assert loader.batch is None  # called directly: no batch, no future per key waited on
    assert await loader.load("b") == "B"  # primed: later loads read it
    assert calls == [["a", "b"]]


async def test_load_each_awaits_a_key_being_loaded_instead_of_fetching_it_again() -> None:
    calls: list[list[str]] = []

    async def upper(keys: list[str]) -> list[str]:
        calls.append(keys)
        return [k.upper() for k in keys]

    loader = DataLoader(upper)
    in_flight = loader.load("a")  # pending: its batch runs on the loop's next turn
    assert await load_each(loader, ["a", "b"]) == ["A", "B"]
    assert await in_flight == "A"
    assert sorted(calls) == [["a"], ["b"]]  # "a" fetched once, by its own batch


async def test_load_each_raises_an_exception_answered_for_a_key() -> None:
    async def answer(keys: list[str]) -> list[str | BaseException]:
        return [LookupError(k) if k == "bad" else k for k in keys]

    loader = DataLoader(answer)
    with pytest.raises(LookupError):
        await load_each(loader, ["ok", "bad"])
    assert await loader.load("ok") == "ok"  # the loader still answers the other keys
