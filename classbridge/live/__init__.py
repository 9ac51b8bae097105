"""Live sign-in: the event bus and what travels on it (outside graph/, so workers publish too).

bus = create_bus(settings)           # in-process, or Redis pub/sub with CLASSBRIDGE_REDIS_URL
attach_publisher(database, bus)      # committed sign-in events go out on the bus
...
await bus.close()
"""

from classbridge.live.bus import EventBus, LocalBus, RedisBus
from classbridge.live.payload import SignInMessage, decode, encode
from classbridge.live.publisher import SignInPublisher, attach_publisher
from classbridge.settings import Settings


def create_bus(settings: Settings) -> EventBus[SignInMessage]:
    if settings.redis_url:
        return RedisBus(
            settings.redis_url,
            prefix=settings.live_channel_prefix,
            encode=encode,
            decode=decode,
            queue_size=settings.live_queue_size,
        )
    return LocalBus(queue_size=settings.live_queue_size)


__all__ = ["EventBus", "SignInMessage", "SignInPublisher", "attach_publisher", "create_bus"]
