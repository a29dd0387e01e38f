"""GET /metrics: Prometheus text exposition, for scrapers on allow-listed networks only.

The gauges are read from the database at scrape time (one grouped query), so every API process
gives the same answer and no multi-process registry is needed. Today: each tenant's MFA
enrolment (issue 4: "expose the enrolment rate as a metric"). Anyone outside
ROTA_METRICS_ALLOW_NETWORKS (default: loopback) gets a 404, as if the route did not exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from api.client_ip import client_ip, networks, parse_address, within
from api.deps import Deps
from domain.ports import UnitOfWorkFactory
from domain.services.mfa import enrollment_by_tenant


class MfaEnrollmentCollector(Collector):
    def __init__(self, uow_factory: UnitOfWorkFactory) -> None:
        self._uow_factory = uow_factory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = enrollment_by_tenant(self._uow_factory)
        families = {
            "users": GaugeMetricFamily(
                "rota_users", "People (not service keys) per tenant", labels=["tenant"]
            ),
            "enrolled": GaugeMetricFamily(
                "rota_users_mfa_enrolled", "People with MFA enrolled", labels=["tenant"]
            ),
            "admins": GaugeMetricFamily("rota_admins", "Admins per tenant", labels=["tenant"]),
            "admins_enrolled": GaugeMetricFamily(
                "rota_admins_mfa_enrolled", "Admins with MFA enrolled", labels=["tenant"]
            ),
            "ratio": GaugeMetricFamily(
                "rota_mfa_enrollment_ratio",
                "Share of a tenant's people with MFA enrolled (0 to 1)",
                labels=["tenant"],
            ),
        }
        for tenant, count in sorted(counts.items()):
            families["users"].add_metric([tenant], count.users)
            families["enrolled"].add_metric([tenant], count.enrolled)
            families["admins"].add_metric([tenant], count.admins)
            families["admins_enrolled"].add_metric([tenant], count.admins_enrolled)
            families["ratio"].add_metric([tenant], count.enrolled / count.users)
        yield from families.values()


class MetricsController(Controller):
    path = "/metrics"
    opt = {"exclude_from_auth": True}  # scrapers carry no API key: the network is the check
    include_in_schema = False

    @get("/", sync_to_thread=True)
    def metrics(self, request: Request[Any, Any, Any], deps: Deps) -> Response[bytes]:
        settings = deps.settings
        caller = parse_address(client_ip(request.scope, networks(settings.trusted_proxies)))
        if not within(caller, networks(settings.metrics_allow_networks)):
            raise NotFoundException()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(MfaEnrollmentCollector(deps.uow_factory))
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
