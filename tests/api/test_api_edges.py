"""The attacks on the API's edges (issue 12, items 4, 5 and 7), in process, each refused:

- content types checked by prefix: ``image/jpeg\\r\\nX-Evil: 1`` (echoed into the ticket's headers, and a
  500 after the client's retries on the multipart route), ``image/svg+xml``, ``image/`` and RAW types were
  accepted; now only the exact tokens of ``shared.runtime.media_types`` are, on both upload routes;
- malformed JSON answered 500 with a traceback (deeply nested arrays, invalid UTF-8), on ``/v1/sessions``
  and on the unauthenticated local sign-in; JSON sent as ``text/plain`` was taken;
- any ``Host`` was answered (DNS rebinding), responses lacked ``nosniff``, and the docs page loaded
  unpinned scripts from a CDN on the page's origin.

The embedded stack's own hosts, and the headers as uvicorn sends them, are checked on the stack in
``tests/api/test_api_edges_stack.py``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import httpx
import pytest

from shared.runtime.media_types import MEDIA_TYPES
from tests.support.app import Api

HOSTILE_TYPES = [
    "image/jpeg\r\nX-Evil: 1",  # a header's tail riding in the type, echoed into the ticket
    "image/jpeg\nX-Evil: 1",
    "image/svg+xml",  # a script in an image's clothes
    "image/",
    "video/",
    "image/jpeg; charset=utf-8",
    "IMAGE/JPEG",
    " image/jpeg",
    "image/jpegx",
    "image/x-canon-cr2",  # camera RAW: media_process has no decoder for it
    "text/html",
    "application/octet-stream",
    "",
]
NESTED = b"[" * 100_000 + b"]" * 100_000
NOT_UTF8 = b'{"context": "\xff\xfe trip"}'


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"]
    return body


# ----------------------------------------------------------------------------- item 4: content types
@pytest.mark.parametrize("content_type", HOSTILE_TYPES)
def test_an_upload_of_a_type_shoebox_does_not_read_is_refused_before_anything_is_signed(
    api: Api, content_type: str
) -> None:
    sid = api.new_session()
    single = api.client.post(
        f"/v1/sessions/{sid}/uploads",
        json={"name": "a.jpg", "content_type": content_type, "size": 100},
        headers=api.auth(),
    )
    assert "not a photo or video type Shoebox reads" in problem(single, 400)["detail"]
    assert "X-Evil" not in single.headers  # nothing of the type became a header
    uploads_before = set(api.store.uploads)
    multipart = api.client.post(
        f"/v1/sessions/{sid}/multipart",
        json={"name": "a.mp4", "content_type": content_type, "size": 20 * 1024 * 1024},
        headers=api.auth(),
    )
    problem(multipart, 400)
    assert set(api.store.uploads) == uploads_before, "no multipart upload was created in storage"


def test_every_type_shoebox_reads_is_accepted_and_signed_as_sent(api: Api) -> None:
    sid = api.new_session()
    for i, media in enumerate(MEDIA_TYPES):
        r = api.client.post(
            f"/v1/sessions/{sid}/uploads",
            json={"name": f"f{i}{media.extensions[0]}", "content_type": media.token, "size": 100},
            headers=api.auth(),
        )
        assert r.status_code == 201, r.text
        assert r.json()["headers"] == {"Content-Type": media.token}


# ----------------------------------------------------------------------------- item 5: malformed JSON
@pytest.mark.parametrize(("body", "why"), [(NESTED, "nested too deeply"), (NOT_UTF8, "not valid UTF-8")])
def test_malformed_json_is_a_400_problem_and_no_server_error(
    api: Api, body: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    json_type = {"Content-Type": "application/json"}
    with caplog.at_level(logging.DEBUG):
        sessions = api.client.post("/v1/sessions", content=body, headers={**api.auth(), **json_type})
        sign_in = api.client.post(
            "/auth/local/sign-in", content=body.replace(b"context", b"name"), headers=json_type
        )
    for r in (sessions, sign_in):
        assert why in problem(r, 400)["detail"]
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR or rec.exc_info], "no traceback"


def json_routes(api: Api, sid: str) -> list[tuple[str, str]]:
    """Every operation the OpenAPI document says takes a JSON body, with its path filled in."""
    spec = api.client.get("/schema/openapi.json").json()
    out = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                filled = re.sub(r"\{[^}]+\}", "x", path.replace("{session_id}", sid))
                out.append((method.upper(), filled))
    return out


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_every_json_route_refuses_a_body_that_is_not_declared_json(
    api: Api, content_type: str | None
) -> None:
    """A cross-site form (or a ``text/plain`` fetch, which needs no CORS preflight) posts nothing."""
    sid = api.new_session()
    routes = json_routes(api, sid)
    assert ("POST", "/v1/sessions") in routes and ("POST", "/auth/local/sign-in") in routes
    assert len(routes) >= 6
    headers = {"Content-Type": content_type} if content_type else {}
    for method, path in routes:
        r = api.client.request(
            method, path, content=b'{"context": "x", "name": "x"}', headers={**api.auth(), **headers}
        )
        assert "application/json" in problem(r, 415)["detail"], (method, path)


def test_json_with_its_charset_is_taken(api: Api) -> None:
    r = api.client.post(
        "/v1/sessions",
        content=b'{"context": "x"}',
        headers={**api.auth(), "Content-Type": "application/json; charset=UTF-8"},
    )
    assert r.status_code == 201, r.text
    latin = {**api.auth(), "Content-Type": "application/json; charset=latin-1"}
    problem(api.client.post("/v1/sessions", content=b'{"context": "x"}', headers=latin), 415)


# ----------------------------------------------------------------------------- item 7: Host, nosniff, docs
@pytest.mark.parametrize(
    "host", ["rebound.example", "rebound.example:80", "127.0.0.1", "testserver.local.evil"]
)
def test_a_request_for_another_host_is_refused(api: Api, host: str) -> None:
    """DNS rebinding: a page on ``rebound.example`` points its name at the API's address; the browser
    then sends its own name as the Host, and nothing is answered (not even the public routes)."""
    sid = api.new_session()
    for method, path, auth in [
        ("GET", "/health", False),
        ("GET", "/", False),
        ("GET", "/auth/config", False),
        ("GET", f"/v1/sessions/{sid}", True),
    ]:
        r = api.client.request(method, path, headers={"Host": host, **(api.auth() if auth else {})})
        assert r.status_code == 400, (host, path, r.text)
        assert "Weekend" not in r.text
    signed_in = api.client.post("/auth/local/sign-in", json={"name": "mallory"}, headers={"Host": host})
    assert signed_in.status_code == 400 and "token" not in signed_in.text


def test_every_answer_says_nosniff(api: Api) -> None:
    sid = api.new_session()
    api.processed(sid, "a.jpg")
    [thumbnail_url] = [
        f["thumbnail_url"] for f in api.client.get(f"/v1/sessions/{sid}", headers=api.auth()).json()["files"]
    ]
    answers = {
        "json": api.client.get(f"/v1/sessions/{sid}", headers=api.auth()),
        "thumbnail": api.client.get(thumbnail_url, headers=api.auth()),
        "page": api.client.get("/"),
        "script": api.client.get("/static/app.js"),
        "health": api.client.get("/health"),
        "openapi": api.client.get("/schema/openapi.json"),
        "401": api.client.get(f"/v1/sessions/{sid}"),
        "404": api.client.get("/v1/nowhere", headers=api.auth()),
        "415": api.client.post(
            "/v1/sessions", content=b"{}", headers={**api.auth(), "Content-Type": "text/plain"}
        ),
        "wrong host": api.client.get("/health", headers={"Host": "rebound.example"}),
    }
    assert answers["thumbnail"].headers["content-type"] == "image/jpeg"
    for what, r in answers.items():
        assert r.headers.get("x-content-type-options") == "nosniff", what


def test_the_openapi_document_is_served_without_a_docs_page_or_any_script(api: Api) -> None:
    """Litestar's docs pages load their scripts (unpinned) from a CDN; on the page's origin such a script
    could do anything the page can. Only the document is served: point any OpenAPI viewer at it."""
    document = api.client.get("/schema")
    assert document.status_code == 200 and document.json()["openapi"].startswith("3.1")
    assert document.json() == api.client.get("/schema/openapi.json").json()
    for page in ("swagger", "redoc", "elements", "rapidoc", "scalar"):
        assert api.client.get(f"/schema/{page}").status_code == 404, page
    assert b"<script" not in document.content
