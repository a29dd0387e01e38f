"""schemathesis against the app's own OpenAPI document (issue 4, "Tests and evidence"): every
operation, authenticated with an API key, positive and negative data, in-process on the fakes
(tests/unit/api_support.py). Claims: no 5xx, every status is documented for its operation,
and every body matches the documented schema and content type of its status.

Derandomized (a fixed seed per operation) so a run is repeatable; a few hundred examples in
all, a few seconds. Rate limiting is off here (ApiDeps' default): it is not what this tests.
"""

from __future__ import annotations

import hypothesis
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.unit.api_support import ApiHarness

EXAMPLES_PER_OPERATION = 15

harness = ApiHarness()
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", harness.client.app)
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
    max_examples=EXAMPLES_PER_OPERATION,
    deterministic=True,
    # Our key is sent on every case; a generated Authorization header would only test 401.
    with_security_parameters=False,
)
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_api_conforms_to_its_openapi_document(case):
    case.call_and_validate(headers=harness.auth(harness.key_a), checks=CHECKS)
