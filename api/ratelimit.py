"""Per-account rate limits: one fixed-window budget per account across every route.

The budget ("100/second", flask-limiter's syntax, read by its `limits` library) is counted
in Redis, so every gunicorn worker and every API host share it; without Redis each process
counts alone. It is checked from the authentication hook, once the account is known.
Requests before authentication (the token endpoint, the docs) count against their address;
the switch's directory lookups are not limited. When Redis is away, requests are served,
not refused, with one warning per outage.

A round trip to Redis on every request was a third of a worker's time on a list request
(bench/api.py, sampled with py-spy), so each process counts an account's hits itself and
adds them to Redis in batches: a batch is SHARE of what the account had left of its window
when this process last added to it. An account far from its limit costs one round trip
per process per window, then one per batch (62 hits at first for 1000/minute); one
nearing it has every hit added at once. So each process lets at most SHARE of the limit
pass uncounted, and an account is refused once the window's count in Redis passes the
limit: with P processes serving one account, at most P x SHARE of its limit passes beyond
it in a window (a fixed window already lets twice the limit through across its edge).
Once a process has seen the count past the limit it refuses the account's requests until
the window ends without asking Redis again, so a flood of refused requests costs Redis
nothing.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis
from limits import RateLimitItem, parse
from redis.backoff import NoBackoff
from redis.retry import Retry

from api.errors import ApiError

log = logging.getLogger(__name__)
KEY_PREFIX = "callscript:limits:"
SHARE = 1 / 16
SWEEP_AT = 10_000  # keys kept before those of windows over are dropped
# Add to a window's count; the window (its key's life) starts with its first hit.
ADD = """
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
end
return {count, ttl}
"""


class Counts(Protocol):
    def add(self, key: str, amount: int, window_ms: int) -> tuple[int, int]:
        """Add `amount` hits to `key`'s window; (its count, milliseconds it has left)."""


class RedisCounts:
    """Windows shared by every process using this Redis. No retries: a request waits for
    one attempt at most (a second), then is served uncounted."""

    def __init__(self, url: str) -> None:
        client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1,
                                      retry=Retry(NoBackoff(), 0))
        self._add = client.register_script(ADD)

    def add(self, key: str, amount: int, window_ms: int) -> tuple[int, int]:
        count, ms_left = self._add(keys=[KEY_PREFIX + key], args=[amount, window_ms])
        return int(count), int(ms_left)


class MemoryCounts:
    """Windows of this process alone (thread-safe: gthread workers)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[str, tuple[int, float]] = {}
        self._sweep_at = SWEEP_AT
        self._lock = threading.Lock()

    def add(self, key: str, amount: int, window_ms: int) -> tuple[int, int]:
        now = self.clock()
        with self._lock:
            count, ends = self._windows.get(key, (0, 0.0))
            if now >= ends:
                count, ends = 0, now + window_ms / 1000
            if len(self._windows) > self._sweep_at:  # windows over, once it has doubled
                self._windows = {k: v for k, v in self._windows.items() if v[1] > now}
                self._sweep_at = max(SWEEP_AT, 2 * len(self._windows))
            self._windows[key] = (count + amount, ends)
        return count + amount, math.ceil((ends - now) * 1000)


@dataclass
class _Tally:
    """What this process knows of one key's window."""

    ends: float = 0.0  # when the window ends (clock time); 0: not yet asked
    seen: int = 0  # the window's count when this process last added to it
    pending: int = 0  # hits this process has let through and not yet added


class RateLimit:
    """`limit` per key, counted in `counts`, in batches of `share` of what is left."""

    def __init__(self, limit: str, counts: Counts, share: float = SHARE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.item: RateLimitItem = parse(limit)
        self.window_ms = self.item.get_expiry() * 1000
        self.counts, self.share, self.clock = counts, share, clock
        self.failing = False
        self._tallies: dict[str, _Tally] = {}
        self._sweep_at = SWEEP_AT
        self._lock = threading.Lock()  # gthread workers share the tallies

    @classmethod
    def of(cls, limit: str, redis_url: str | None = None) -> RateLimit:
        """Shared through Redis in batches; without Redis, this process's own exact count."""
        if redis_url:
            return cls(limit, RedisCounts(redis_url))
        return cls(limit, MemoryCounts(), share=0)

    def hit(self, key: str) -> None:
        """Count one request for `key`; ApiError 20429 with Retry-After past the limit."""
        now = self.clock()
        with self._lock:
            tally = self._tally(key, now)
            tally.pending += 1
            amount = tally.pending if self._due(tally) else 0
            tally.pending -= amount
        if amount:
            self._add(key, tally, amount, now)
        if tally.seen + tally.pending > self.item.amount:
            raise ApiError(20429, Retry_After=str(max(1, math.ceil(tally.ends - now))))

    def _tally(self, key: str, now: float) -> _Tally:
        tally = self._tallies.get(key)
        if tally is None or tally.ends and now >= tally.ends:
            if len(self._tallies) > self._sweep_at:  # windows over, once it has doubled
                self._tallies = {k: t for k, t in self._tallies.items() if t.ends > now}
                self._sweep_at = max(SWEEP_AT, 2 * len(self._tallies))
            tally = self._tallies[key] = _Tally()
        return tally

    def _due(self, tally: _Tally) -> bool:
        """Whether to add this process's hits now: the window is new to it, or its batch is
        full; never once the account is known to be past its limit."""
        if not tally.ends:
            return True
        left = self.item.amount - tally.seen
        return left >= 0 and tally.pending >= max(1, int(left * self.share))

    def _add(self, key: str, tally: _Tally, amount: int, now: float) -> None:
        try:
            count, ms_left = self.counts.add(self.item.key_for(key), amount, self.window_ms)
        except Exception as exc:  # Redis away: serve rather than refuse every request
            if not self.failing:
                log.warning("rate limits not counted (%s); serving without them", exc)
                self.failing = True
            return
        if self.failing:
            log.warning("rate limits counted again")
            self.failing = False
        with self._lock:
            tally.seen = max(tally.seen, count)  # another thread's later reply may be in
            tally.ends = now + ms_left / 1000
