"""The OpenAPI document: title, version, security scheme and the pieces handlers declare.

Litestar documents what it decodes itself. `POST /v1/jobs` reads the raw body instead (so
that `decode_problem` reports every issue, and a 20 MB body is decoded once, in a worker
thread), so its request body schema is added here from msgspec's JSON schema of `Problem`.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, Operation, SecurityScheme

from api.errors import PROBLEM_JSON
from api.schemas import ProblemDetails
from domain.problem import Problem

SECURITY_SCHEME = "apiKey"
API_KEY_SECURITY: list[dict[str, list[str]]] = [{SECURITY_SCHEME: []}]


def package_version() -> str:
    try:
        return importlib.metadata.version("rota")
    except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
        return "0.0.0"


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Rota",
        version=package_version(),
        description="Staff rosters built by a CP-SAT solver, as asynchronous jobs.",
        path="/schema",
        # Scalar at /schema (the first plugin serves the root), Swagger UI at /schema/swagger.
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin()],
        components=Components(
            security_schemes={
                SECURITY_SCHEME: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="An access token from `POST /v1/auth/login` or an API key "
                    "(`rota_...`): `Authorization: Bearer <token>`.",
                )
            }
        ),
    )


# Every route whose JSON body Litestar decodes into a Struct (api/errors.py maps its refusal).
BODY_INVALID = {
    422: "VALIDATION_FAILED: well-formed JSON that breaks the body's schema (an unknown field, "
    "a wrong type, a missing field); `errors` names each as `body.<field>`."
}


# Every route behind the rate limiter (all but the health probes) may answer this.
RATE_LIMITED = (
    "RATE_LIMITED: more requests than this principal's (or, for submissions, this tenant's) "
    "limit; Retry-After and RateLimit-* say when to try again."
)


def problem_responses(
    descriptions: dict[int, str], *, rate_limited: bool = True
) -> dict[int, ResponseSpec]:
    """The error responses of a handler, each a problem document; descriptions name codes.
    `rate_limited` adds the 429 of the rate limiter unless the route names its own."""
    if rate_limited and 429 not in descriptions:
        descriptions = {**descriptions, 429: RATE_LIMITED}
    return {
        status: ResponseSpec(
            data_container=ProblemDetails,
            description=text,
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status, text in descriptions.items()
    }


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """msgspec's schema with its `#/$defs/...` references replaced by their targets (the
    problem types are not recursive), so it can sit inside an OpenAPI operation."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items() if k != "$defs"}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def _problem_schema() -> dict[str, Any]:
    schema = msgspec.json.schema(Problem)
    return _inline(schema, schema.get("$defs", {}))


_PROBLEM_BODY = {
    "description": "The scheduling problem (DESIGN.md section 3).",
    "required": True,
    "content": {"application/json": {"schema": _problem_schema()}},
}


@dataclass
class ProblemBodyOperation(Operation):
    """An operation whose request body is a Problem, read raw by its handler."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        schema["requestBody"] = _PROBLEM_BODY
        return schema
