"""Every route of the API, found by walking the app's route handlers (a new route is covered without editing
this file, or the test says what it needs): without a valid token it answers 401 with a problem document and
no data; another user's session answers 404 exactly as a session that does not exist; the owner gets 2xx.
In process, on the in-memory collaborators (``conftest.api``)."""

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

from services.api.app import BEARER, PUBLIC
from services.api.auth import JWKS_PATH, LocalIssuer
from shared.events import catalogue as c
from tests.support.app import Api, in_memory_app

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
    ("POST", "/v1/sessions/{session_id}/selections"): {"count": 2},
    ("PUT", "/v1/sessions/{session_id}/selections/{job_id}/picks"): {"selected": [], "excluded": []},
    ("POST", "/v1/sessions/{session_id}/enhancements"): {"keys": ["uploads/x/a.jpg"]},
    ("POST", "/v1/sessions/{session_id}/enhancements/{job_id}/items/{name}/feedback"): {"feedback": "warmer"},
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
    ("PUT", "/v1/sessions/{session_id}/selections/{job_id}/picks"): 409,  # not complete yet
    ("POST", "/v1/sessions/{session_id}/multipart/{upload_id}/complete"): 400,
    ("DELETE", "/v1/sessions/{session_id}/multipart/{upload_id}"): 400,
    ("POST", "/v1/sessions/{session_id}/enhancements"): 400,  # the sample key is not this session's
    # the owned item is a photo: no clip to play (test_api_enhancement_media.py has a video's)
    ("GET", "/v1/sessions/{session_id}/enhancements/{job_id}/items/{name}/media"): 404,
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
    app, _ = in_memory_app(LocalIssuer.generate())  # the same routes as the running stack's
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
    selection_id: str
    enhancement_id: str


@pytest.fixture(scope="module")
def owned(api: Api) -> Owned:
    """Alice's session with one processed photo (so even its thumbnail route has something to show) and
    a completed triage."""
    sid = api.new_session(CONTEXT, sub=ALICE)
    key = api.processed(sid, PHOTO_NAME)
    r = api.client.post(f"/v1/sessions/{sid}/triage", json={"expected": 1}, headers=api.auth(ALICE))
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    api.verdicts(sid, job, c.Verdict(key=key, verdict="keep", reason="sharp and well lit", confidence=0.9))
    r = api.client.post(f"/v1/sessions/{sid}/selections", json={"count": 1}, headers=api.auth(ALICE))
    assert r.status_code == 202, r.text
    selection = r.json()["job_id"]
    # an enhancement with its one item enhanced (its result: the original's thumbnail, bytes to serve)
    r = api.client.post(f"/v1/sessions/{sid}/enhancements", json={"keys": [key]}, headers=api.auth(ALICE))
    assert r.status_code == 202, r.text
    enhancement = r.json()["job_id"]
    [thumb] = [k for k in api.store.objects if k.startswith("thumbnails/") and sid in k]
    api.commit(sid, c.PhotoEnhanceRequestedData(job_id=enhancement, key=key, index=0))
    api.commit(sid, c.PhotoEnhancedData(job_id=enhancement, key=key, enhanced_key=thumb, thumbnail_key=thumb))
    return Owned(sid, PHOTO_NAME, job, selection, enhancement)


def call(
    api: Api, route: Route, owned: Owned, headers: dict[str, str], *, session_id: str | None = None
) -> httpx.Response:
    values = {
        "session_id": session_id or owned.session_id,
        "name": owned.name,
        "job_id": owned.selection_id
        if "/selections/" in route.path
        else owned.enhancement_id
        if "/enhancements/" in route.path
        else owned.job_id,
        "upload_id": "no-such-upload",
    }
    unknown = set(re.findall(r"\{(\w+)\}", route.path)) - set(values)
    assert not unknown, f"{route}: teach this test a value for {unknown}"
    url = route.path.format(**values)
    body = SAMPLE_BODIES.get((route.method, route.path))
    if route.method in ("POST", "PUT", "PATCH"):
        assert body is not None, f"{route}: add a sample body to SAMPLE_BODIES"
    params = SAMPLE_QUERIES.get((route.method, route.path))
    return api.client.request(route.method, url, json=body, params=params, headers=headers)


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


@pytest.fixture(scope="module")
def bad_credentials(issuer: LocalIssuer) -> dict[str, dict[str, str]]:
    """Requests that must all be refused with 401, by what is wrong with them."""
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
    api: Api, owned: Owned, bad_credentials: dict[str, dict[str, str]], route: Route
) -> None:
    for what, headers in bad_credentials.items():
        r = call(api, route, owned, headers)
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
    api: Api, owned: Owned, route: Route
) -> None:
    written = (len(api.log.published), dict(api.store.objects), dict(api.sagas.executions))
    foreign = call(api, route, owned, api.auth(BOB))
    problem = assert_no_data(foreign, 404)
    # exactly what a session that does not exist answers: nothing tells bob that alice's session is there
    missing_id = str(uuid.uuid4())
    missing = call(api, route, owned, api.auth(BOB), session_id=missing_id)
    assert missing.status_code == 404
    assert problem == {
        k: v.replace(missing_id, owned.session_id) if isinstance(v, str) else v
        for k, v in missing.json().items()
    }
    # and nothing was done to alice's session: no event, no object, no saga started
    assert (len(api.log.published), api.store.objects, api.sagas.executions) == written


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_the_owner_is_served(api: Api, owned: Owned, route: Route) -> None:
    key = (route.method, route.path)
    other = api.new_session("scratch", sub=ALICE) if key in DESTRUCTIVE else None
    r = call(api, route, owned, api.auth(ALICE), session_id=other)
    assert r.status_code == OWNER_STATUS.get(key, route.status_code), r.text


def test_bob_sees_only_his_own_sessions(api: Api, owned: Owned) -> None:
    bobs = api.new_session("Bob's trip", sub=BOB)
    assert api.client.get(f"/v1/sessions/{bobs}", headers=api.auth(BOB)).json()["context"] == "Bob's trip"
    assert api.client.get(f"/v1/sessions/{bobs}", headers=api.auth(ALICE)).status_code == 404
    # a token that is about to expire still works; the caller is its sub, whatever else it says
    token = api.issuer.issue(BOB, 30, extra={"name": ALICE, "email": "alice@example.com"})
    assert api.client.get(f"/v1/sessions/{bobs}", headers=bearer(token)).status_code == 200
    assert api.client.get(f"/v1/sessions/{owned.session_id}", headers=bearer(token)).status_code == 404


def test_the_token_is_checked_before_the_request_is_read(api: Api) -> None:
    before = len(api.log.published)
    r = api.client.post("/v1/sessions", content=b"{not json", headers={"Content-Type": "application/json"})
    assert_no_data(r, 401)
    assert len(api.log.published) == before


@pytest.mark.parametrize(
    ("header", "refused"),
    [
        ("Bearer", "must be 'Bearer <JWT>'"),
        ("Bearer   ", "must be 'Bearer <JWT>'"),
        ("Token {token}", "must be 'Bearer <JWT>'"),
        ("{token}", "must be 'Bearer <JWT>'"),
        ("Bearer {token}x", "malformed"),
    ],
)
def test_the_authorization_header_is_parsed_strictly(api: Api, header: str, refused: str) -> None:
    token = api.issuer.issue(ALICE)
    r = api.client.post(
        "/v1/sessions", json={"context": "x"}, headers={"Authorization": header.format(token=token)}
    )
    problem = assert_no_data(r, 401)
    assert refused in problem["detail"], problem
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


@pytest.mark.parametrize("header", ["bearer {token}", "BEARER {token}", "  Bearer   {token}  "])
def test_the_scheme_is_case_insensitive_and_blanks_around_the_token_do_not_matter(
    api: Api, header: str
) -> None:
    r = api.client.post(
        "/v1/sessions",
        json={"context": "x"},
        headers={"Authorization": header.format(token=api.issuer.issue(ALICE))},
    )
    assert r.status_code == 201, r.text


def test_public_routes_answer_without_a_token(api: Api) -> None:
    client = api.client
    assert client.get("/health").json()["status"] == "ok"
    jwks = client.get(JWKS_PATH)
    assert jwks.status_code == 200
    [key] = jwt.PyJWKSet.from_dict(jwks.json()).keys
    assert key.key_id == api.issuer.kid
    assert "d" not in jwks.json()["keys"][0]  # the public half only
    token = api.issuer.issue(ALICE)
    assert jwt.decode(token, key=key, algorithms=["RS256"], audience="shoebox")["sub"] == ALICE
    assert client.get("/schema/openapi.json").status_code == 200
    assert client.get("/schema").json() == client.get("/schema/openapi.json").json()  # no docs page
    options = client.options("/v1/sessions")  # the automatic answer: allowed methods, no data
    assert options.status_code == 204 and options.content == b""


def test_the_openapi_document_describes_the_bearer_scheme_on_every_protected_operation(api: Api) -> None:
    spec = api.client.get("/schema/openapi.json").json()
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
