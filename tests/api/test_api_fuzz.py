"""schemathesis against the API's own OpenAPI document, in process on the in-memory collaborators: no
input the schema allows (or nearly allows) makes the API answer 5xx, with a valid token and without one."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from services.api.auth import LocalIssuer
from tests.support.app import in_memory_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(issuer: LocalIssuer) -> schemathesis.BaseSchema:
    app, _ = in_memory_app(issuer, hosts=(schemathesis.python.asgi.HOST,))  # the host its client sends
    return schemathesis.openapi.from_asgi("/schema/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail_with_a_5xx(case: schemathesis.Case, issuer: LocalIssuer) -> None:
    for headers in ({"Authorization": f"Bearer {issuer.issue('fuzzer')}"}, {}):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
