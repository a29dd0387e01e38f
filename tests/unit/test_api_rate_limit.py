"""Rate limits through the HTTP API (api/rate_limit.py) on a fake store: the policies, the
429 and 503 answers, the RateLimit-* headers, and X-Forwarded-For spoofing."""

from __future__ import annotations

import asyncio
import logging

import pytest

from api.rate_limit import RateLimiter
from domain.settings import Settings
from tests.unit.api_support import assert_problem
from tests.unit.rate_limit_support import LimitedHarness

RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


@pytest.fixture
def api():
    with LimitedHarness() as harness:
        yield harness


def small(**changes) -> Settings:
    return Settings(**{"rate_limit_api": (3, 60), "rate_limit_submit": (2, 60), **changes})


def test_successful_responses_carry_the_rate_limit_headers(api):
    response = api.get("/v1/jobs")
    assert response.status_code == 200
    assert response.headers["ratelimit-limit"] == "100"
    assert response.headers["ratelimit-remaining"] == "99"
    assert int(response.headers["ratelimit-reset"]) >= 1


def test_error_responses_of_limited_routes_carry_them_too(api):
    response = api.get("/v1/jobs/not-a-job")
    assert response.status_code == 404
    assert all(h in response.headers for h in RATE_HEADERS)


def test_the_api_limit_refuses_with_429_and_retry_after():
    with LimitedHarness(small()) as api:
        remaining = [api.get("/v1/jobs").headers["ratelimit-remaining"] for _ in range(3)]
        refused = api.get("/v1/jobs")
    assert remaining == ["2", "1", "0"]
    assert_problem(refused, 429, "RATE_LIMITED")
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-limit"] == "3"


def test_the_window_slides_open_again():
    with LimitedHarness(small()) as api:
        for _ in range(3):
            api.get("/v1/jobs")
        assert api.get("/v1/jobs").status_code == 429
        api.limits.advance(20)  # one slot of 60/3 seconds
        assert api.get("/v1/jobs").status_code == 200
        assert api.get("/v1/jobs").status_code == 429


def test_each_principal_has_its_own_counter():
    with LimitedHarness(small()) as api:
        for _ in range(3):
            api.get("/v1/jobs")
        assert api.get("/v1/jobs").status_code == 429
        assert api.get("/v1/jobs", key=api.key_b).status_code == 200


def test_submissions_are_limited_per_tenant_on_top_of_the_api_limit():
    with LimitedHarness(small(rate_limit_api=(100, 60))) as api:
        statuses = [api.submit().status_code for _ in range(3)]
        reads = api.get("/v1/jobs")
    assert statuses == [202, 202, 429]
    assert reads.status_code == 200  # the refused submission charged nothing else


def test_a_refused_submission_reports_the_tenant_counter():
    with LimitedHarness(small(rate_limit_api=(100, 60))) as api:
        api.submit()
        first = api.submit()
        refused = api.submit()
    assert first.headers["ratelimit-limit"] == "2"  # the tighter of 100 and 2
    assert_problem(refused, 429, "RATE_LIMITED")


def test_unauthenticated_routes_are_not_limited(api):
    for _ in range(3):
        assert "ratelimit-limit" not in api.client.get("/health/live").headers
    assert api.limits.calls == []


def test_allow_listed_networks_are_never_limited():
    settings = small(rate_limit_allow_networks=("192.0.2.0/24",))
    with LimitedHarness(settings) as api:
        responses = [api.get("/v1/jobs", headers={"X-Test-Peer": "192.0.2.10"}) for _ in range(5)]
    assert {r.status_code for r in responses} == {200}
    assert "ratelimit-limit" not in responses[0].headers


def test_without_the_store_api_routes_are_served_and_a_warning_logged(api, caplog):
    api.limits.down = True
    with caplog.at_level(logging.WARNING, logger="api.rate_limit"):
        responses = [api.get("/v1/jobs") for _ in range(3)]
    assert {r.status_code for r in responses} == {200}
    warnings = [r for r in caplog.records if "rate limiter unavailable" in r.getMessage()]
    assert len(warnings) == 1  # once per interval, not once per request


# --- auth routes ------------------------------------------------------------------------------


def test_auth_routes_are_limited_per_client_ip():
    with LimitedHarness() as api:
        statuses = [api.login(f"u{i}@example.com").status_code for i in range(6)]
        other_ip = api.login("u9@example.com", peer="198.51.100.2")
    assert statuses == [200] * 5 + [429]
    assert other_ip.status_code == 200


def test_auth_routes_are_limited_per_account_across_ips():
    with LimitedHarness() as api:
        responses = [api.login("Victim@Example.com", peer=f"198.51.100.{i}") for i in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    body = assert_problem(responses[-1], 429, "RATE_LIMITED")
    assert "retry-after" in responses[-1].headers
    assert body["detail"].startswith("too many requests")


def test_the_account_key_is_case_insensitive_and_holds_no_address():
    with LimitedHarness() as api:
        api.login("Victim@Example.com")
        api.login("victim@example.com", peer="198.51.100.9")
    account_keys = {k for call in api.limits.calls for k in call if k.startswith("auth:account")}
    assert len(account_keys) == 1
    assert "example" not in next(iter(account_keys))


def test_auth_routes_fail_closed_without_the_store():
    with LimitedHarness() as api:
        api.limits.down = True
        response = api.login()
    assert_problem(response, 503, "RATE_LIMITER_UNAVAILABLE")
    assert int(response.headers["retry-after"]) >= 1


def test_a_rotating_spoofed_forwarded_for_does_not_escape_the_limit():
    # The peer is not a trusted proxy: its X-Forwarded-For is ignored.
    with LimitedHarness() as api:
        statuses = [
            api.login(f"u{i}@example.com", **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
            for i in range(6)
        ]
    assert statuses == [200] * 5 + [429]


def test_behind_a_trusted_proxy_only_the_hop_it_saw_counts():
    settings = Settings(trusted_proxies=("10.0.0.0/8",))
    with LimitedHarness(settings) as api:
        # The client 198.51.100.7 rotates what it writes; the proxy appends the real address.
        statuses = [
            api.login(
                f"u{i}@example.com",
                peer="10.0.0.2",
                **{"X-Forwarded-For": f"203.0.113.{i}, 198.51.100.7"},
            ).status_code
            for i in range(6)
        ]
        another_client = api.login(
            "z@example.com", peer="10.0.0.2", **{"X-Forwarded-For": "198.51.100.8"}
        )
    assert statuses == [200] * 5 + [429]
    assert another_client.status_code == 200


def test_apideps_without_a_limiter_admit_everything():
    limiter = RateLimiter.disabled()
    assert not limiter.enabled
    assert limiter.hit_account("a@example.com") is None
    assert asyncio.run(limiter.check_request({"path": "/v1/jobs", "method": "GET"})) is None


def test_a_429_is_still_a_response_with_the_security_headers():
    with LimitedHarness(small()) as api:
        for _ in range(3):
            api.get("/v1/jobs")
        refused = api.get("/v1/jobs")
    assert refused.status_code == 429
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert refused.headers["x-request-id"]


def test_the_limiter_charges_on_the_event_loop_and_closes_its_connections_at_shutdown():
    with LimitedHarness(small()) as api:
        assert api.get("/v1/jobs").status_code == 200
        assert api.limits.async_calls == 1  # awaited, not run in a worker thread
        assert not api.limits.closed_async
    assert api.limits.closed_async
