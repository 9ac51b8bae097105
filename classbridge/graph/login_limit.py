"""Brute force on staff sign-in: failed logins are counted per account and per client
address (CLASSBRIDGE_LOGIN_RATE_LIMIT_ACCOUNT / _ADDRESS, moving windows of the `limits`
library, in Redis when configured, like the partner rate limit). Once a budget is spent,
attempts are refused with RATE_LIMITED before the password is even checked — a right
password too, until the window moves on. Password-reset requests count against the
address's budget and a per-account budget of their own (no flood of reset emails).

Keys hold a digest of the email, never the address itself (no PII in Redis)."""

import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter

from classbridge.graph.rate_limit_storage import close_storage, limits_storage
from classbridge.models.errors import DomainError, ErrorCode
from classbridge.settings import Settings

log = logging.getLogger("classbridge.ratelimit")


def _account(kind: str, email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"{kind}:account:{digest}"


class LoginRateLimit:
    def __init__(self, settings: Settings) -> None:
        account, address = settings.login_rate_limit_account, settings.login_rate_limit_address
        self.account: RateLimitItem | None = parse(account) if account else None
        self.address: RateLimitItem | None = parse(address) if address else None
        self.storage = limits_storage(settings)
        self.limiter = MovingWindowRateLimiter(self.storage)

    def _budgets(
        self, kind: str, email: str, address: str | None
    ) -> list[tuple[RateLimitItem, str]]:
        budgets = []
        if self.account is not None:
            budgets.append((self.account, _account(kind, email)))
        if self.address is not None and address:
            budgets.append((self.address, f"staff:address:{address}"))
        return budgets

    async def _refuse_if_spent(self, budgets: list[tuple[RateLimitItem, str]]) -> None:
        try:
            for item, key in budgets:
                if not await self.limiter.test(item, key):
                    stats = await self.limiter.get_window_stats(item, key)
                    wait = max(1, math.ceil(stats.reset_time - time.time()))
                    raise DomainError(
                        ErrorCode.RATE_LIMITED,
                        f"too many attempts; try again in {wait} seconds",
                    )
        except DomainError:
            raise
        except Exception as exc:  # the shared store is away: serve rather than refuse all
            log.warning("sign-in limit not checked (%s: %s)", type(exc).__name__, exc)

    async def _hit(self, budgets: list[tuple[RateLimitItem, str]]) -> None:
        try:
            for item, key in budgets:
                await self.limiter.hit(item, key)
        except Exception as exc:
            log.warning("sign-in limit not counted (%s: %s)", type(exc).__name__, exc)

    @asynccontextmanager
    async def login(self, *, email: str, address: str | None) -> AsyncIterator[None]:
        """Around one sign-in: refused when a budget is spent; a wrong password counts."""
        budgets = self._budgets("login", email, address)
        await self._refuse_if_spent(budgets)
        try:
            yield
        except DomainError as exc:
            if exc.code is ErrorCode.INVALID_CREDENTIALS:
                await self._hit(budgets)
            raise

    async def reset_request(self, *, email: str, address: str | None) -> None:
        """Count one password-reset request; refused when a budget is spent."""
        budgets = self._budgets("reset", email, address)
        await self._refuse_if_spent(budgets)
        await self._hit(budgets)

    async def close(self) -> None:
        await close_storage(self.storage)
