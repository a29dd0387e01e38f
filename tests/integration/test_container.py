"""build_container: the wiring the API and the workers share, on real services."""

from __future__ import annotations

import datetime as dt
import socket

import pytest

from domain.adapters.container import build_container
from domain.settings import Settings

pytestmark = pytest.mark.integration


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readiness_passes_when_every_dependency_answers(postgres_url, redis_url):
    container = build_container(Settings(database_url=postgres_url, redis_url=redis_url))
    try:
        assert set(container.readiness) == {"database", "redis", "broker"}
        for check in container.readiness.values():
            check()  # raises if that dependency is unreachable
    finally:
        container.close()


def test_each_unreachable_dependency_fails_its_own_check():
    port = closed_port()
    down = f"redis://127.0.0.1:{port}/0"
    container = build_container(
        Settings(database_url=f"postgresql://postgres@127.0.0.1:{port}/none", redis_url=down)
    )
    try:
        for name, check in container.readiness.items():
            with pytest.raises(Exception):  # noqa: B017 - each client raises its own error type
                check()
            assert name in {"database", "redis", "broker"}
    finally:
        container.close()


def test_the_clock_is_aware_utc(postgres_url, redis_url):
    container = build_container(Settings(database_url=postgres_url, redis_url=redis_url))
    try:
        assert container.clock().utcoffset() == dt.timedelta(0)
    finally:
        container.close()
