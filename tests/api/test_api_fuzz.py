"""schemathesis against the API's own OpenAPI document, on the embedded stack: no input the schema allows
(or nearly allows) makes the API answer 5xx, with a valid token and without one."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.support.stack import RunningStack

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture(scope="module")
def api_schema(embedded_stack: RunningStack) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{embedded_stack.api_url}/schema/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_api_fail_with_a_5xx(
    case: schemathesis.Case, embedded_stack: RunningStack
) -> None:
    for headers in (embedded_stack.auth("fuzzer"), {}):
        response = case.call(headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
