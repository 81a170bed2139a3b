"""Rate limits shared through a real Redis by several processes' counters (api/ratelimit.py).

Each RateLimit here stands for one gunicorn worker: its own tallies, the same Redis."""

from __future__ import annotations

import pytest
import redis

from api.errors import ApiError
from api.ratelimit import KEY_PREFIX, SHARE, SWEEP_AT, MemoryCounts, RateLimit, RedisCounts
from tests.services import wait_for


def allowed(limit: RateLimit, key: str = "AC1") -> bool:
    try:
        limit.hit(key)
    except ApiError as error:
        assert error.code == 20429
        return False
    return True


def count_in_redis(url: str, limit: RateLimit, key: str = "AC1") -> int:
    return int(redis.Redis.from_url(url).get(KEY_PREFIX + limit.item.key_for(key)) or 0)


def test_workers_share_one_budget(redis_clean):
    one, two = (RateLimit("3/minute", RedisCounts(redis_clean)) for _ in range(2))
    assert [allowed(w) for w in (one, two, one, two, one)] == [True, True, True, False, False]
    assert allowed(two, "AC2")  # another account's budget


def test_a_refusal_tells_when_the_window_ends(redis_clean):
    limit = RateLimit("1/minute", RedisCounts(redis_clean))
    limit.hit("AC1")
    with pytest.raises(ApiError) as refused:
        limit.hit("AC1")
    assert 1 <= int(refused.value.headers["Retry_After"]) <= 60


def test_an_account_far_from_its_limit_is_counted_in_batches(redis_clean):
    limit = RateLimit("1000/minute", RedisCounts(redis_clean))
    assert all(allowed(limit) for _ in range(20))
    # the first hit asks Redis for the window; the next batch is a 16th of the 999 left
    assert count_in_redis(redis_clean, limit) == 1
    assert all(allowed(limit) for _ in range(60))
    assert count_in_redis(redis_clean, limit) == 1 + int(999 * SHARE)


def test_workers_together_pass_at_most_a_share_each_beyond_the_limit(redis_clean):
    workers = [RateLimit("160/minute", RedisCounts(redis_clean)) for _ in range(3)]
    passed = [allowed(workers[n % 3]) for n in range(600)]
    assert 160 <= sum(passed) <= 160 + 3 * int(160 * SHARE)
    assert not any(passed[-300:])  # once past it, every worker refuses


def test_refusals_past_the_limit_do_not_ask_redis(redis_clean):
    limit = RateLimit("3/minute", RedisCounts(redis_clean))
    assert [allowed(limit) for _ in range(4)] == [True, True, True, False]
    assert not any(allowed(limit) for _ in range(50))
    assert count_in_redis(redis_clean, limit) == 4


def test_a_new_window_serves_again(redis_clean):
    limit = RateLimit("2/second", RedisCounts(redis_clean))
    assert [allowed(limit) for _ in range(3)] == [True, True, False]
    wait_for(lambda: allowed(limit), 5, "the next window")
    assert count_in_redis(redis_clean, limit) == 1


def test_keys_of_windows_over_are_dropped():
    now = [0.0]
    clock = lambda: now[0]  # noqa: E731
    limit = RateLimit("5/second", MemoryCounts(clock), share=0, clock=clock)
    for n in range(SWEEP_AT + 1):
        limit.hit(f"10.0.{n // 250}.{n % 250}")
    now[0] = 2.0  # every window above is over
    limit.hit("AC1")
    assert list(limit._tallies) == ["AC1"]
    assert all(allowed(limit) for _ in range(4)) and not allowed(limit)  # 5 per window
