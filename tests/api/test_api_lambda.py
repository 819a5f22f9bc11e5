"""The Lambda entrypoint, called the way API Gateway (HTTP API, payload format 2.0) calls it: the deployed
module as configured from the environment, against the embedded stack's emulator (its JWKS fetched over
HTTP from the running local API, as Cognito's would be), and an app on the in-memory collaborators with a
verifier in memory behind the same adapter."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
from mangum import Mangum
from mangum.types import ASGI, LambdaCognitoIdentity, LambdaMobileClientContext

from services.api.auth import JWKS_PATH, LocalIssuer
from shared.runtime.aws import Clients
from tests.support.app import in_memory_app
from tests.support.stack import RunningStack

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
#: the API's domain on AWS (API Gateway's own): the host it is configured to answer
APIGW_HOST = "abc123.execute-api.eu-west-1.amazonaws.com"


def apigw_v2_event(
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    query: str = "",
) -> dict[str, Any]:
    """An API Gateway HTTP API event (payload format 2.0), as AWS sends it to the function."""
    raw = json.dumps(body).encode() if body is not None else b""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "accept": "application/json",
            "host": APIGW_HOST,
            "user-agent": "test",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **({"content-type": "application/json"} if body is not None else {}),
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": APIGW_HOST,
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "test",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "10/Mar/2026:00:00:00 +0000",
            "timeEpoch": 1773100800000,
        },
        "body": base64.b64encode(raw).decode() if raw else None,
        "isBase64Encoded": bool(raw),
    }


class LambdaContext:
    """What the Lambda runtime passes as the handler's second argument."""

    function_name = "shoebox-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:shoebox-api"
    memory_limit_in_mb = 1024
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/shoebox-api"
    log_stream_name = "2026/03/10/[$LATEST]abcdef"
    identity: LambdaCognitoIdentity | None = None
    client_context: LambdaMobileClientContext | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def json_body(response: dict[str, Any]) -> Any:
    body = response["body"]
    return json.loads(base64.b64decode(body) if response.get("isBase64Encoded") else body)


@pytest.fixture
def event_loop_of_this_thread() -> Iterator[None]:
    """Lambda runs the handler on a thread with its own event loop; so does this test."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        loop.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def deployed_handler(
    embedded_stack: RunningStack, monkeypatch: pytest.MonkeyPatch, event_loop_of_this_thread: None
) -> Iterator[Handler]:
    """``services.api.lambda_function.handler`` imported as Lambda imports it, configured by the environment
    (the stack's emulator and prefix; the local issuer as the token issuer, its keys fetched over HTTP)."""
    for name, value in embedded_stack.settings.to_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SHOEBOX_AUTH_ISSUER", embedded_stack.issuer.issuer)
    monkeypatch.setenv("SHOEBOX_AUTH_AUDIENCE", embedded_stack.issuer.audience)
    monkeypatch.setenv("SHOEBOX_AUTH_JWKS_URL", f"{embedded_stack.api_url}{JWKS_PATH}")
    monkeypatch.setenv("SHOEBOX_API_ALLOWED_HOSTS", APIGW_HOST)  # the API's domain, as a deployment sets it
    sys.modules.pop("services.api.lambda_function", None)
    module = importlib.import_module("services.api.lambda_function")
    try:
        yield cast(Handler, module.handler)
    finally:
        sys.modules.pop("services.api.lambda_function", None)


class CountingClients(Clients):
    opened = 0

    async def __aenter__(self) -> Clients:
        CountingClients.opened += 1
        return await super().__aenter__()


@pytest.fixture
def count_clients(monkeypatch: pytest.MonkeyPatch) -> type[CountingClients]:
    CountingClients.opened = 0
    monkeypatch.setattr("services.api.wiring.Clients", CountingClients)
    return CountingClients


@pytest.mark.stack
def test_the_deployed_handler_answers_api_gateway_v2_events(
    embedded_stack: RunningStack, count_clients: type[CountingClients], deployed_handler: Handler
) -> None:
    context = LambdaContext()
    health = deployed_handler(apigw_v2_event("GET", "/health"), context)
    assert health["statusCode"] == 200 and json_body(health)["status"] == "ok"

    alice = embedded_stack.auth("alice")
    created = deployed_handler(
        apigw_v2_event("POST", "/v1/sessions", headers=alice, body={"context": "Lambda trip"}), context
    )
    assert created["statusCode"] == 201, created
    sid = json_body(created)["session_id"]

    status = deployed_handler(apigw_v2_event("GET", f"/v1/sessions/{sid}", headers=alice), context)
    assert status["statusCode"] == 200, status
    assert json_body(status)["context"] == "Lambda trip" and json_body(status)["files"] == []

    events = deployed_handler(
        apigw_v2_event("GET", f"/v1/sessions/{sid}/events", headers=alice, query="after=0&limit=10"), context
    )
    assert [e["type"] for e in json_body(events)["events"]] == ["shoebox.session.created.v2"]

    refused = deployed_handler(apigw_v2_event("GET", f"/v1/sessions/{sid}"), context)
    assert refused["statusCode"] == 401
    assert refused["headers"]["content-type"].startswith("application/problem+json")
    assert refused["headers"]["www-authenticate"].startswith("Bearer")
    assert "Lambda trip" not in json.dumps(refused)

    bobs = deployed_handler(
        apigw_v2_event("GET", f"/v1/sessions/{sid}", headers=embedded_stack.auth("bob")), context
    )
    assert bobs["statusCode"] == 404 and "Lambda trip" not in json.dumps(bobs)
    assert count_clients.opened == 1, "warm invocations reuse the first one's AWS clients"


def test_an_app_with_a_verifier_that_trusts_the_local_issuer_behind_the_adapter(
    issuer: LocalIssuer, event_loop_of_this_thread: None
) -> None:
    app, _ = in_memory_app(None, verifier=issuer.verifier(), hosts=(APIGW_HOST,))
    handler = Mangum(cast(ASGI, app), lifespan="auto")
    alice = {"Authorization": f"Bearer {issuer.issue('alice')}"}
    created = handler(
        apigw_v2_event("POST", "/v1/sessions", headers=alice, body={"context": "In memory"}), LambdaContext()
    )
    sid = json_body(created)["session_id"]
    status = handler(apigw_v2_event("GET", f"/v1/sessions/{sid}", headers=alice), LambdaContext())
    assert status["statusCode"] == 200 and json_body(status)["context"] == "In memory"
    expired = issuer.issue("alice", 60, now=0)
    refused = handler(
        apigw_v2_event("GET", f"/v1/sessions/{sid}", headers={"authorization": f"Bearer {expired}"}),
        LambdaContext(),
    )
    assert refused["statusCode"] == 401 and json_body(refused)["detail"] == "the token has expired"
    # the JWKS route exists only where a local issuer is served
    jwks = handler(apigw_v2_event("GET", JWKS_PATH), LambdaContext())
    assert jwks["statusCode"] == 404
    # on AWS the API answers its own domain only: a request for another host (a custom domain nobody
    # configured, a rebound name) is refused, and every answer says nosniff
    rebound = {**alice, "host": "evil.example"}
    elsewhere = handler(apigw_v2_event("GET", f"/v1/sessions/{sid}", headers=rebound), LambdaContext())
    assert elsewhere["statusCode"] == 400 and "In memory" not in json.dumps(elsewhere)
    assert status["headers"]["x-content-type-options"] == "nosniff"
