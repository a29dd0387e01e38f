"""RedisResultCache against a real Redis server."""

from __future__ import annotations

import socket
import uuid

import pytest

from domain.adapters.container import redis_client
from domain.adapters.redis_cache import RedisResultCache

pytestmark = pytest.mark.integration


@pytest.fixture
def client(redis_url):
    client = redis_client(redis_url)
    yield client
    client.close()


def closed_port() -> int:
    """A local port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_stored_solution_comes_back_unchanged(client):
    cache = RedisResultCache(client)
    key = f"rota:test:{uuid.uuid4()}"
    body = b'{"status":"optimal","assignments":[]}'

    cache.put(key, body, ttl_seconds=60)

    assert cache.get(key) == body


def test_an_unknown_key_is_a_miss(client):
    assert RedisResultCache(client).get(f"rota:test:{uuid.uuid4()}") is None


def test_put_sets_the_ttl(client):
    cache = RedisResultCache(client)
    key = f"rota:test:{uuid.uuid4()}"

    cache.put(key, b"{}", ttl_seconds=3600)

    assert 0 < client.ttl(key) <= 3600


def test_a_cache_without_a_server_is_a_miss_and_put_does_nothing():
    down = redis_client(f"redis://127.0.0.1:{closed_port()}/0")
    cache = RedisResultCache(down)

    cache.put("rota:test:key", b"{}", ttl_seconds=60)  # must not raise

    assert cache.get("rota:test:key") is None
    down.close()
