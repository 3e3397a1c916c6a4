"""Credit-based rate limits, Deribit's model: each method costs credits from a bucket that
refills at a fixed rate up to a maximum.

Buckets are kept per account and per IP address; a request must fit both, and is charged to
both only if it fits both (validate, then apply). Credits are integers; refill is computed in
milli-credits from the elapsed milliseconds, so there is no float drift and no wall clock.
The defaults (configurable) follow Deribit's non-matching-engine figures (500 credits a request,
50,000 maximum, 10,000 a second: 20 requests a second sustained) and ccxt's observed weight of
4 for matching-engine methods.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import msgspec

from optex.core import InvalidInput, LimitExceeded
from optex.crypto._reasons import SecurityReason

DEFAULT_COST: Final = 500
MATCHING_ENGINE_COST: Final = 2000
MATCHING_ENGINE_METHODS: Final = (
    "private/buy",
    "private/sell",
    "private/edit",
    "private/cancel",
    "private/cancel_all",
    "private/cancel_all_by_currency",
    "private/cancel_all_by_instrument",
)


class RateLimit(msgspec.Struct, frozen=True):
    """A bucket's size and refill, and what each method costs."""

    max_credits: int = 50_000
    refill_per_second: int = 10_000
    default_cost: int = DEFAULT_COST
    costs: Mapping[str, int] = MappingProxyType(
        dict.fromkeys(MATCHING_ENGINE_METHODS, MATCHING_ENGINE_COST)
    )

    def cost(self, method: str) -> int:
        """The credits ``method`` costs."""
        return self.costs.get(method, self.default_cost)


class _Bucket:
    __slots__ = ("milli", "updated_ms")

    def __init__(self, milli: int, updated_ms: int) -> None:
        self.milli = milli
        self.updated_ms = updated_ms


class RateLimiter:
    """Token buckets by key (``"account:..."``, ``"ip:..."``); time passed in."""

    def __init__(
        self,
        per_account: RateLimit | None = None,
        per_ip: RateLimit | None = None,
        max_buckets: int = 1_000_000,
    ) -> None:
        self.per_account = per_account if per_account is not None else RateLimit()
        self.per_ip = per_ip if per_ip is not None else RateLimit()
        self.max_buckets = max_buckets
        self._buckets: dict[str, _Bucket] = {}

    def _level(self, key: str, limit: RateLimit, now_ms: int) -> int:
        bucket = self._buckets.get(key)
        full = limit.max_credits * 1000
        if bucket is None:
            return full
        elapsed = max(0, now_ms - bucket.updated_ms)
        return min(full, bucket.milli + elapsed * limit.refill_per_second)

    def available(self, key: str, limit: RateLimit, now_ms: int) -> int:
        """Whole credits in ``key``'s bucket at ``now_ms``."""
        return self._level(key, limit, now_ms) // 1000

    def charge(self, method: str, *, account: str | None, ip: str | None, now_ms: int) -> None:
        """Charge one request to its account and IP buckets, or raise ``too_many_requests``.

        A refused request is not charged, so a client that backs off recovers at the refill
        rate.
        """
        if not isinstance(method, str) or len(method) > 128:
            raise InvalidInput(SecurityReason.MALFORMED_MESSAGE, "method name")
        plan = [(f"account:{account}", self.per_account)] if account else []
        if ip:
            plan.append((f"ip:{ip}", self.per_ip))
        levels = []
        for key, limit in plan:
            cost = limit.cost(method) * 1000
            level = self._level(key, limit, now_ms)
            if level < cost:
                wait = -(-(cost - level) // max(1, limit.refill_per_second))
                raise LimitExceeded(
                    SecurityReason.TOO_MANY_REQUESTS, retry_after_ms=wait, bucket=key.split(":")[0]
                )
            levels.append((key, level - cost))
        if len(self._buckets) + len(levels) > self.max_buckets:
            self._evict_full(now_ms)
        for key, level in levels:
            self._buckets[key] = _Bucket(level, now_ms)

    def _evict_full(self, now_ms: int) -> None:
        # A full bucket is the same as no bucket, so forgetting it loses nothing.
        for key in list(self._buckets):
            limit = self.per_account if key.startswith("account:") else self.per_ip
            if self._level(key, limit, now_ms) >= limit.max_credits * 1000:
                del self._buckets[key]
