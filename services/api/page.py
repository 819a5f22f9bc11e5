"""The upload page: one HTML page, a script and a stylesheet, served by the API at ``/`` (no build step).

The page is a client of the public API like any other (``web/app.js``): it creates the session and starts
triage on the first drop, uploads straight to S3 through presigned URLs (multipart for large files), polls
the triage results with ``If-None-Match``, shows the verdicts and sends the confirmed discards; then it asks
for a selection, polls it the same way, shows the picks grouped by scene and saves the person's edits of
them (``web/selection.js``, ``web/picks.js``); then it enhances the saved picks, follows the job on the
session's event stream (read with ``fetch``, so the token goes in the header) with ``If-None-Match``
reads, and shows before/after pairs, the phases, a feedback box and the downloads, each file or all as
one zip (``web/enhance.js``, ``web/enhanced.js``). Its files are read once when the app is made and served
with a strong ETag.

Sign-in: ``GET /auth/config`` tells the page how. On the embedded stack (the app was made with the local
issuer) ``POST /auth/local/sign-in`` hands out a token for the name the person types: the stack listens on
127.0.0.1 only and is one person's development tool, where ``shoebox dev-token`` does the same from the
shell. Without a local issuer (AWS) that route does not exist: the page signs in through the Cognito hosted
UI (``SHOEBOX_AUTH_HOSTED_UI_URL``: the authorization code flow with PKCE, ``web/auth.js``, ``web/oauth.js``)
and keeps the ID token; with no hosted UI configured it asks for a pasted token (a Cognito ID token).

The page sends its token in the ``Authorization`` header (kept in ``sessionStorage``, never in a cookie or
a URL), so thumbnails and downloads are fetched with it and handed over as blob URLs. A strict
Content-Security-Policy allows scripts and styles from this origin only, images from it and from blob
URLs, and network requests and media (a ``<video>`` plays an enhanced clip from a presigned GET:
``item_media``) from this origin and the storage endpoint the presigned URLs point at; in the ``oauth`` mode
network requests to the hosted UI too (its token endpoint).
"""

from __future__ import annotations

import hashlib
import urllib.parse
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody

from services.api.access import PUBLIC, not_modified
from services.api.auth import LOCAL_SUB_MAX, LOCAL_SUB_PATTERN, LocalIssuer
from shared.runtime import media_types
from shared.runtime.config import Settings

WEB = Path(__file__).with_name("web")
#: what a name typed on the local sign-in may look like (it becomes the token's ``sub``)
LOCAL_NAME = msgspec.Meta(min_length=1, max_length=LOCAL_SUB_MAX, pattern=LOCAL_SUB_PATTERN)
LOCAL_TOKEN_TTL_S = 8 * 3600
#: the page's module of the media types Shoebox reads, generated (``media_types_module``)
MEDIA_TYPES_JS = "media-types.js"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


#: what the page asks the hosted UI for: the ID token (``openid``) with the person's email and name
OAUTH_SCOPES = "openid email profile"


class AuthConfig(msgspec.Struct, frozen=True, omit_defaults=True):
    """How a browser signs in here; the ``oauth`` fields are present in that mode only."""

    #: ``local``: sign in with a name (``POST /auth/local/sign-in``); ``oauth``: the hosted UI's authorization
    #: code flow with PKCE (the fields below); ``token``: paste a bearer token (no hosted UI configured)
    mode: str
    issuer: str | None
    authorize_url: str | None = None
    token_url: str | None = None
    logout_url: str | None = None
    #: the app client (a public one: no secret), whose id is the audience the API verifies
    client_id: str | None = None
    scopes: str | None = None

    @classmethod
    def of(cls, settings: Settings, issuer: LocalIssuer | None) -> AuthConfig:
        """``local`` with the embedded stack's issuer, else ``oauth`` when a hosted UI is configured, else
        ``token``."""
        if issuer is not None:
            return cls(mode="local", issuer=issuer.issuer)
        ui = hosted_ui_origin(settings)
        if not ui:
            return cls(mode="token", issuer=None)
        return cls(
            mode="oauth",
            issuer=settings.auth.issuer.rstrip("/") or None,
            authorize_url=f"{ui}/oauth2/authorize",
            token_url=f"{ui}/oauth2/token",
            logout_url=f"{ui}/logout",
            client_id=settings.auth.audience,
            scopes=OAUTH_SCOPES,
        )


class SignIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, LOCAL_NAME] = "local"


class SignedIn(msgspec.Struct, frozen=True):
    token: str
    sub: str
    expires_in_s: int


class _Asset(msgspec.Struct, frozen=True):
    body: bytes
    media_type: str
    etag: str


def _asset(body: bytes, media_type: str) -> _Asset:
    return _Asset(body, media_type, f'"{hashlib.sha256(body).hexdigest()[:32]}"')


def media_types_module() -> bytes:
    """``/static/media-types.js``: the media types Shoebox reads (``shared.runtime.media_types``), as the
    page's script imports them, so the page keeps no table of its own."""
    kinds = msgspec.json.encode(media_types.KINDS).decode()
    extensions = msgspec.json.encode(media_types.BY_EXTENSION).decode()
    return (
        "// Generated by the API (services/api/page.py) from shared/runtime/media_types.py: the media types\n"
        "// Shoebox reads. The API accepts exactly these tokens; the CLI and this page type files by them.\n"
        f"export const KINDS = Object.freeze({kinds});\n"
        f"export const BY_EXTENSION = Object.freeze({extensions});\n"
    ).encode()


def _assets() -> dict[str, _Asset]:
    out: dict[str, _Asset] = {}
    for path in sorted(WEB.iterdir()):
        if path.suffix in _TYPES and path.is_file():
            out[path.name] = _asset(path.read_bytes(), _TYPES[path.suffix])
    out[MEDIA_TYPES_JS] = _asset(media_types_module(), _TYPES[".js"])
    return out


def storage_origins(settings: Settings) -> str:
    """Where presigned URLs point: the configured endpoint's origin (the emulator), else the media bucket's
    own hosts on AWS (virtual-hosted, ``shared/runtime/aws.py``): the region's, and the global one botocore
    uses in us-east-1. No other bucket."""
    if settings.aws.endpoint:
        u = urllib.parse.urlsplit(settings.aws.endpoint)
        return f"{u.scheme}://{u.netloc}"
    bucket, region = settings.names.media_bucket, settings.aws.region
    return f"https://{bucket}.s3.{region}.amazonaws.com https://{bucket}.s3.amazonaws.com"


def hosted_ui_origin(settings: Settings) -> str:
    """The hosted UI's origin (``SHOEBOX_AUTH_HOSTED_UI_URL``, without a trailing slash), or ``""``."""
    return settings.auth.hosted_ui_url.rstrip("/")


def content_security_policy(settings: Settings, *, oauth: bool = False) -> str:
    """The page's policy. With ``oauth`` (the page signs in through the hosted UI) ``connect-src`` gains the
    hosted UI's origin, where the page POSTs to the token endpoint; nothing else widens (going to the
    authorize and logout pages is a top-level navigation, which the policy does not govern)."""
    connect = f"'self' {storage_origins(settings)}"
    if oauth and hosted_ui_origin(settings):
        connect += f" {hosted_ui_origin(settings)}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            f"connect-src {connect}",
            # a <video> plays a clip from a presigned GET of storage (it cannot send the bearer token)
            f"media-src 'self' {storage_origins(settings)}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def routes(settings: Settings, issuer: LocalIssuer | None) -> list[HTTPRouteHandler]:
    """The page's routes (all public): ``/``, ``/static/{name}``, ``/auth/config`` and, with the local
    issuer, ``/auth/local/sign-in``."""
    assets = _assets()
    config = AuthConfig.of(settings, issuer)
    csp = content_security_policy(settings, oauth=config.mode == "oauth")
    security = {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    def serve(name: str, request: Request[Any, Any, Any]) -> Response[bytes]:
        asset = assets.get(name)
        if asset is None:
            raise NotFoundException(detail=f"no {name!r} here")
        headers = {**security, "ETag": asset.etag, "Cache-Control": "no-cache"}
        if not_modified(request, asset.etag):
            return Response(b"", status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    @get("/", sync_to_thread=False, opt={PUBLIC: True}, include_in_schema=False)
    def index(request: Request[Any, Any, Any]) -> Response[bytes]:
        return serve("index.html", request)

    @get("/static/{name:str}", sync_to_thread=False, opt={PUBLIC: True}, include_in_schema=False)
    def static(name: FromPath[str], request: Request[Any, Any, Any]) -> Response[bytes]:
        if name == "index.html":
            raise NotFoundException(detail="the page is at /")
        return serve(name, request)

    @get("/auth/config", sync_to_thread=False, opt={PUBLIC: True}, tags=["auth"])
    def auth_config() -> AuthConfig:
        """How a browser signs in here: ``local`` (the embedded stack), ``oauth`` (the Cognito hosted UI,
        authorization code flow with PKCE) or ``token`` (paste a bearer token: no hosted UI configured)."""
        return config

    handlers: list[HTTPRouteHandler] = [index, static, auth_config]
    if issuer is not None:
        local = issuer

        @post("/auth/local/sign-in", status_code=200, sync_to_thread=False, opt={PUBLIC: True}, tags=["auth"])
        def local_sign_in(data: JSONBody[SignIn]) -> SignedIn:
            """Embedded stack only: a bearer token for ``name`` (default ``local``, the user `shoebox
            dev-token` signs for), valid for 8 hours."""
            return SignedIn(
                token=local.issue(data.name, LOCAL_TOKEN_TTL_S),
                sub=data.name,
                expires_in_s=LOCAL_TOKEN_TTL_S,
            )

        handlers.append(local_sign_in)
    return handlers
