"""The GCRA script on a real Redis (domain/adapters/rate_limit_redis.py): counts, all-or-none
charging, shared by several clients (as several API processes), keys that expire, and
ConnectionError when Redis is away."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from domain.adapters.rate_limit_redis import (
    KEY_PREFIX,
    MAX_ASYNC_CONNECTIONS,
    RedisRateLimitStore,
)


@pytest.fixture
def store(redis_url: str):
    store = RedisRateLimitStore.from_url(redis_url)
    yield store
    store.close()


def key() -> str:
    return f"test:{uuid.uuid4().hex}"


def test_admits_the_limit_then_refuses_with_retry_after(store):
    k = key()
    hits = [store.hit([(k, 5, 60)])[0] for _ in range(6)]
    assert [h.admitted for h in hits] == [True] * 5 + [False]
    assert [h.remaining for h in hits[:5]] == [4, 3, 2, 1, 0]
    assert 1 <= hits[-1].retry_after_seconds <= 12  # one slot of 60/5 seconds
    assert 1 <= hits[-1].reset_seconds <= 60


def test_a_refusal_charges_none_of_the_counters(store):
    wide, narrow = key(), key()
    assert store.hit([(wide, 100, 60), (narrow, 1, 60)])[1].admitted
    refused = store.hit([(wide, 100, 60), (narrow, 1, 60)])
    assert [h.admitted for h in refused] == [True, False]
    assert store.hit([(wide, 100, 60)])[0].remaining == 98  # only the first request counted


def test_counters_are_shared_by_processes_and_exact_under_concurrency(store, redis_url):
    k = key()
    stores = [RedisRateLimitStore.from_url(redis_url) for _ in range(4)]
    try:
        with ThreadPoolExecutor(8) as pool:
            hits = list(pool.map(lambda i: stores[i % 4].hit([(k, 20, 60)])[0], range(50)))
    finally:
        for s in stores:
            s.close()
    assert sum(h.admitted for h in hits) == 20


def test_keys_expire_once_the_window_has_passed(store, redis_url):
    k = key()
    store.hit([(k, 10, 60)])
    ttl_ms = redis.Redis.from_url(redis_url).pttl(KEY_PREFIX + k)
    assert 0 < ttl_ms <= 6000  # one emission interval: 60 s / 10


def test_an_unreachable_redis_raises_connection_error():
    # Port 1 on localhost: nothing listens, the connection is refused at once.
    store = RedisRateLimitStore.from_url("redis://127.0.0.1:1/0")
    with pytest.raises(ConnectionError):
        store.hit([(key(), 5, 60)])


def test_the_event_loop_path_charges_the_same_counters_exactly(store):
    k = key()

    async def burst() -> list:
        return await asyncio.gather(*(store.hit_async([(k, 20, 60)]) for _ in range(50)))

    hits = [h[0] for h in asyncio.run(burst())]
    assert sum(h.admitted for h in hits) == 20
    # The blocking path (auth handlers) sees the same counter: it is full.
    assert not store.hit([(k, 20, 60)])[0].admitted


def test_the_event_loop_path_works_again_in_a_new_loop(store):
    # Each test client (and each uvicorn worker) runs its own loop; a client whose
    # connections belong to an ended loop must not be reused.
    k = key()
    first = asyncio.run(store.hit_async([(k, 5, 60)]))[0]
    second = asyncio.run(store.hit_async([(k, 5, 60)]))[0]
    assert (first.remaining, second.remaining) == (4, 3)


def test_the_event_loop_path_raises_connection_error_when_redis_is_away():
    store = RedisRateLimitStore.from_url("redis://127.0.0.1:1/0")

    async def attempt() -> None:
        try:
            await store.hit_async([(key(), 5, 60)])
        finally:
            await store.aclose()

    with pytest.raises(ConnectionError):
        asyncio.run(attempt())


def test_a_burst_beyond_the_connection_cap_waits_for_connections_and_is_charged_exactly(store):
    # More requests at once than the loop's client holds connections: they queue for one
    # instead of being served uncharged (or refused, on auth routes) as if Redis were down.
    k = key()

    async def burst() -> list:
        return await asyncio.gather(
            *(store.hit_async([(k, 100, 60)]) for _ in range(3 * MAX_ASYNC_CONNECTIONS))
        )

    hits = [h[0] for h in asyncio.run(burst())]
    assert sum(h.admitted for h in hits) == 100
    assert len(hits) == 3 * MAX_ASYNC_CONNECTIONS
