"""A stand-in for the Cognito hosted UI (its OAuth 2.0 endpoints), and the API configured to trust it.

``FakeHostedUI`` is a tiny HTTP server on a free port of 127.0.0.1 that checks what Cognito checks for a
public app client using the authorization code flow with PKCE:

- ``GET /oauth2/authorize`` records the request, checks the client, the redirect URI (one of the client's
  callback URLs, exactly), ``response_type=code`` and an S256 challenge, and sends the browser back to the
  redirect URI with ``?code=…&state=…`` at once (nobody types a password here). ``refuse`` sends it back with
  ``?error=access_denied&error_description=…`` instead; ``tamper_state`` with another state than the one
  given; ``corrupt_challenge`` keeps a challenge that no verifier matches (as if the page sent another).
- ``POST /oauth2/token`` (a form; CORS for the page's origin) exchanges a code once: the client id and the
  redirect URI must be the authorization's, and SHA-256 of ``code_verifier`` must be the challenge; else an
  OAuth error (``invalid_grant``) with status 400. It answers an ID token (``aud`` = the client id, the
  authorization's ``nonce``, ``token_use`` ``id``), an access token and a refresh token, signed RS256 with a
  key of its own. ``grant_type=refresh_token`` answers a new ID token for a refresh token it issued.
- ``GET /.well-known/jwks.json``: the key. The issuer is the server's own URL.
- ``GET /logout`` records the request, checks the client and that ``logout_uri`` is one of its sign-out URLs,
  and sends the browser there.

Every request is recorded in ``authorizations``, ``token_requests`` (the decoded forms) and ``logouts``.

``oauth_api()`` starts one, and the API (in this process, on in-memory collaborators, served by uvicorn on
another port) configured with its issuer, JWKS, client id and hosted UI URL, as Terraform configures it on
AWS.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import msgspec
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from services.api.app import create_app
from services.api.wiring import Collaborators
from shared.runtime.config import ApiSettings, AuthSettings, Settings
from tests.support.app import SETTINGS
from tests.support.wait import eventually

CLIENT_ID = "page-client"
#: who signs in on the fake
USER_SUB = "0f6b9e0e-1c1d-4a5e-9c1f-oauth-user"
USER_EMAIL = "traveller@example.com"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Authorization:
    """A code handed out, waiting for its exchange."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    used: bool = False


@dataclass
class FakeHostedUI:
    """The hosted UI's OAuth endpoints for one public client; see the module's doc."""

    callback_urls: list[str]
    logout_urls: list[str]
    client_id: str = CLIENT_ID
    #: how long the first ID token lives (a refreshed one lives an hour)
    id_token_ttl_s: int = 3600
    refuse: bool = False
    tamper_state: bool = False
    corrupt_challenge: bool = False
    authorizations: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    logouts: list[dict[str, str]] = field(default_factory=list)
    #: the ID tokens answered, in order
    id_tokens: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self._codes: dict[str, Authorization] = {}
        self._refresh: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHostedUI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def issuer(self) -> str:
        return self.url

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    # ----------------------------------------------------------------- the endpoints
    def authorize(self, query: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        """An authorization request: (status, headers, JSON body when it is not a redirect)."""
        with self._lock:
            self.authorizations.append(query)
        redirect = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or redirect not in self.callback_urls:
            return 400, {}, {"error": "redirect_mismatch"}  # Cognito shows an error page: never redirects
        back: dict[str, str]
        if self.refuse:
            back = {"error": "access_denied", "error_description": "The user said no"}
        elif query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
            back = {"error": "invalid_request", "error_description": "code flow with an S256 challenge only"}
        elif not query.get("code_challenge"):
            back = {"error": "invalid_request", "error_description": "no code_challenge"}
        else:
            code = secrets.token_urlsafe(24)
            challenge = query["code_challenge"]
            with self._lock:
                self._codes[code] = Authorization(
                    client_id=self.client_id,
                    redirect_uri=redirect,
                    challenge=("x" + challenge[1:]) if self.corrupt_challenge else challenge,
                    nonce=query.get("nonce"),
                )
            back = {"code": code}
        if "state" in query:
            back["state"] = "not-" + query["state"] if self.tamper_state else query["state"]
        return 302, {"Location": f"{redirect}?{urllib.parse.urlencode(back)}"}, {}

    def token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """A token request (the decoded form): (status, JSON body)."""
        with self._lock:
            self.token_requests.append(form)
        if form.get("client_id") != self.client_id:
            return 400, {"error": "invalid_client", "error_description": "unknown client"}
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") not in self._refresh:
                return 400, {"error": "invalid_grant", "error_description": "Invalid Refresh Token"}
            return 200, self._tokens(nonce=None, ttl_s=3600, refresh=None)
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._codes.get(form.get("code", ""))
            if grant is None or grant.used:
                return 400, {"error": "invalid_grant", "error_description": "unknown or used code"}
            grant.used = True  # a code is exchanged once, whatever the outcome
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"}
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128:
            return 400, {"error": "invalid_grant", "error_description": "code_verifier missing or malformed"}
        if _b64url(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "code_verifier does not match"}
        return 200, self._tokens(
            nonce=grant.nonce, ttl_s=self.id_token_ttl_s, refresh=secrets.token_urlsafe(32)
        )

    def logout(self, query: dict[str, str]) -> tuple[int, dict[str, str]]:
        with self._lock:
            self.logouts.append(query)
        target = query.get("logout_uri", "")
        if query.get("client_id") != self.client_id or target not in self.logout_urls:
            return 400, {}
        return 302, {"Location": target}

    def _tokens(self, *, nonce: str | None, ttl_s: int, refresh: str | None) -> dict[str, Any]:
        now = int(time.time())
        common = {
            "iss": self.issuer,
            "sub": USER_SUB,
            "iat": now,
            "auth_time": now,
            "jti": secrets.token_hex(8),
        }
        id_claims = {
            **common,
            "aud": self.client_id,
            "token_use": "id",
            "email": USER_EMAIL,
            "cognito:username": "traveller",
            "exp": now + ttl_s,
            **({"nonce": nonce} if nonce else {}),
        }
        access_claims = {
            **common,
            "client_id": self.client_id,
            "token_use": "access",
            "scope": "openid email profile",
            "exp": now + 3600,
        }
        sign = {"algorithm": "RS256", "headers": {"kid": self.kid}}
        id_token = jwt.encode(id_claims, self._key, **sign)  # type: ignore[arg-type]
        with self._lock:
            self.id_tokens.append(id_token)
            if refresh:
                self._refresh.add(refresh)
        answer = {
            "id_token": id_token,
            "access_token": jwt.encode(access_claims, self._key, **sign),  # type: ignore[arg-type]
            "token_type": "Bearer",
            "expires_in": 3600,
        }
        return {**answer, "refresh_token": refresh} if refresh else answer


def _handler(ui: FakeHostedUI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _query(self) -> dict[str, str]:
            return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))

        def _answer(self, status: int, headers: dict[str, str], body: dict[str, Any] | None = None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path
            if path == "/oauth2/authorize":
                status, headers, body = ui.authorize(self._query())
                self._answer(status, headers, body or None)
            elif path == "/logout":
                status, headers = ui.logout(self._query())
                self._answer(status, headers, None if status == 302 else {"error": "bad logout"})
            elif path == "/.well-known/jwks.json":
                self._answer(200, {}, ui.jwks())
            else:
                self._answer(404, {}, {"error": "not found"})

        def do_POST(self) -> None:
            if urllib.parse.urlsplit(self.path).path != "/oauth2/token":
                return self._answer(404, {}, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            # CORS for the page's origins (the callback URLs'): the page reads the answer
            origin = self.headers.get("Origin", "")
            allowed = {f"{u.scheme}://{u.netloc}" for u in map(urllib.parse.urlsplit, ui.callback_urls)}
            cors = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"} if origin in allowed else {}
            if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                return self._answer(400, cors, {"error": "invalid_request", "error_description": "a form"})
            status, body = ui.token(dict(urllib.parse.parse_qsl(raw, keep_blank_values=True)))
            self._answer(status, cors, body)

    return Handler


@dataclass
class OAuthApi:
    """The API trusting a fake hosted UI, and that hosted UI."""

    url: str
    hosted_ui: FakeHostedUI
    settings: Settings

    @property
    def page_url(self) -> str:
        """The page, and where the hosted UI sends the browser back after sign-in and sign-out."""
        return f"{self.url}/"


@contextlib.contextmanager
def oauth_api(**hosted_ui: Any) -> Iterator[OAuthApi]:
    """A fake hosted UI (``hosted_ui``: its switches) and the API configured with its issuer, JWKS, client id
    and URL, on in-memory collaborators, served over HTTP on 127.0.0.1 by uvicorn in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    host = f"127.0.0.1:{sock.getsockname()[1]}"
    url = f"http://{host}"
    with FakeHostedUI(callback_urls=[f"{url}/"], logout_urls=[f"{url}/"], **hosted_ui) as ui:
        settings = msgspec.structs.replace(
            SETTINGS,
            api=ApiSettings(allowed_hosts=host),
            auth=AuthSettings(
                issuer=ui.issuer,
                audience=ui.client_id,
                jwks_url=f"{ui.url}/.well-known/jwks.json",
                hosted_ui_url=ui.url,
            ),
        )
        app = create_app(settings, collaborators=Collaborators.in_memory(settings))
        server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            eventually(lambda: server.started or thread.is_alive() is False, what="the API to start")
            assert server.started, "the API did not start"
            yield OAuthApi(url=url, hosted_ui=ui, settings=settings)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()
