"""GET /metrics: each tenant's MFA enrolment as Prometheus gauges, for allow-listed scrapers
only (issue 4)."""

from __future__ import annotations

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from domain.services.identity import NewUser, create_user
from domain.settings import Settings
from domain.tenancy import Role
from tests.unit.rate_limit_support import LimitedHarness

PASSWORD = "correct horse battery staple"


@pytest.fixture
def api():
    api = LimitedHarness(Settings(metrics_allow_networks=("10.1.0.0/16",)))
    people = [("a1", "tenant-a", Role.ADMIN, True), ("a2", "tenant-a", Role.ADMIN, False)]
    people += [("p1", "tenant-a", Role.PLANNER, True), ("p2", "tenant-a", Role.VIEWER, False)]
    people += [("b1", "tenant-b", Role.PLANNER, False)]
    for name, tenant, role, enrolled in people:
        user = create_user(
            NewUser(tenant, f"{name}@example.com", PASSWORD, role), api.uow_factory, api.clock
        )
        api.store.users[user.id] = msgspec.structs.replace(user, mfa_enabled=enrolled)
    with api:
        yield api


def scrape(api, peer: str):
    return api.client.get("/metrics", headers={"X-Test-Peer": peer})


def samples(text: str) -> dict[tuple[str, str], float]:
    return {
        (s.name, s.labels.get("tenant", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_an_allowed_scraper_reads_each_tenants_mfa_enrolment(api):
    response = scrape(api, "10.1.2.3")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    values = samples(response.text)
    assert values[("rota_users", "tenant-a")] == 4
    assert values[("rota_users_mfa_enrolled", "tenant-a")] == 2
    assert values[("rota_admins", "tenant-a")] == 2
    assert values[("rota_admins_mfa_enrolled", "tenant-a")] == 1
    assert values[("rota_mfa_enrollment_ratio", "tenant-a")] == 0.5
    assert values[("rota_mfa_enrollment_ratio", "tenant-b")] == 0.0


def test_anyone_else_gets_a_404_as_if_there_were_no_such_route(api):
    response = scrape(api, "198.51.100.7")

    assert response.status_code == 404
    assert "rota_users" not in response.text


def test_the_metrics_route_is_not_in_the_api_description(api):
    assert "/metrics" not in api.client.get("/schema/openapi.json").json()["paths"]
