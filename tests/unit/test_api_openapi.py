"""The OpenAPI document: every route, each with an operation id, errors as problem+json."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator

import pytest

from tests.unit.api_support import ApiHarness

ROUTES = {
    ("/v1/jobs", "post"): "submitJob",
    ("/v1/jobs", "get"): "listJobs",
    ("/v1/jobs/{job_id}", "get"): "getJob",
    ("/v1/jobs/{job_id}/solution", "get"): "getJobSolution",
    ("/v1/jobs/{job_id}/assignments", "get"): "listJobAssignments",
    ("/v1/jobs/{job_id}/cancel", "post"): "cancelJob",
    ("/v1/webhooks", "post"): "createWebhook",
    ("/v1/webhooks", "get"): "listWebhooks",
    ("/v1/webhooks/{webhook_id}", "delete"): "deleteWebhook",
    ("/v1/webhooks/{webhook_id}/deliveries", "get"): "listWebhookDeliveries",
    ("/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", "post"): (
        "redeliverWebhookDelivery"
    ),
    ("/v1/auth/login", "post"): "login",
    ("/v1/auth/refresh", "post"): "refreshTokens",
    ("/v1/auth/logout", "post"): "logout",
    ("/v1/api-keys", "post"): "createApiKey",
    ("/v1/api-keys", "get"): "listApiKeys",
    ("/v1/api-keys/{key_id}", "delete"): "revokeApiKey",
    ("/v1/audit-events", "get"): "listAuditEvents",
    ("/v1/auth/mfa/totp/setup", "post"): "setupTotp",
    ("/v1/auth/mfa/totp/confirm", "post"): "confirmTotp",
    ("/v1/auth/mfa/verify", "post"): "verifyMfa",
    ("/v1/auth/mfa/email", "post"): "sendMfaEmail",
    ("/v1/auth/mfa/backup-codes", "post"): "regenerateBackupCodes",
    ("/v1/auth/mfa", "delete"): "disableMfa",
    ("/v1/auth/mfa/enrollment", "get"): "mfaEnrollment",
    ("/health/live", "get"): "getLiveness",
    ("/health/ready", "get"): "getReadiness",
}


@pytest.fixture
def api() -> Iterator[ApiHarness]:
    with ApiHarness() as harness:
        yield harness


@pytest.fixture
def document(api) -> dict:
    response = api.client.get("/schema/openapi.json")  # no API key needed
    assert response.status_code == 200
    return response.json()


def operations(document: dict) -> dict[tuple[str, str], dict]:
    return {
        (path, method): op
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_the_document_lists_every_route_with_its_operation_id(document):
    found = {key: op.get("operationId") for key, op in operations(document).items()}

    assert found == ROUTES


def test_every_route_of_the_app_is_in_the_document(api, document):
    documented = {path for path, _ in operations(document)}
    served = {
        route.path_format or "/"
        for route in api.client.app.routes
        # /metrics is the operators' scrape endpoint (README), not part of the client API.
        if not route.path.startswith("/schema") and route.path != "/metrics"
    }

    assert served == documented


def test_the_document_is_titled_rota_with_the_package_version(document):
    assert document["info"]["title"] == "Rota"
    assert document["info"]["version"] == importlib.metadata.version("rota")


def is_login_route(path: str) -> bool:
    # /v1/auth/... is how a caller gets a token: these routes need none.
    return path.startswith("/v1/auth/")


def test_job_routes_require_the_api_key_and_health_routes_do_not(document):
    for (path, _), op in operations(document).items():
        if path.startswith("/v1/") and not is_login_route(path):
            assert op["security"] == [{"apiKey": []}], path
        else:
            assert "security" not in op, path
    scheme = document["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_error_responses_are_declared_as_problem_documents(document):
    for key, op in operations(document).items():
        errors = {status: r for status, r in op["responses"].items() if int(status) >= 400}
        if key[0].startswith("/v1/") and not is_login_route(key[0]):
            assert {"401", "500"} <= errors.keys(), key
        for status, response in errors.items():
            schema = response["content"]["application/problem+json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ProblemDetails"}, (key, status)


def test_submit_documents_the_problem_body_and_its_errors(document):
    op = operations(document)[("/v1/jobs", "post")]

    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert {"horizon", "shift_types", "employees"} <= set(schema["required"])
    assert "$ref" not in str(schema)  # self-contained: no dangling msgspec references
    assert {"202", "401", "413", "415", "422"} <= op["responses"].keys()


def test_interactive_docs_are_served_under_schema(api):
    response = api.client.get("/schema")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
