"""Rate limits shared through a real Redis (CITYOS_REDIS_URL), as several API processes use them."""

from __future__ import annotations

import uuid

import pytest

from cityos.identity.ratelimit import MemoryRateLimiter, RedisRateLimiter, make_limiter

REDIS = "redis://127.0.0.1:6379/0"


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
def test_two_limiters_share_one_counter_in_redis() -> None:
    a, b = RedisRateLimiter(REDIS), RedisRateLimiter(REDIS)  # two "processes"
    key = f"test:{uuid.uuid4()}"
    assert [a.hit(key, 3), b.hit(key, 3), a.hit(key, 3)] == [None, None, None]
    wait = b.hit(key, 3)
    assert wait is not None and 1 <= wait <= 61


def test_without_redis_the_limit_is_per_process() -> None:
    limiter = make_limiter(None)
    assert isinstance(limiter, MemoryRateLimiter)
    assert [limiter.hit("k", 2) for _ in range(3)][-1] is not None
    # An unreachable Redis falls back to limiting in the process instead of failing requests.
    broken = RedisRateLimiter("redis://127.0.0.1:1/0")
    first, second = broken.hit("k", 1), broken.hit("k", 1)
    assert first is None and second is not None
