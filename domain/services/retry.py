"""Run a transactional use case again when the database aborted it to resolve a conflict.

PostgreSQL may abort a transaction with a serialization failure or a deadlock (SQLSTATE
40001/40P01; the unit of work raises RetryableConflict): its manual's advice is to retry the
whole transaction ("Serialization Failure Handling", chapter 13.6). Only a function that opens
its own unit of work may be retried this way, so every attempt starts a new transaction, and
only one with no effect outside the database before its commit (no publish, no e-mail).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from domain.errors import RetryableConflict

log = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 4
BASE_DELAY = 0.02  # seconds before the second attempt; doubled each time, with jitter
MAX_DELAY = 0.5


def retry_conflicts(
    transaction: Callable[[], T],
    *,
    attempts: int = ATTEMPTS,
    base_delay: float = BASE_DELAY,
    max_delay: float = MAX_DELAY,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """`transaction()`, run again (up to `attempts` times in all) while it raises
    RetryableConflict; the last conflict is raised when every attempt failed."""
    for attempt in range(1, attempts + 1):
        try:
            return transaction()
        except RetryableConflict:
            if attempt == attempts:
                raise
            # Full jitter: transactions that collided once must not collide again in step.
            delay = random.uniform(0, min(max_delay, base_delay * 2 ** (attempt - 1)))
            log.info("transaction conflict (attempt %d of %d); retrying", attempt, attempts)
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
