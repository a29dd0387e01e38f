"""Readiness checks (database, Redis, broker), run concurrently with a time bound each.

The checks are blocking calls. They run on their own small thread limiter: a backend that
hangs leaves its check's thread stuck until the driver gives up, and those threads must not
eat the pool that serves requests. A check that overruns is abandoned and reported failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import anyio
import anyio.to_thread

log = logging.getLogger(__name__)

MAX_CHECK_THREADS = 4


class Readiness:
    def __init__(self, checks: Mapping[str, Callable[[], None]], timeout_seconds: float) -> None:
        self.checks = dict(checks)
        self.timeout = timeout_seconds
        self._limiter: anyio.CapacityLimiter | None = None

    async def run(self) -> dict[str, bool]:
        """name -> passed, for every check."""
        if self._limiter is None:  # created lazily: it needs a running event loop
            self._limiter = anyio.CapacityLimiter(MAX_CHECK_THREADS)
        results: dict[str, bool] = {}
        async with anyio.create_task_group() as group:
            for name, check in self.checks.items():
                group.start_soon(self._run_one, name, check, results)
        return results

    async def _run_one(
        self, name: str, check: Callable[[], None], results: dict[str, bool]
    ) -> None:
        results[name] = False
        with anyio.move_on_after(self.timeout) as scope:
            try:
                await anyio.to_thread.run_sync(check, limiter=self._limiter, abandon_on_cancel=True)
            except Exception as exc:
                # The reason goes to the log only: it names hosts and drivers.
                log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
                return
            results[name] = True
        if scope.cancelled_caught:
            log.warning("readiness check %s took longer than %.1f s", name, self.timeout)
