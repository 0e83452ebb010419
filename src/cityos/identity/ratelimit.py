"""Rate limits per API key and per client IP (fixed one-minute windows).

With CITYOS_REDIS_URL set, counters live in Redis and hold across every API process.
Without it they are kept in each process (documented choice: the embedded, single
process setup needs no server, and a limit per process is still a limit); they are
not kept in the database, to keep a write off every request.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int, window_s: int = 60) -> int | None:
        """Count one request; None when allowed, else the seconds to wait."""
        ...


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()
        self._last_sweep = 0

    def hit(self, key: str, limit: int, window_s: int = 60) -> int | None:
        now = time.time()
        window = int(now // window_s)
        with self._lock:
            if window != self._last_sweep:
                self._counts = {k: v for k, v in self._counts.items() if k[1] >= window}
                self._last_sweep = window
            n = self._counts.get((key, window), 0) + 1
            self._counts[(key, window)] = n
        if n > limit:
            return int((window + 1) * window_s - now) + 1
        return None


class RedisRateLimiter:
    def __init__(self, url: str) -> None:
        import redis

        self._r = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._fallback = MemoryRateLimiter()

    def hit(self, key: str, limit: int, window_s: int = 60) -> int | None:
        now = time.time()
        window = int(now // window_s)
        k = f"cityos:rl:{key}:{window}"
        try:
            pipe = self._r.pipeline()
            pipe.incr(k)
            pipe.expire(k, window_s + 1)
            n = int(pipe.execute()[0])
        except Exception:
            # Redis away: keep limiting in this process rather than failing requests.
            return self._fallback.hit(key, limit, window_s)
        if n > limit:
            return int((window + 1) * window_s - now) + 1
        return None


def make_limiter(redis_url: str | None) -> RateLimiter:
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()
