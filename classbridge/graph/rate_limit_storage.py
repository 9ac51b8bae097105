"""Where the `limits` library keeps its counters: Redis when CLASSBRIDGE_REDIS_URL is set
(every server process counts against the same budget), this process's memory otherwise.
Shared by the partner rate limit and the staff sign-in limit."""

from limits.aio.storage import MemoryStorage, RedisStorage, Storage

from classbridge.settings import Settings


def limits_storage(settings: Settings) -> Storage:
    if settings.redis_url:
        return RedisStorage(
            "async+" + settings.redis_url,
            implementation="redispy",
            key_prefix=settings.rate_limit_key_prefix,
        )
    return MemoryStorage()


async def close_storage(storage: Storage) -> None:
    if isinstance(storage, RedisStorage):
        await storage.bridge.storage.aclose()  # type: ignore[attr-defined]
