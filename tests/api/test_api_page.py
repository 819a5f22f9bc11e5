"""The upload page's routes: the page and its files, how a browser signs in, and the local sign-in that
exists on the embedded stack only."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest
from litestar.testing import TestClient

from services.api.app import create_app
from services.api.auth import LocalIssuer
from services.api.page import WEB, content_security_policy
from shared.runtime.config import AwsSettings, Settings
from tests.support.api import new_session
from tests.support.stack import RunningStack


@pytest.mark.stack
def test_local_sign_in_gives_a_token_the_api_accepts(embedded_stack: RunningStack) -> None:
    api = embedded_stack.api_url
    r = httpx.post(f"{api}/auth/local/sign-in", json={"name": "carol"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sub"] == "carol" and body["expires_in_s"] > 3600
    sid = new_session(api, "page trip", headers={"Authorization": f"Bearer {body['token']}"})
    mine = httpx.get(f"{api}/v1/sessions/{sid}", headers={"Authorization": f"Bearer {body['token']}"})
    assert mine.status_code == 200
    # another name is another user
    assert httpx.get(f"{api}/v1/sessions/{sid}", headers=embedded_stack.auth("dave")).status_code == 404


@pytest.mark.stack
@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "../x"}, {"name": "a" * 65}, {"who": "x"}, {"name": 3}]
)
def test_local_sign_in_refuses_names_that_are_not_plain(embedded_stack: RunningStack, body: object) -> None:
    r = httpx.post(f"{embedded_stack.api_url}/auth/local/sign-in", json=body)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "token" not in r.json()


@pytest.mark.stack
def test_local_sign_in_defaults_to_the_user_dev_token_signs_for(embedded_stack: RunningStack) -> None:
    r = httpx.post(f"{embedded_stack.api_url}/auth/local/sign-in", json={})
    assert r.status_code == 200 and r.json()["sub"] == "local"


def test_without_the_local_issuer_the_page_asks_for_a_token_and_nobody_can_sign_in() -> None:
    """On AWS (no local issuer) there is no sign-in route: the page takes a token from the person."""
    trusted = LocalIssuer.generate()  # stands in for Cognito's keys
    app = create_app(Settings(), verifier=trusted.verifier())
    with TestClient(app) as client:
        assert client.get("/auth/config").json() == {"mode": "token", "issuer": None}
        assert client.post("/auth/local/sign-in", json={"name": "x"}).status_code in (404, 405)
        page = client.get("/")
        assert page.status_code == 200 and b'id="sign-in-token"' in page.content
        assert "connect-src 'self' https://*.amazonaws.com" in page.headers["content-security-policy"]


def test_the_content_security_policy_lets_the_page_reach_only_the_api_and_storage() -> None:
    csp = content_security_policy(Settings(aws=AwsSettings(endpoint="http://127.0.0.1:4566/")))
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["connect-src"] == "'self' http://127.0.0.1:4566"
    assert directives["frame-ancestors"] == "'none'"


def test_every_module_of_the_page_is_served_as_javascript_with_a_strong_etag() -> None:
    """The page is ES modules (no build step): app.js imports the others by relative URL, so each one must
    be served from /static/ as JavaScript (a module with another type is refused by the browser)."""
    modules = sorted(WEB.glob("*.js"))
    assert len(modules) > 1
    imported: set[str] = set()
    with TestClient(create_app(Settings(), verifier=LocalIssuer.generate().verifier())) as client:
        for path in modules:
            r = client.get(f"/static/{path.name}")
            assert r.status_code == 200, path.name
            assert r.headers["content-type"].startswith("text/javascript"), path.name
            assert r.headers["etag"] == f'"{hashlib.sha256(path.read_bytes()).hexdigest()[:32]}"', path.name
            imported |= set(re.findall(r'^import .* from "\./([\w.-]+\.js)";$', r.text, re.MULTILINE))
    assert imported == {p.name for p in modules} - {"app.js"}, "every module is imported, and exists"
    assert b'<script type="module" src="/static/app.js">' in (WEB / "index.html").read_bytes()
