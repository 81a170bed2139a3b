"""Per-account rate limits: one fixed-window budget per account across every route.

The budget is counted by the `limits` library (the core of flask-limiter) in Redis, so
every gunicorn worker and every API host share it; without Redis each process counts
alone. It is checked from the authentication hook, once the account is known: one Lua
script round trip per request. flask-limiter's own request hooks, which resolve route,
blueprint and exemption scopes on every request, cost more worker CPU than a whole
"hello" request (bench/api.py); nothing here needs those scopes.

Requests before authentication (the token endpoint, the docs) count against their
address. The switch's directory lookups are not limited. When Redis is away, requests
are served, not refused, with one warning per outage.
"""

from __future__ import annotations

import logging
import math
import time

from limits import RateLimitItem, parse, storage, strategies

from api.errors import ApiError

log = logging.getLogger(__name__)
KEY_PREFIX = "callscript:limits"


class RateLimit:
    """`limit` ("100/second", flask-limiter's syntax) per key, in Redis or in memory."""

    def __init__(self, limit: str, redis_url: str | None = None) -> None:
        self.item: RateLimitItem = parse(limit)
        if redis_url:
            self.storage = storage.storage_from_string(redis_url, key_prefix=KEY_PREFIX)
        else:
            self.storage = storage.MemoryStorage()
        self.counter = strategies.FixedWindowRateLimiter(self.storage)
        self.failing = False

    def hit(self, key: str) -> None:
        """Count one request for `key`; ApiError 20429 with Retry-After past the limit."""
        try:
            allowed = self.counter.hit(self.item, key)
        except Exception as exc:  # Redis away: serve rather than refuse every request
            if not self.failing:
                log.warning("rate limits not counted (%s); serving without them", exc)
                self.failing = True
            return
        if self.failing:
            log.warning("rate limits counted again")
            self.failing = False
        if not allowed:
            raise ApiError(20429, Retry_After=str(self.retry_after(key)))

    def retry_after(self, key: str) -> int:
        """Whole seconds until `key`'s window resets (asked only on a 429)."""
        try:
            reset = self.counter.get_window_stats(self.item, key).reset_time
        except Exception:
            return 1
        return max(1, math.ceil(reset - time.time()))
