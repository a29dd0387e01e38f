"""An in-memory domain.rate_limits.RateLimitStore: the same GCRA as the Redis script
(domain/adapters/rate_limit_redis.py), on a clock the test moves."""

from __future__ import annotations

import math
from collections.abc import Sequence

from domain.rate_limits import Hit


class FakeRateLimitStore:
    def __init__(self) -> None:
        self.now_ms = 1_000_000.0
        self.tats: dict[str, float] = {}
        self.down = False  # True: every hit raises ConnectionError, as Redis being away
        self.calls: list[list[str]] = []
        self.closed_async = False
        self.async_calls = 0  # charges made through hit_async (the API middleware's path)

    def advance(self, seconds: float) -> None:
        self.now_ms += seconds * 1000

    def hit(self, checks: Sequence[tuple[str, int, int]]) -> list[Hit]:
        if self.down:
            raise ConnectionError("fake rate-limit store is down")
        self.calls.append([key for key, _, _ in checks])
        now, hits, new_tats = self.now_ms, [], {}
        for key, count, window in checks:
            window_ms, interval = window * 1000, window * 1000 / count
            tat = max(self.tats.get(key, now), now)
            earliest = tat + interval - window_ms
            if earliest > now:
                hits.append(
                    Hit(False, 0, math.ceil((earliest - now) / 1000), math.ceil((tat - now) / 1000))
                )
            else:
                new_tats[key] = tat + interval
                remaining = math.floor((now - earliest) / interval)
                hits.append(Hit(True, remaining, 0, math.ceil((tat + interval - now) / 1000)))
        if all(h.admitted for h in hits):
            self.tats.update(new_tats)
        return hits

    async def hit_async(self, checks: Sequence[tuple[str, int, int]]) -> list[Hit]:
        self.async_calls += 1
        return self.hit(checks)

    async def aclose(self) -> None:
        self.closed_async = True

    def close(self) -> None:
        pass
