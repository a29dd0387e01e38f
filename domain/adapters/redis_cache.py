"""ResultCache on Redis: solutions by cache key, with a TTL.

The cache is an optimisation, never a dependency: a Redis error is logged and behaves as a miss
(get) or as nothing (put), so the job is solved anyway (domain.ports.ResultCache).
"""

from __future__ import annotations

import logging

import redis

log = logging.getLogger(__name__)

# A failed command is retried once (a pooled connection may be stale after a Redis restart),
# then given up at once: redis-py 8 retries 10 times with backoff by default, which would hold
# a job for seconds on every call while Redis is down.
CACHE_RETRIES = 1


class RedisResultCache:
    """Give it a client with `decode_responses=False`: values are JSON bytes."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def get(self, key: str) -> bytes | None:
        try:
            value = self._client.get(key)
        except (redis.RedisError, OSError) as exc:
            log.warning("result cache unavailable, treating %s as a miss: %s", key, exc)
            return None
        return value if isinstance(value, bytes) else None

    def put(self, key: str, value: bytes, ttl_seconds: int) -> None:
        try:
            self._client.set(key, value, ex=ttl_seconds)
        except (redis.RedisError, OSError) as exc:
            log.warning("result cache unavailable, %s not stored: %s", key, exc)
