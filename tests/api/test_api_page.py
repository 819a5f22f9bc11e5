"""The upload page's routes, in process: the page and its files, how a browser signs in, and the local
sign-in that exists on the embedded stack only (an app made with the local issuer)."""

from __future__ import annotations

import hashlib
import re
import urllib.parse

import botocore.session
import msgspec
import pytest
from litestar.testing import TestClient

from services.api.app import create_app
from services.api.auth import LocalIssuer
from services.api.page import MEDIA_TYPES_JS, WEB, AuthConfig, content_security_policy, storage_origins
from services.api.wiring import Collaborators
from shared.runtime.aws import client_kwargs
from shared.runtime.config import AuthSettings, AwsSettings, ConfigError, Settings
from shoebox_cli.tokens import LOCAL_USER
from tests.support.app import SETTINGS, Api, in_memory_app


def test_local_sign_in_gives_a_token_the_api_accepts(api: Api) -> None:
    r = api.client.post("/auth/local/sign-in", json={"name": "carol"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["sub"] == "carol" and body["expires_in_s"] > 3600
    carol = {"Authorization": f"Bearer {body['token']}"}
    created = api.client.post("/v1/sessions", json={"context": "page trip"}, headers=carol)
    assert created.status_code == 201, created.text
    sid = created.json()["session_id"]
    assert api.client.get(f"/v1/sessions/{sid}", headers=carol).status_code == 200
    # another name is another user
    assert api.client.get(f"/v1/sessions/{sid}", headers=api.auth("dave")).status_code == 404
    assert api.client.get("/auth/config").json() == {"mode": "local", "issuer": api.issuer.issuer}


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "../x"}, {"name": "a" * 65}, {"who": "x"}, {"name": 3}]
)
def test_local_sign_in_refuses_names_that_are_not_plain(api: Api, body: object) -> None:
    r = api.client.post("/auth/local/sign-in", json=body)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "token" not in r.json()


def test_local_sign_in_defaults_to_the_user_dev_token_signs_for(api: Api) -> None:
    r = api.client.post("/auth/local/sign-in", json={})
    assert r.status_code == 200 and r.json()["sub"] == LOCAL_USER


def test_the_page_and_its_files_carry_a_strong_etag(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    tag = page.headers["etag"]
    again = api.client.get("/", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert api.client.get("/static/index.html").status_code == 404  # the page is at /
    assert api.client.get("/static/nope.js").status_code == 404


def test_without_the_local_issuer_the_page_asks_for_a_token_and_nobody_can_sign_in() -> None:
    """On AWS (no local issuer) there is no sign-in route: the page takes a token from the person."""
    trusted = LocalIssuer.generate()  # stands in for Cognito's keys
    app, _ = in_memory_app(None, verifier=trusted.verifier())
    with TestClient(app) as client:
        assert client.get("/auth/config").json() == {"mode": "token", "issuer": None}
        assert client.post("/auth/local/sign-in", json={"name": "x"}).status_code in (404, 405)
        page = client.get("/")
        assert page.status_code == 200 and b'id="sign-in-token"' in page.content
        bucket = "https://inproc-media.s3.us-east-1.amazonaws.com https://inproc-media.s3.amazonaws.com"
        assert f"connect-src 'self' {bucket}" in page.headers["content-security-policy"]
        assert f"media-src 'self' {bucket}" in page.headers["content-security-policy"]


def test_the_content_security_policy_lets_the_page_reach_only_the_api_and_storage() -> None:
    csp = content_security_policy(Settings(aws=AwsSettings(endpoint="http://127.0.0.1:4566/")))
    directives = dict(d.split(" ", 1) for d in csp.split("; "))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["connect-src"] == "'self' http://127.0.0.1:4566"
    # a <video> plays an enhanced clip from a presigned GET of storage (services/api/item_media.py)
    assert directives["media-src"] == "'self' http://127.0.0.1:4566"
    assert directives["frame-ancestors"] == "'none'"


def test_every_module_of_the_page_is_served_as_javascript_with_a_strong_etag() -> None:
    """The page is ES modules (no build step): app.js imports the others by relative URL, so each one must
    be served from /static/ as JavaScript (a module with another type is refused by the browser)."""
    modules = sorted(WEB.glob("*.js"))
    assert len(modules) > 1
    imported: set[str] = set()
    app, _ = in_memory_app(None, verifier=LocalIssuer.generate().verifier())
    with TestClient(app) as client:
        for path in modules:
            r = client.get(f"/static/{path.name}")
            assert r.status_code == 200, path.name
            assert r.headers["content-type"].startswith("text/javascript"), path.name
            assert r.headers["etag"] == f'"{hashlib.sha256(path.read_bytes()).hexdigest()[:32]}"', path.name
            imported |= set(re.findall(r'^import .* from "\./([\w.-]+\.js)";$', r.text, re.MULTILINE))
        generated = client.get(f"/static/{MEDIA_TYPES_JS}")  # the one the API makes (media_types_module)
        assert generated.status_code == 200
        assert generated.headers["content-type"].startswith("text/javascript")
    served = {p.name for p in modules} | {MEDIA_TYPES_JS}
    assert imported == served - {"app.js"}, "every module is imported, and exists"
    assert b'<script type="module" src="/static/app.js">' in (WEB / "index.html").read_bytes()


HOSTED_UI = "https://shoebox-dev.auth.eu-west-1.amazoncognito.com"
POOL = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"


def _on_aws(hosted_ui: str = HOSTED_UI) -> Settings:
    """An API as Terraform configures it on AWS: Cognito's issuer, the app client, maybe its hosted UI."""
    return msgspec.structs.replace(
        SETTINGS, auth=AuthSettings(issuer=POOL + "/", audience="client-123", hosted_ui_url=hosted_ui)
    )


def test_with_a_hosted_ui_the_page_signs_in_through_it_with_the_code_flow() -> None:
    """``/auth/config`` hands the page the hosted UI's endpoints and the client: the page needs nothing else
    (``web/oauth.js``); the token route does not exist there either."""
    app = create_app(
        _on_aws(HOSTED_UI + "/"),
        collaborators=Collaborators.in_memory(SETTINGS),
        verifier=LocalIssuer.generate().verifier(),
    )
    with TestClient(app) as client:
        assert client.get("/auth/config").json() == {
            "mode": "oauth",
            "issuer": POOL,
            "authorize_url": f"{HOSTED_UI}/oauth2/authorize",
            "token_url": f"{HOSTED_UI}/oauth2/token",
            "logout_url": f"{HOSTED_UI}/logout",
            "client_id": "client-123",
            "scopes": "openid email profile",
        }
        assert client.post("/auth/local/sign-in", json={"name": "x"}).status_code in (404, 405)
        page = client.get("/")
        assert b'id="sign-in-oauth"' in page.content
        directives = dict(d.split(" ", 1) for d in page.headers["content-security-policy"].split("; "))
        storage = storage_origins(_on_aws(HOSTED_UI + "/"))
        assert storage.startswith("https://") and "*" not in storage
        assert directives["connect-src"] == f"'self' {storage} {HOSTED_UI}"


def test_the_hosted_ui_widens_connect_src_alone_and_only_when_the_page_uses_it() -> None:
    """The token endpoint is a fetch (connect-src); every other directive stays as without a hosted UI. The
    embedded stack (local sign-in) does not widen even with one configured."""
    plain = dict(d.split(" ", 1) for d in content_security_policy(_on_aws("")).split("; "))
    oauth = dict(d.split(" ", 1) for d in content_security_policy(_on_aws(), oauth=True).split("; "))
    assert oauth.pop("connect-src") == plain.pop("connect-src") + f" {HOSTED_UI}"
    assert oauth == plain
    assert content_security_policy(_on_aws(), oauth=False) == content_security_policy(_on_aws(""))
    local = LocalIssuer.generate()
    assert AuthConfig.of(_on_aws(), local) == AuthConfig(mode="local", issuer=local.issuer)
    assert AuthConfig.of(_on_aws(""), None) == AuthConfig(mode="token", issuer=None)


@pytest.mark.parametrize(
    "value",
    [
        HOSTED_UI,
        HOSTED_UI + "/",
        "https://login.example.com",
        "http://127.0.0.1:8123",  # a loopback test server (tests/support/hosted_ui.py)
        "",
    ],
)
def test_the_hosted_ui_setting_takes_an_origin(value: str) -> None:
    assert Settings.from_env({"SHOEBOX_AUTH_HOSTED_UI_URL": value}).auth.hosted_ui_url == value


@pytest.mark.parametrize(
    "value",
    [
        "http://shoebox-dev.auth.eu-west-1.amazoncognito.com",  # plain http off the loopback
        f"{HOSTED_UI}/oauth2/authorize",  # a path: the page adds the endpoints' own
        f"{HOSTED_UI}?x=1",
        "shoebox-dev.auth.eu-west-1.amazoncognito.com",
        "https://a b",
    ],
)
def test_the_hosted_ui_setting_refuses_anything_but_an_origin(value: str) -> None:
    with pytest.raises(ConfigError, match="SHOEBOX_AUTH_HOSTED_UI_URL"):
        Settings.from_env({"SHOEBOX_AUTH_HOSTED_UI_URL": value})


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1", "ap-southeast-2"])
def test_on_aws_presigned_urls_point_where_the_page_may_go(region: str) -> None:
    """The page may reach only the media bucket's own hosts (CSP connect-src and media-src); the S3 client
    the API signs with (``client_kwargs``: no endpoint, AWS) must make its presigned URLs there, for uploads
    and parts as for the video it plays. Path-style URLs (``s3.<region>.amazonaws.com/<bucket>``) would be
    refused."""
    settings = Settings(aws=AwsSettings(prefix="acme-dev", region=region))
    allowed = storage_origins(settings).split()
    s3 = botocore.session.get_session().create_client(
        "s3", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret", **client_kwargs(settings)
    )
    bucket = settings.names.media_bucket
    urls = [
        s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "uploads/s/a.jpg"}),
        s3.generate_presigned_url(
            "upload_part",
            Params={"Bucket": bucket, "Key": "uploads/s/b.mp4", "UploadId": "u", "PartNumber": 1},
        ),
        s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "enhanced/s/j/b.mp4/b.mp4"}),
    ]
    for url in urls:
        u = urllib.parse.urlsplit(url)
        assert f"{u.scheme}://{u.netloc}" in allowed, (url, allowed)
