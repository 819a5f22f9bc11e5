"""The upload page: one HTML page, a script and a stylesheet, served by the API at ``/`` (no build step).

The page is a client of the public API like any other (``web/app.js``): it creates the session and starts
triage on the first drop, uploads straight to S3 through presigned URLs (multipart for large files), polls
the triage results with ``If-None-Match``, shows the verdicts and sends the confirmed discards. Its files
are read once when the app is made and served with a strong ETag.

Sign-in: ``GET /auth/config`` tells the page how. On the embedded stack (the app was made with the local
issuer) ``POST /auth/local/sign-in`` hands out a token for the name the person types: the stack listens on
127.0.0.1 only and is one person's development tool, where ``shoebox dev-token`` does the same from the
shell. Without a local issuer (AWS) that route does not exist and the page asks for a token (a Cognito ID
token) instead.

The page sends its token in the ``Authorization`` header (kept in ``sessionStorage``, never in a cookie or
a URL), so thumbnails are fetched with it and shown from blob URLs. A strict Content-Security-Policy allows
scripts and styles from this origin only, and network requests to this origin and the storage endpoint the
presigned URLs point at.
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
from services.api.auth import LocalIssuer
from shared.runtime.config import Settings

WEB = Path(__file__).with_name("web")
#: what a name typed on the local sign-in may look like (it becomes the token's ``sub``)
LOCAL_NAME = msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")
LOCAL_TOKEN_TTL_S = 8 * 3600

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


class AuthConfig(msgspec.Struct, frozen=True):
    #: ``local``: sign in with a name (``POST /auth/local/sign-in``); ``token``: paste a bearer token
    mode: str
    issuer: str | None


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


def _assets() -> dict[str, _Asset]:
    out: dict[str, _Asset] = {}
    for path in sorted(WEB.iterdir()):
        if path.suffix in _TYPES and path.is_file():
            body = path.read_bytes()
            out[path.name] = _Asset(body, _TYPES[path.suffix], f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return out


def storage_origins(settings: Settings) -> str:
    """Where presigned URLs point: the configured endpoint's origin (the emulator), else S3 on AWS."""
    if settings.aws.endpoint:
        u = urllib.parse.urlsplit(settings.aws.endpoint)
        return f"{u.scheme}://{u.netloc}"
    return "https://*.amazonaws.com"


def content_security_policy(settings: Settings) -> str:
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' blob: data:",
            f"connect-src 'self' {storage_origins(settings)}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


def routes(settings: Settings, issuer: LocalIssuer | None) -> list[HTTPRouteHandler]:
    """The page's routes (all public): ``/``, ``/static/{name}``, ``/auth/config`` and, with the local
    issuer, ``/auth/local/sign-in``."""
    assets = _assets()
    csp = content_security_policy(settings)
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
        """How a browser signs in here: ``local`` (the embedded stack) or ``token`` (paste a bearer token)."""
        if issuer is not None:
            return AuthConfig(mode="local", issuer=issuer.issuer)
        return AuthConfig(mode="token", issuer=None)

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
