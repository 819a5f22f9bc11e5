"""The token verifier on its own: which tokens it accepts (Cognito ID and access tokens, the local issuer's),
which it refuses, the JWKS over HTTP with its cache, and the local issuer's key file."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from services.api.auth import (
    KEY_FILE,
    LEEWAY_S,
    Caller,
    InvalidToken,
    KeysUnavailable,
    LocalIssuer,
    NoLocalIssuer,
    RemoteKeys,
    StaticKeys,
    TokenVerifier,
)
from shared.runtime.config import AuthSettings, Settings

POOL = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example"
CLIENT = "4f0c2a1b8d9e7f6a5b4c3d2e1f"


class Pool:
    """A stand-in Cognito user pool: an RSA key, its JWKS, and tokens shaped like Cognito's."""

    def __init__(self, kid: str = "pool-key-1") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = kid

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": "RS256", "use": "sig"}]}

    def sign(self, claims: dict[str, Any], *, kid: str | None = None, alg: str = "RS256") -> str:
        return jwt.encode(claims, self.key, algorithm=alg, headers={"kid": kid or self.kid})

    def id_token(self, **over: Any) -> str:
        now = int(time.time())
        claims = {
            "sub": "1b2c3d4e-user",
            "aud": CLIENT,
            "iss": POOL,
            "token_use": "id",
            "iat": now,
            "exp": now + 3600,
            "cognito:username": "alice",
        }
        return self.sign({k: v for k, v in {**claims, **over}.items() if v is not None})

    def access_token(self, **over: Any) -> str:
        now = int(time.time())
        claims = {
            "sub": "1b2c3d4e-user",
            "client_id": CLIENT,
            "iss": POOL,
            "token_use": "access",
            "scope": "openid",
            "iat": now,
            "exp": now + 3600,
        }
        return self.sign({k: v for k, v in {**claims, **over}.items() if v is not None})


@pytest.fixture(scope="module")
def pool() -> Pool:
    return Pool()


@pytest.fixture(scope="module")
def verifier(pool: Pool) -> TokenVerifier:
    return TokenVerifier(issuer=POOL, audience=CLIENT, keys=StaticKeys(pool.jwks()))


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token)
    return caught.value.reason


def test_cognito_id_and_access_tokens_are_accepted_and_the_caller_is_the_sub(
    pool: Pool, verifier: TokenVerifier
) -> None:
    assert verifier.verify(pool.id_token()) == Caller(sub="1b2c3d4e-user", token_use="id")
    assert verifier.verify(pool.access_token()) == Caller(sub="1b2c3d4e-user", token_use="access")
    assert verifier.verify(pool.id_token(aud=["other", CLIENT])).sub == "1b2c3d4e-user"


def test_tokens_for_another_client_or_of_another_use_are_refused(pool: Pool, verifier: TokenVerifier) -> None:
    assert "audience" in refused(verifier, pool.id_token(aud="another-client"))
    assert "audience" in refused(verifier, pool.id_token(aud=None))  # an ID token must name its audience
    assert "client" in refused(verifier, pool.access_token(client_id="another-client"))
    assert "client" in refused(verifier, pool.access_token(client_id=None))
    assert refused(verifier, pool.id_token(token_use="refresh"))
    assert refused(verifier, pool.access_token(token_use=None))  # no aud and not an access token


def test_required_claims_issuer_and_clock(pool: Pool, verifier: TokenVerifier) -> None:
    for claim in ("exp", "iat", "sub", "iss"):
        assert refused(verifier, pool.id_token(**{claim: None})), claim
    assert "issuer" in refused(verifier, pool.id_token(iss="https://cognito-idp.example/other-pool"))
    assert "subject" in refused(verifier, pool.id_token(sub=""))
    now = int(time.time())
    # clock skew: a few seconds either way is tolerated, more is not
    assert verifier.verify(pool.id_token(exp=now - LEEWAY_S // 2, iat=now - 3600))
    assert verifier.verify(pool.id_token(iat=now + LEEWAY_S // 2))
    assert (
        refused(verifier, pool.id_token(exp=now - LEEWAY_S - 30, iat=now - 3600)) == "the token has expired"
    )
    assert "not valid yet" in refused(verifier, pool.id_token(iat=now + 300))
    assert "not valid yet" in refused(verifier, pool.id_token(nbf=now + 300))
    with pytest.raises(ValueError, match="between 0 and 30"):
        TokenVerifier(issuer=POOL, audience=CLIENT, keys=StaticKeys(pool.jwks()), leeway_s=60)


def test_forged_tokens_are_refused(pool: Pool, verifier: TokenVerifier) -> None:
    impostor = Pool(kid=pool.kid)  # another key claiming the pool's key id
    assert "bad signature" in refused(verifier, impostor.id_token())
    assert "unknown signing key" in refused(verifier, Pool(kid="other-kid").id_token())
    # the public key used as an HMAC secret (alg confusion), and an unsigned token
    public_pem = pool.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = jwt.decode(pool.id_token(), options={"verify_signature": False})
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "kid": pool.kid}).encode()).decode()
    payload = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert refused(verifier, f"{header}.{payload}.{jwt.utils.base64url_encode(mac).decode()}")
    none = jwt.utils.base64url_encode(json.dumps({"alg": "none", "kid": pool.kid}).encode()).decode()
    assert refused(verifier, f"{none}.{payload}.")
    # a valid token with its payload swapped
    head, _, sig = pool.id_token().split(".")
    other = jwt.utils.base64url_encode(json.dumps({**claims, "sub": "mallory"}).encode()).decode()
    assert "bad signature" in refused(verifier, f"{head}.{other}.{sig}")
    for junk in ("", "abc", "a.b.c", "x" * 9000, "Bearer", "....", "eyJ.eyJ.sig"):
        assert refused(verifier, junk), junk


# --------------------------------------------------------------------------- the JWKS over HTTP
class JwksServer:
    """Serves a JWKS document at /.well-known/jwks.json and counts the fetches."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.fetches = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.fetches += 1
                body = json.dumps(server.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server(pool: Pool) -> Iterator[JwksServer]:
    server = JwksServer(pool.jwks())
    try:
        yield server
    finally:
        server.close()


def test_keys_fetched_over_http_are_cached_and_a_rotated_key_is_picked_up(
    pool: Pool, jwks_server: JwksServer
) -> None:
    verifier = TokenVerifier.configured(AuthSettings(issuer=POOL, audience=CLIENT, jwks_url=jwks_server.url))
    assert isinstance(verifier.keys, RemoteKeys) and verifier.keys.may_block
    for _ in range(20):
        assert verifier.verify(pool.access_token()).sub == "1b2c3d4e-user"
    assert jwks_server.fetches == 1

    rotated = Pool(kid="pool-key-2")
    jwks_server.document = {"keys": pool.jwks()["keys"] + rotated.jwks()["keys"]}
    verifier.keys._client.cooldown_duration = 0  # no 30 s wait for a rotated key in a test
    assert verifier.verify(rotated.id_token()).sub == "1b2c3d4e-user"
    assert jwks_server.fetches == 2


def test_an_unreachable_jwks_is_the_apis_problem_not_the_callers(pool: Pool) -> None:
    server = JwksServer(pool.jwks())
    url = server.url
    server.close()
    verifier = TokenVerifier(issuer=POOL, audience=CLIENT, keys=RemoteKeys(url, timeout_s=2))
    with pytest.raises(KeysUnavailable):
        verifier.verify(pool.id_token())


def test_configuration_from_the_environment() -> None:
    with pytest.raises(RuntimeError, match="SHOEBOX_AUTH_ISSUER"):
        TokenVerifier.configured(Settings.from_env({}).auth)
    env = {"SHOEBOX_AUTH_ISSUER": POOL + "/", "SHOEBOX_AUTH_AUDIENCE": CLIENT}
    v = TokenVerifier.configured(Settings.from_env(env).auth)
    assert v.issuer == POOL and v.audience == CLIENT
    assert isinstance(v.keys, RemoteKeys) and v.keys.url == f"{POOL}/.well-known/jwks.json"


# --------------------------------------------------------------------------- the local issuer
def test_the_local_issuer_keeps_its_key_private_and_stable(tmp_path: Path) -> None:
    with pytest.raises(NoLocalIssuer, match="no Shoebox stack has run"):
        LocalIssuer.load(tmp_path)
    first = LocalIssuer.load_or_create(tmp_path)
    path = tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = LocalIssuer.load_or_create(tmp_path)
    assert again.kid == first.kid and again.jwks() == first.jwks()
    [jwk] = first.jwks()["keys"]
    assert set(jwk) >= {"kty", "n", "e", "kid", "alg"} and "d" not in jwk  # public members only

    token = first.issue("alice", 60)
    assert again.verifier().verify(token) == Caller(sub="alice", token_use="id")
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == "shoebox-local" and claims["aud"] == "shoebox"
    assert claims["exp"] - claims["iat"] == 60
    assert refused(LocalIssuer.generate().verifier(), token)  # another stack's issuer
