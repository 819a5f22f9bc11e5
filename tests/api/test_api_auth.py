"""Every route of the API, found by walking the app's route handlers (a new route is covered without editing
this file, or the test says what it needs): without a valid token it answers 401 with a problem document and
no data; another user's session answers 404 exactly as a session that does not exist; the owner gets 2xx."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute

from services.api.app import BEARER, PUBLIC, create_app
from services.api.auth import JWKS_PATH, LocalIssuer
from shared.runtime.config import Settings
from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

ALICE, BOB = "alice", "bob"
CONTEXT = "Alice's secret trip to Lisbon"
PHOTO_NAME = "DSCN0010.jpg"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}

#: a body each route that takes one accepts from the session's owner; a new such route needs one here
SAMPLE_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/v1/sessions"): {"context": "Another trip"},
    ("POST", "/v1/sessions/{session_id}/uploads"): {
        "name": "b.jpg",
        "content_type": "image/jpeg",
        "size": 10,
    },
    ("POST", "/v1/sessions/{session_id}/triage"): {"expected": 1},
    ("POST", "/v1/sessions/{session_id}/triage/{job_id}/finalize"): {"uploaded": 1},
    ("POST", "/v1/sessions/{session_id}/triage/{job_id}/retry"): {},
    ("POST", "/v1/sessions/{session_id}/triage/{job_id}/confirm"): {"delete_keys": []},
    ("POST", "/v1/sessions/{session_id}/multipart"): {
        "name": "big.mp4",
        "content_type": "video/mp4",
        "size": 12 * 1024 * 1024,
    },
    ("POST", "/v1/sessions/{session_id}/multipart/{upload_id}/complete"): {
        "key": "uploads/elsewhere/big.mp4",
        "parts": [{"part_number": 1, "etag": "x"}],
    },
}
#: query parameters a route needs: the event stream ends after a second (else it lasts ten minutes)
SAMPLE_QUERIES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/v1/sessions/{session_id}/events/stream"): {"max_seconds": 1},
    ("DELETE", "/v1/sessions/{session_id}/multipart/{upload_id}"): {"key": "uploads/elsewhere/big.mp4"},
}
#: what the owner gets where it is not the route's success status: a completed triage cannot be retried
#: the walk makes no multipart upload: the owner gets past the ownership check to the key check (a key of
#: another session: 400), where another user gets 404
OWNER_STATUS: dict[tuple[str, str], int] = {
    ("POST", "/v1/sessions/{session_id}/triage/{job_id}/retry"): 409,
    ("POST", "/v1/sessions/{session_id}/multipart/{upload_id}/complete"): 400,
    ("DELETE", "/v1/sessions/{session_id}/multipart/{upload_id}"): 400,
}
#: routes that destroy the session's content run on a session of their own
DESTRUCTIVE = {("DELETE", "/v1/sessions/{session_id}/artifacts")}


@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str  # as in the OpenAPI document: /v1/sessions/{session_id}
    status_code: int  # what the owner gets

    @property
    def session_scoped(self) -> bool:
        return "{session_id}" in self.path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def protected_routes() -> list[Route]:
    """Every (method, path) of the app that is not public, from the app's own route handlers."""
    app = create_app(Settings(), issuer=LocalIssuer.generate())  # the same routes as the running stack's
    routes = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            assert isinstance(handler, HTTPRouteHandler)
            if handler.opt.get(PUBLIC):
                continue
            for method in sorted(handler.http_methods - {"OPTIONS"}):
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
                routes.append(Route(method, path, handler.status_code))
    return sorted(routes, key=str)


ROUTES = protected_routes()


def test_the_routes_walked_are_the_apis_routes() -> None:
    assert {str(r) for r in ROUTES} >= {
        "POST /v1/sessions",
        "POST /v1/sessions/{session_id}/uploads",
        "GET /v1/sessions/{session_id}",
        "GET /v1/sessions/{session_id}/files/{name}/thumbnail",
        "GET /v1/sessions/{session_id}/events",
    }


@dataclasses.dataclass(frozen=True)
class Owned:
    session_id: str
    name: str
    job_id: str


@pytest.fixture(scope="module")
def owned(embedded_stack: RunningStack) -> Owned:
    """Alice's session with one processed photo (so even its thumbnail route has something to show)."""
    api, auth = embedded_stack.api_url, embedded_stack.auth(ALICE)
    sid = new_session(api, CONTEXT, headers=auth)
    upload(api, sid, PHOTO_NAME, (TESTDATA / "photos" / "gps" / PHOTO_NAME).read_bytes(), headers=auth)

    def thumbnail_ready() -> bool:
        files = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()["files"]
        return bool(files and files[0].get("thumbnail_url"))

    eventually(thumbnail_ready, timeout_s=60, what="the photo's thumbnail")
    job = httpx.post(f"{api}/v1/sessions/{sid}/triage", json={"expected": 1}, headers=auth).json()["job_id"]

    def triaged() -> bool:
        r = httpx.get(f"{api}/v1/sessions/{sid}/triage/{job}", headers=auth)
        return r.json().get("status") == "complete"

    eventually(triaged, timeout_s=90, what="the triage verdicts")
    return Owned(sid, PHOTO_NAME, job)


def call(
    api: str, route: Route, owned: Owned, headers: dict[str, str], *, session_id: str | None = None
) -> httpx.Response:
    values = {
        "session_id": session_id or owned.session_id,
        "name": owned.name,
        "job_id": owned.job_id,
        "upload_id": "no-such-upload",
    }
    unknown = set(re.findall(r"\{(\w+)\}", route.path)) - set(values)
    assert not unknown, f"{route}: teach this test a value for {unknown}"
    url = api + route.path.format(**values)
    body = SAMPLE_BODIES.get((route.method, route.path))
    if route.method in ("POST", "PUT", "PATCH"):
        assert body is not None, f"{route}: add a sample body to SAMPLE_BODIES"
    params = SAMPLE_QUERIES.get((route.method, route.path))
    return httpx.request(route.method, url, json=body, params=params, headers=headers)


def assert_no_data(r: httpx.Response, status: int) -> dict[str, Any]:
    """A problem document and nothing else: no session, file, URL or event in it."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = r.json()
    assert set(problem) <= PROBLEM_FIELDS and problem["status"] == status
    assert problem["instance"] == r.request.url.path  # the caller's own path, echoed
    said = json.dumps({k: v for k, v in problem.items() if k != "instance"})
    for leak in (CONTEXT, "counters", "files", "events", "X-Amz", "sha256", "thumbnail"):
        assert leak not in said, (leak, r.text)
    return problem


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bad_credentials(stack: RunningStack) -> dict[str, dict[str, str]]:
    """Requests that must all be refused with 401, by what is wrong with them."""
    issuer = stack.issuer
    now = time.time()
    impostor_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(  # another key, claiming the stack issuer's key id
        {"iss": issuer.issuer, "aud": issuer.audience, "sub": ALICE, "iat": int(now), "exp": int(now) + 600},
        impostor_key,
        algorithm="RS256",
        headers={"kid": issuer.kid},
    )
    return {
        "no token": {},
        "expired": bearer(issuer.issue(ALICE, 60, now=now - 3600)),
        "another issuer's key": bearer(LocalIssuer.generate().issue(ALICE)),
        "forged with the issuer's kid": bearer(forged),
        "wrong audience": bearer(issuer.issue(ALICE, audience="another-app")),
        "wrong issuer": bearer(issuer.issue(ALICE, extra={"iss": "https://evil.example"})),
        "not a JWT": bearer("not-a-jwt"),
        "not bearer": {"Authorization": f"Basic {issuer.issue(ALICE)}"},
    }


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_every_route_refuses_a_missing_or_bad_token_with_401_and_no_data(
    embedded_stack: RunningStack, owned: Owned, route: Route
) -> None:
    for what, headers in bad_credentials(embedded_stack).items():
        r = call(embedded_stack.api_url, route, owned, headers)
        problem = assert_no_data(r, 401)
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith("Bearer "), (what, challenge)
        if what == "no token":
            assert "error=" not in challenge  # RFC 6750 §3.1: no error code when no credentials were sent
        else:
            assert 'error="invalid_token"' in challenge, (what, challenge)
        assert problem["title"] == "Unauthorized", what


@pytest.mark.parametrize("route", [r for r in ROUTES if r.session_scoped], ids=str)
def test_another_users_session_is_not_found_on_every_session_route(
    embedded_stack: RunningStack, owned: Owned, route: Route
) -> None:
    api = embedded_stack.api_url
    foreign = call(api, route, owned, embedded_stack.auth(BOB))
    problem = assert_no_data(foreign, 404)
    # exactly what a session that does not exist answers: nothing tells bob that alice's session is there
    missing_id = str(uuid.uuid4())
    missing = call(api, route, owned, embedded_stack.auth(BOB), session_id=missing_id)
    assert missing.status_code == 404
    assert problem == {
        k: v.replace(missing_id, owned.session_id) if isinstance(v, str) else v
        for k, v in missing.json().items()
    }


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_the_owner_is_served(embedded_stack: RunningStack, owned: Owned, route: Route) -> None:
    key = (route.method, route.path)
    auth = embedded_stack.auth(ALICE)
    other = new_session(embedded_stack.api_url, "scratch", headers=auth) if key in DESTRUCTIVE else None
    r = call(embedded_stack.api_url, route, owned, auth, session_id=other)
    assert r.status_code == OWNER_STATUS.get(key, route.status_code), r.text


def test_bob_sees_only_his_own_sessions(embedded_stack: RunningStack, owned: Owned) -> None:
    api = embedded_stack.api_url
    bobs = new_session(api, "Bob's trip", headers=embedded_stack.auth(BOB))
    assert httpx.get(f"{api}/v1/sessions/{bobs}", headers=embedded_stack.auth(BOB)).json()["context"] == (
        "Bob's trip"
    )
    assert httpx.get(f"{api}/v1/sessions/{bobs}", headers=embedded_stack.auth(ALICE)).status_code == 404
    # a token that is about to expire still works; the caller is its sub, whatever else it says
    token = embedded_stack.issuer.issue(BOB, 30, extra={"name": ALICE, "email": "alice@example.com"})
    assert httpx.get(f"{api}/v1/sessions/{bobs}", headers=bearer(token)).status_code == 200
    assert httpx.get(f"{api}/v1/sessions/{owned.session_id}", headers=bearer(token)).status_code == 404


def test_the_token_is_checked_before_the_request_is_read(embedded_stack: RunningStack) -> None:
    r = httpx.post(
        f"{embedded_stack.api_url}/v1/sessions",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert_no_data(r, 401)


def test_public_routes_answer_without_a_token(embedded_stack: RunningStack) -> None:
    api = embedded_stack.api_url
    assert httpx.get(f"{api}/health").json()["status"] == "ok"
    jwks = httpx.get(f"{api}{JWKS_PATH}")
    assert jwks.status_code == 200
    [key] = jwt.PyJWKSet.from_dict(jwks.json()).keys
    assert key.key_id == embedded_stack.issuer.kid
    assert "d" not in jwks.json()["keys"][0]  # the public half only
    token = embedded_stack.token()
    assert jwt.decode(token, key=key, algorithms=["RS256"], audience="shoebox")["sub"] == ALICE
    assert httpx.get(f"{api}/schema/openapi.json").status_code == 200
    assert httpx.get(f"{api}/schema/swagger").status_code == 200
    options = httpx.options(f"{api}/v1/sessions")  # the automatic answer: allowed methods, no data
    assert options.status_code == 204 and options.content == b""


def test_the_openapi_document_describes_the_bearer_scheme_on_every_protected_operation(
    embedded_stack: RunningStack,
) -> None:
    spec = httpx.get(f"{embedded_stack.api_url}/schema/openapi.json").json()
    assert spec["components"]["securitySchemes"][BEARER] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": spec["components"]["securitySchemes"][BEARER]["description"],
    }
    protected = {str(r) for r in ROUTES}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            name = f"{method.upper()} {path}"
            if name in protected:
                assert operation.get("security") == [{BEARER: []}], name
            else:
                assert not operation.get("security"), name
    assert protected <= {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item}
