"""The API as `rota dev up` starts it (devstack.api_argv: a real uvicorn process) on the real
PostgreSQL and Redis: no `Server` banner, the security headers, and the Redis rate limiter
wired in by the container."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from domain.adapters.container import utc_now
from domain.adapters.db.uow import sql_uow_factory
from domain.cli import devstack
from domain.services.tenants import create_api_key, create_tenant
from tests.integration.webhook_receiver import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def api_url(postgres_url: str, redis_url: str, tmp_path_factory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("api-process")
    stack = devstack.DevStack(
        data_dir=data_dir,
        database_url=postgres_url,
        redis_url=redis_url,
        broker_url=redis_url,
        embedded_redis=None,
        api_host="127.0.0.1",
        api_port=free_port(),
        flower_port=free_port(),
        flower_auth="rota:not-used-here-123",
        flower_auth_generated=False,
    )
    env = {**devstack.child_env(stack, os.environ), "ROTA_RATE_LIMIT_API": "7/minute"}
    with (data_dir / "api.log").open("wb") as log:
        process = subprocess.Popen(
            devstack.api_argv(stack), env=env, cwd=ROOT, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (data_dir / "api.log").read_text()
            try:
                httpx.get(f"{stack.api_url}/health/live", timeout=1.0)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the API did not start"
                time.sleep(0.2)
        yield stack.api_url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def api_key(db_engine) -> str:
    uow = sql_uow_factory(db_engine)
    name = f"process-{uuid.uuid4().hex[:8]}"
    create_tenant(name, uow, utc_now)
    return create_api_key(name, uow, utc_now).secret


def test_no_server_banner_and_the_security_headers(api_url):
    for path in ("/health/live", "/no/such/route"):
        response = httpx.get(api_url + path)
        assert "server" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_the_redis_limiter_counts_requests_of_a_key(api_url, api_key):
    auth = {"Authorization": f"Bearer {api_key}"}
    remaining = [httpx.get(f"{api_url}/v1/jobs", headers=auth) for _ in range(8)]
    assert [r.headers.get("ratelimit-remaining") for r in remaining[:7]] == [
        "6", "5", "4", "3", "2", "1", "0"
    ]  # fmt: skip
    assert remaining[7].status_code == 429
    assert remaining[7].headers["content-type"].startswith("application/problem+json")


def test_a_rotating_spoofed_forwarded_for_does_not_escape_the_login_limit(api_url):
    # uvicorn runs with --no-proxy-headers and no proxy is trusted, so every request below
    # counts against 127.0.0.1 whatever it claims; the e-mails differ, so only the IP binds.
    statuses = [
        httpx.post(
            f"{api_url}/v1/auth/login",
            json={"email": f"nobody{i}@example.com", "password": "not the password"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        ).status_code
        for i in range(6)
    ]
    assert statuses[:5] == [401] * 5
    assert statuses[5] == 429
