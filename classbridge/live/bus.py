"""The event bus of live sign-in: topics, bounded subscriber queues, two transports.

`LocalBus` delivers inside one process (the default). `RedisBus` carries every event
through Redis pub/sub, so a dashboard connected to one server process hears of changes
made by another process or an arq worker. Both share the local half: a registry of
subscribers per topic and a dispatch that never blocks. A subscriber whose queue is full
is dropped and told (SLOW_CONSUMER) instead of stalling the others or growing memory.

RedisBus subscribes one Redis channel per topic that has local subscribers (reference
counted), runs one reader task while it has any, and releases both when the last local
subscriber leaves, so an idle process holds no task, channel or pub/sub connection.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any, Generic, TypeVar

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from classbridge.live.fanout import Multiplexer
from classbridge.models.errors import ErrorCode

log = logging.getLogger("classbridge.bus")

M = TypeVar("M")

READER_TASK_NAME = "classbridge.bus.reader"
_REDIS_TIMEOUT = 5.0


class BusClosed(Exception):
    """The subscription ended on the bus side; `code` says why."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_CLOSED = object()

_REASONS = {
    ErrorCode.SLOW_CONSUMER: "too many live events were waiting for this client: "
    "it was dropped; subscribe again to get a fresh snapshot",
    ErrorCode.LIVE_UNAVAILABLE: "live updates are unavailable (server shutting down or the "
    "event bus was lost); subscribe again",
}


class Subscriber(Generic[M]):
    """One subscription's bounded queue. Only the bus puts; only its consumer gets."""

    # Slots and a plain deque with one waiter (not an asyncio.Queue): one of these per
    # dashboard subscription, so its size is part of the memory per subscriber.
    __slots__ = (
        "_items",
        "_waiter",
        "channel_generation",
        "closed_with",
        "maxsize",
        "on_close",
        "topic",
    )

    def __init__(self, topic: str, maxsize: int) -> None:
        self.topic = topic
        self.maxsize = maxsize
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed_with: ErrorCode | None = None
        self.channel_generation: int | None = None  # set while it counts towards a channel
        # Called once when the bus ends the subscription (SLOW_CONSUMER, LIVE_UNAVAILABLE):
        # a consumer stuck writing to its socket learns of it without reading its queue.
        self.on_close: Callable[[ErrorCode], None] | None = None

    def _put(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def offer(self, message: M) -> bool:
        """Queue a message without waiting; False when the queue is full."""
        if self.closed_with is not None:
            return True
        if len(self._items) >= self.maxsize:
            return False
        self._put(message)
        return True

    def close(self, code: ErrorCode) -> None:
        """Free the queued messages and wake the consumer, which then raises BusClosed."""
        if self.closed_with is not None:
            return
        self.closed_with = code
        self._items.clear()
        self._put(_CLOSED)
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            try:
                on_close(code)
            except Exception:  # one consumer's hook must not stop the fan-out
                log.exception("a live subscriber's close hook failed")

    async def get(self, within: float | None = None) -> M | None:
        """The next message; None when `within` seconds passed without one."""
        if not self._items:
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                if within is None:
                    await waiter
                else:
                    async with asyncio.timeout(within):
                        await waiter
            except TimeoutError:
                return None
            finally:
                self._waiter = None
        item = self._items.popleft()
        if item is _CLOSED:
            code = self.closed_with or ErrorCode.LIVE_UNAVAILABLE
            raise BusClosed(code, _REASONS.get(code, "the live subscription ended"))
        return item  # type: ignore[no-any-return]  # anything but _CLOSED is an M


class EventBus(Generic[M]):
    """In-process bus; the base of RedisBus, which only changes how messages travel."""

    def __init__(self, *, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self._registry: dict[str, set[Subscriber[M]]] = {}
        self._count_observers: list[Callable[[int], None]] = []
        # Render groups of this process (live/fanout.py): one execution per event and group.
        self.multiplexer: Multiplexer[M] = Multiplexer()

    # -- the local half ------------------------------------------------------------------

    def subscriber_count(self) -> int:
        return sum(len(subs) for subs in self._registry.values())

    def observe_subscriber_count(self, observer: Callable[[int], None]) -> None:
        """Call `observer` with the number of local subscribers whenever it changes."""
        self._count_observers.append(observer)
        observer(self.subscriber_count())

    def _count_changed(self) -> None:
        if self._count_observers:
            count = self.subscriber_count()
            for observer in self._count_observers:
                observer(count)

    def tasks(self) -> list[asyncio.Task[Any]]:
        """Background tasks the bus runs now (for hygiene checks)."""
        return []

    def _register(self, topic: str) -> Subscriber[M]:
        sub: Subscriber[M] = Subscriber(topic, self.queue_size)
        self._registry.setdefault(topic, set()).add(sub)
        self._count_changed()
        return sub

    def _unregister(self, sub: Subscriber[M]) -> None:
        subs = self._registry.get(sub.topic)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._registry[sub.topic]
            self._count_changed()

    def _dispatch(self, topic: str, message: M) -> None:
        """Hand a message to every local subscriber of a topic; never waits."""
        for sub in list(self._registry.get(topic, ())):
            if not sub.offer(message):
                log.warning(
                    "dropping a live subscriber of %s: %d events behind", topic, sub.maxsize
                )
                self._unregister(sub)
                sub.close(ErrorCode.SLOW_CONSUMER)

    def _close_all(self, code: ErrorCode) -> None:
        for subs in list(self._registry.values()):
            for sub in list(subs):
                sub.close(code)
        self._registry.clear()
        self._count_changed()

    # -- the transport -------------------------------------------------------------------

    async def subscribe(self, topic: str) -> Subscriber[M]:
        """Start receiving a topic's messages; everything published after return arrives."""
        return self._register(topic)

    async def unsubscribe(self, sub: Subscriber[M]) -> None:
        """Stop a subscription; calling it twice is harmless."""
        self._unregister(sub)
        sub.close(ErrorCode.LIVE_UNAVAILABLE)

    async def publish(self, topics: Iterable[str], message: M) -> None:
        for topic in topics:
            self._dispatch(topic, message)

    async def has_subscribers(self, topics: Iterable[str], prefixes: Iterable[str] = ()) -> bool:
        """Whether anyone listens to one of `topics` or to a topic starting with a prefix."""
        if any(topic in self._registry for topic in topics):
            return True
        return any(t.startswith(p) for p in prefixes for t in self._registry)

    async def close(self) -> None:
        """Shut down: every subscriber is told LIVE_UNAVAILABLE."""
        self._close_all(ErrorCode.LIVE_UNAVAILABLE)


LocalBus = EventBus


class RedisBus(EventBus[M]):
    """Messages travel through Redis pub/sub, one channel per topic (`<prefix>:<topic>`)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        encode: Callable[[M], str],
        decode: Callable[[bytes], M],
        queue_size: int = 256,
    ) -> None:
        super().__init__(queue_size=queue_size)
        self.redis = Redis.from_url(url, socket_connect_timeout=_REDIS_TIMEOUT)
        self.prefix = prefix.rstrip(":") + ":"
        self._encode = encode
        self._decode = decode
        self._refs: dict[str, int] = {}
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._confirms: dict[bytes, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()
        # Grows when the pub/sub connection is lost: older subscribers no longer hold refs.
        self._generation = 0

    def channel(self, topic: str) -> str:
        return self.prefix + topic

    def tasks(self) -> list[asyncio.Task[Any]]:
        return [self._reader] if self._reader is not None and not self._reader.done() else []

    async def subscribe(self, topic: str) -> Subscriber[M]:
        sub = self._register(topic)  # before SUBSCRIBE, so nothing confirmed is missed
        try:
            async with self._lock:
                if topic not in self._refs:
                    await self._subscribe_channel(self.channel(topic))
                    self._refs[topic] = 0
                self._refs[topic] += 1
                sub.channel_generation = self._generation
        except BaseException:
            self._unregister(sub)
            sub.close(ErrorCode.LIVE_UNAVAILABLE)
            raise
        return sub

    async def _subscribe_channel(self, channel: str) -> None:
        """SUBSCRIBE and wait for Redis to confirm: from then on, publications reach us."""
        if self._pubsub is None:
            self._pubsub = self.redis.pubsub()
        confirmed = asyncio.get_running_loop().create_future()
        self._confirms[channel.encode()] = confirmed
        try:
            async with asyncio.timeout(_REDIS_TIMEOUT):
                await self._pubsub.subscribe(channel)
                if self._reader is None:
                    self._reader = asyncio.create_task(
                        self._read(self._pubsub), name=READER_TASK_NAME
                    )
                await confirmed
        except BaseException:
            self._confirms.pop(channel.encode(), None)
            if not self._refs:
                await self._stop_reader()
            raise

    async def unsubscribe(self, sub: Subscriber[M]) -> None:
        self._unregister(sub)
        sub.close(ErrorCode.LIVE_UNAVAILABLE)
        generation, sub.channel_generation = sub.channel_generation, None
        if generation is None:
            return
        # Shielded: a second cancellation of the caller must not leave a channel behind.
        await asyncio.shield(self._release(sub.topic, generation))

    async def _release(self, topic: str, generation: int) -> None:
        async with self._lock:
            if generation != self._generation:
                return
            refs = self._refs.get(topic, 0) - 1
            if refs > 0:
                self._refs[topic] = refs
                return
            self._refs.pop(topic, None)
            if not self._refs:
                await self._stop_reader()  # closing the connection drops its channels
            elif self._pubsub is not None:
                try:
                    await self._pubsub.unsubscribe(self.channel(topic))
                except Exception:
                    log.warning("could not unsubscribe %s", topic, exc_info=True)

    async def _stop_reader(self) -> None:
        reader, pubsub = self._reader, self._pubsub
        self._reader = self._pubsub = None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await reader
        if pubsub is not None:
            with suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped

    async def _read(self, pubsub: PubSub) -> None:
        prefix = self.prefix.encode()
        try:
            while True:
                item = await pubsub.get_message(timeout=None)
                if item is None:
                    continue
                if item["type"] == "subscribe":
                    confirmed = self._confirms.pop(item["channel"], None)
                    if confirmed is not None and not confirmed.done():
                        confirmed.set_result(None)
                elif item["type"] == "message":
                    topic = item["channel"][len(prefix) :].decode()
                    try:
                        message = self._decode(item["data"])
                    except Exception:
                        log.exception("dropping an undecodable message on %s", topic)
                        continue
                    self._dispatch(topic, message)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The pub/sub connection is gone: events may be lost, so every subscriber is
            # told to come back (and gets a fresh snapshot) rather than silently missing some.
            log.exception("lost the Redis pub/sub connection")
            for confirmed in self._confirms.values():
                if not confirmed.done():
                    confirmed.set_exception(ConnectionError("Redis pub/sub connection lost"))
            self._confirms.clear()
            self._reader = None
            async with self._lock:
                self._generation += 1
                self._close_all(ErrorCode.LIVE_UNAVAILABLE)
                self._refs.clear()
                await self._stop_reader()
                with suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # untyped in redis-py

    async def publish(self, topics: Iterable[str], message: M) -> None:
        data = self._encode(message)
        async with asyncio.timeout(_REDIS_TIMEOUT):
            async with self.redis.pipeline(transaction=False) as pipe:
                for topic in topics:
                    pipe.publish(self.channel(topic), data)
                await pipe.execute()

    async def has_subscribers(self, topics: Iterable[str], prefixes: Iterable[str] = ()) -> bool:
        async with asyncio.timeout(_REDIS_TIMEOUT):
            channels = [self.channel(t) for t in topics]
            if channels:
                counts = await self.redis.pubsub_numsub(*channels)
                if any(count for _, count in counts):
                    return True
            for prefix in prefixes:
                if await self.redis.pubsub_channels(self.channel(prefix) + "*"):
                    return True
        return False

    async def close(self) -> None:
        async with self._lock:
            self._generation += 1
            self._close_all(ErrorCode.LIVE_UNAVAILABLE)
            self._refs.clear()
            await self._stop_reader()
        await self.redis.aclose()
