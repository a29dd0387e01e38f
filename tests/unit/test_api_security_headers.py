"""Security headers on every response (api/headers.py) and CORS (api/cors.py)."""

from __future__ import annotations

import pytest

from api.headers import API_CSP, DOCS_CSP, SWAGGER_CSP
from domain.settings import Settings
from tests.unit.api_support import ApiHarness

EXPECTED = {
    "strict-transport-security": "max-age=31536000; includeSubDomains; preload",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
APP = "https://app.example"


@pytest.fixture(scope="module")
def api():
    with ApiHarness(settings=Settings(cors_origins=(APP,))) as harness:
        yield harness


@pytest.mark.parametrize(
    ("method", "path", "authenticated", "status"),
    [
        ("GET", "/v1/jobs", True, 200),
        ("GET", "/v1/jobs", False, 401),
        ("GET", "/v1/jobs/nope", True, 404),
        ("GET", "/no/such/route", False, 404),
        ("DELETE", "/v1/jobs", True, 405),
        ("POST", "/v1/jobs", True, 415),
        ("GET", "/health/live", False, 200),
        ("GET", "/schema/openapi.json", False, 200),
    ],
)
def test_every_response_carries_the_security_headers(api, method, path, authenticated, status):
    headers = api.auth(api.key_a) if authenticated else {}
    response = api.client.request(method, path, headers=headers)
    assert response.status_code == status
    for name, value in EXPECTED.items():
        assert response.headers[name] == value
    assert "camera=()" in response.headers["permissions-policy"]
    assert response.headers["content-security-policy"] == API_CSP
    assert "server" not in response.headers


def test_a_500_carries_them_too(api):
    def broken(*, read_only: bool = False):
        raise RuntimeError("boom")

    with api.with_deps(uow_factory=broken) as client:
        response = client.get("/v1/jobs", headers=api.auth(api.key_a))
    assert response.status_code == 500  # authentication's key lookup fails
    for name, value in EXPECTED.items():
        assert response.headers[name] == value


def test_the_docs_pages_get_their_own_policy(api):
    scalar = api.client.get("/schema")
    swagger = api.client.get("/schema/swagger")
    assert scalar.headers["content-security-policy"] == DOCS_CSP
    assert swagger.headers["content-security-policy"] == SWAGGER_CSP
    # Exactly the CDN the pages load from, and nothing inline for Scalar.
    assert "https://cdn.jsdelivr.net/npm/@scalar/api-reference" in scalar.text
    assert "script-src https://cdn.jsdelivr.net;" in DOCS_CSP
    assert "frame-ancestors 'none'" in DOCS_CSP


def test_a_preflight_from_an_allowed_origin_is_answered(api):
    response = api.client.options(
        "/v1/jobs",
        headers={
            "Origin": APP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == APP
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in response.headers


def test_a_preflight_from_another_origin_gets_no_cors_headers(api):
    response = api.client.options(
        "/v1/jobs",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 400  # Litestar's own plain-text refusal
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_simple_request_from_an_allowed_origin_may_read_the_headers(api):
    response = api.get("/v1/jobs", headers={"Origin": APP})
    assert response.headers["access-control-allow-origin"] == APP
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    other = api.get("/v1/jobs", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_no_origins_configured_means_no_cors():
    with ApiHarness() as api:
        response = api.get("/v1/jobs", headers={"Origin": APP})
    assert "access-control-allow-origin" not in response.headers
