"""The rate-limit port: counters shared by every API process (DESIGN.md section 4).

api/rate_limit.py decides which counters a request is charged to; a store only counts.
domain/adapters/rate_limit_redis.py is the real store, tests/fakes_rate_limit.py the fake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Hit:
    """One counter's answer to one request."""

    admitted: bool
    remaining: int
    retry_after_seconds: int  # 0 when admitted
    reset_seconds: int  # until the counter is back to its full quota


class RateLimitStore(Protocol):
    def hit(self, checks: Sequence[tuple[str, int, int]]) -> list[Hit]:
        """Charge one request to each (key, count, window_seconds), all or none: when one
        counter refuses, none is charged. Raises ConnectionError when the store is down."""
        ...

    async def hit_async(self, checks: Sequence[tuple[str, int, int]]) -> list[Hit]:
        """`hit` for the event loop: the API charges every request with it, and a thread
        hop per request costs more than the round trip itself."""
        ...

    async def aclose(self) -> None:
        """Release what `hit_async` opened (called from the event loop at shutdown)."""
        ...

    def close(self) -> None: ...
