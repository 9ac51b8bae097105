"""Staff passwords: argon2id with argon2-cffi's default parameters (RFC 9106's low-memory
profile), hashed and verified off the event loop.

argon2 is slow on purpose (tens of milliseconds, 64 MiB). Tests that create hundreds of
accounts in-process swap in cheap parameters with `use_hasher` (tests/conftest.py); nothing
in the application calls it, and every `classbridge` process hashes with the defaults.
"""

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def use_hasher(hasher: PasswordHasher) -> None:
    """Tests only: hash new passwords with `hasher` in this process."""
    global _hasher
    _hasher = hasher


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Whether `password` matches; `None` (no such account) costs as much as a wrong one."""
    return await asyncio.to_thread(_verify, _hasher, stored_hash, password)


def _verify(hasher: PasswordHasher, stored_hash: str | None, password: str) -> bool:
    try:
        return hasher.verify(stored_hash or _dummy_hash(hasher), password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Made on first use (in the worker thread), not at import: every CLI start-up would
    # otherwise pay a full argon2 hash.
    return hasher.hash("classbridge-dummy-password")
