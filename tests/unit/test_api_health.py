"""Health probes: live always, ready only when every backend check passes in time."""

from __future__ import annotations

import threading

from tests.unit.api_support import ApiHarness, assert_problem


def ok() -> None:
    pass


def broken() -> None:
    raise ConnectionError("redis://10.0.0.7:6379 refused")


def test_live_answers_ok_without_an_api_key():
    with ApiHarness() as api:
        response = api.client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {}}


def test_ready_answers_ok_with_every_check_named():
    with ApiHarness(readiness={"database": ok, "redis": ok, "broker": ok}) as api:
        response = api.client.get("/health/ready")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"broker": "ok", "database": "ok", "redis": "ok"},
    }


def test_ready_is_503_not_ready_naming_a_failing_check_without_its_error_text():
    with ApiHarness(readiness={"database": ok, "redis": broken}) as api:
        response = api.client.get("/health/ready")

    body = assert_problem(response, 503, "NOT_READY")
    assert body["checks"] == {"database": "ok", "redis": "failed"}
    assert "redis" in body["detail"]
    assert "10.0.0.7" not in response.text
    assert "ConnectionError" not in response.text


def test_ready_is_503_when_a_check_hangs_past_its_time_bound():
    release = threading.Event()

    def hangs() -> None:
        release.wait(5)

    try:
        with ApiHarness(
            readiness={"database": hangs, "redis": ok}, readiness_timeout_seconds=0.2
        ) as api:
            response = api.client.get("/health/ready")
    finally:
        release.set()  # let the abandoned thread end

    body = assert_problem(response, 503, "NOT_READY")
    assert body["checks"] == {"database": "failed", "redis": "ok"}
