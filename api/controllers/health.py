"""Health probes: `live` says the process serves requests, `ready` that its backends answer.

They need no API key (load balancers and orchestrators call them) and say nothing about why a
check failed beyond its name: the reason is in the log.
"""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from api.errors import HttpProblem
from api.openapi import problem_responses
from api.readiness import Readiness
from api.schemas import HealthView


class HealthController(Controller):
    path = "/health"
    tags = ["health"]
    opt = {"exclude_from_auth": True}  # health probes carry no API key

    @get(
        "/live",
        operation_id="getLiveness",
        summary="Liveness probe",
        description="200 as long as the process serves HTTP; it checks no backend.",
    )
    async def live(self) -> HealthView:
        return HealthView(status="ok")

    @get(
        "/ready",
        operation_id="getReadiness",
        summary="Readiness probe",
        description="Checks the database, Redis and the broker, each within a time bound.",
        responses=problem_responses(
            {503: "NOT_READY: `checks` names the failing backends."}, rate_limited=False
        ),
    )
    async def ready(self, readiness: NamedDependency[Readiness]) -> HealthView:
        results = await readiness.run()
        checks = {name: "ok" if passed else "failed" for name, passed in sorted(results.items())}
        failing = [name for name, passed in checks.items() if passed != "ok"]
        if failing:
            raise HttpProblem(503, "NOT_READY", f"failing: {', '.join(failing)}", checks=checks)
        return HealthView(status="ok", checks=checks)
