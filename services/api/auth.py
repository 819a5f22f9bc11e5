"""Bearer tokens: RS256 JWTs verified against a JWKS, and the embedded stack's own issuer.

On AWS the tokens come from a Cognito user pool. The API is configured by ``settings.auth``
(``shared.runtime.config``) from the environment:

- ``SHOEBOX_AUTH_ISSUER``: the pool, ``https://cognito-idp.<region>.amazonaws.com/<pool id>``
- ``SHOEBOX_AUTH_AUDIENCE``: the app client id
- ``SHOEBOX_AUTH_JWKS_URL``: the pool's keys (default ``<issuer>/.well-known/jwks.json``)

Accepted tokens (anything else is refused):

- signed with RS256 by a key of the JWKS, found by the header's ``kid``;
- ``iss`` equal to the issuer; ``exp``, ``iat``, ``sub`` and ``iss`` present; ``exp``/``iat``/``nbf`` checked
  with ``LEEWAY_S`` of clock skew; a lifetime (``exp - iat``) of at most ``MAX_TOKEN_LIFETIME_S`` (7 days);
- either an **ID token** (``aud`` is or contains the audience; ``token_use`` absent or ``"id"``), or a
  Cognito **access token** (``token_use`` is ``"access"`` and ``client_id`` is the audience: Cognito's access
  tokens carry no ``aud``; if one has an ``aud`` it must contain the audience too).

The caller is the token's ``sub``: it owns the sessions it creates.

On the embedded stack a ``LocalIssuer`` signs the tokens: an RSA key generated on the stack's first start and
kept in ``<state_dir>/auth/issuer.pem`` (0600), the fixed issuer ``shoebox-local`` (so a token minted by
``shoebox dev-token`` stays valid across restarts of a stack in the same state directory, on any port) and
the audience ``shoebox``. Its JWKS is served by the local API at ``/.well-known/jwks.json``; the local API
verifies with the same code as on AWS, from the JWKS document in memory instead of over HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import jwt
import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from shared.runtime.config import AuthSettings

ALGORITHM = "RS256"
LEEWAY_S = 10  # clock skew allowed on exp/iat/nbf; at most 30 s
LOCAL_ISSUER = "shoebox-local"
LOCAL_AUDIENCE = "shoebox"
JWKS_PATH = "/.well-known/jwks.json"
KEY_FILE = Path("auth") / "issuer.pem"
MAX_TOKEN_CHARS = 8192
#: the longest a token may live (``exp - iat``): the embedded stack's issuer signs no longer one, and the
#: verifier refuses one that does (a token minted before the cap, or by hand with the key). The local key
#: never rotates and a token cannot be revoked short of deleting it, so a leaked token (a shell history, a
#: pasted curl) must run out on its own; a week covers a working week of scripts, while the CLI's jobs take
#: 12 h and the page 8 h. Cognito's ID and access tokens live a day at most, so this never refuses one.
MAX_TOKEN_LIFETIME_S = 7 * 24 * 3600
#: what a local user's name (a local token's ``sub``) may look like: the page's sign-in and ``shoebox
#: dev-token`` take the same names
LOCAL_SUB_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"
LOCAL_SUB_MAX = 64
_REQUIRED = ["exp", "iat", "sub", "iss"]


class InvalidToken(Exception):
    """The request carries no usable token (HTTP 401). ``missing``: no credentials were sent at all."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.missing = missing


class KeysUnavailable(Exception):
    """The JWKS could not be fetched: the API's problem, not the caller's (HTTP 503)."""


class NoLocalIssuer(Exception):
    """No embedded stack has run in this state directory, so there is no key to sign tokens with."""


class Caller(msgspec.Struct, frozen=True):
    """Who is calling: the token's subject, and what kind of token it was."""

    sub: str
    token_use: str  # "id" | "access"


class KeySet(Protocol):
    """Where the signing keys come from."""

    #: True when a lookup may do network I/O (the verifier then runs it off the event loop)
    may_block: bool

    def key(self, kid: str) -> jwt.PyJWK:
        """The key with this id; raises ``jwt.PyJWTError`` when there is none."""
        ...


class RemoteKeys:
    """A JWKS over HTTP(S) (Cognito's), cached by PyJWKClient: the set for ``lifespan_s``, and an unknown
    ``kid`` refetches at most once per cooldown (key rotation without letting junk tokens hammer Cognito)."""

    may_block = True

    def __init__(self, url: str, *, lifespan_s: float = 3600, timeout_s: float = 5) -> None:
        self.url = url
        self._client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=lifespan_s, timeout=timeout_s)

    def key(self, kid: str) -> jwt.PyJWK:
        try:
            return self._client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            raise KeysUnavailable(f"cannot fetch the signing keys from {self.url}") from exc


class StaticKeys:
    """A JWKS document already in memory (the embedded stack's issuer)."""

    may_block = False

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._set = jwt.PyJWKSet.from_dict(dict(jwks))

    def key(self, kid: str) -> jwt.PyJWK:
        for k in self._set.keys:
            if k.key_id == kid:
                return k
        raise jwt.InvalidKeyError(f"no signing key with kid {kid!r}")


class TokenVerifier:
    """Verifies bearer tokens for one issuer and audience; see the module's doc for what it accepts."""

    def __init__(self, *, issuer: str, audience: str, keys: KeySet, leeway_s: float = LEEWAY_S) -> None:
        if not 0 <= leeway_s <= 30:
            raise ValueError(f"leeway_s must be between 0 and 30 s, not {leeway_s}")
        if not issuer or not audience:
            raise ValueError("an issuer and an audience are required")
        self.issuer = issuer
        self.audience = audience
        self.keys = keys
        self.leeway_s = leeway_s

    @classmethod
    def configured(cls, auth: AuthSettings) -> TokenVerifier:
        """Cognito (or any OIDC issuer) from ``settings.auth``: ``SHOEBOX_AUTH_ISSUER``/``_AUDIENCE``/
        ``_JWKS_URL``."""
        issuer = auth.issuer.rstrip("/")
        audience = auth.audience
        if not issuer or not audience:
            raise RuntimeError(
                "the API needs SHOEBOX_AUTH_ISSUER and SHOEBOX_AUTH_AUDIENCE (the Cognito user pool URL and "
                "the app client id) to verify bearer tokens"
            )
        url = auth.jwks_url or f"{issuer}{JWKS_PATH}"
        return cls(issuer=issuer, audience=audience, keys=RemoteKeys(url))

    def verify(self, token: str) -> Caller:
        """The caller, or ``InvalidToken`` saying what is wrong (``KeysUnavailable`` if the JWKS is down)."""
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise InvalidToken("the bearer token is empty or too long")
        try:
            header = _header(token)
            kid = header.get("kid")
            if header.get("alg") != ALGORITHM or not isinstance(kid, str):
                raise InvalidToken(f"the token must be signed with {ALGORITHM} and name its key (kid)")
            claims = jwt.decode(
                token,
                key=self.keys.key(kid),
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": _REQUIRED, "verify_aud": False},  # audience: checked below, both shapes
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"the token is not valid here ({_reason(exc)})") from None
        if claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME_S:
            raise InvalidToken(f"the token lives longer than {MAX_TOKEN_LIFETIME_S} s; get a new one")
        return Caller(sub=_subject(claims), token_use=self._check_audience(claims))

    def _check_audience(self, claims: Mapping[str, Any]) -> str:
        token_use = claims.get("token_use", "id")
        aud = claims.get("aud")
        if aud is not None:
            audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
            if self.audience not in audiences:
                raise InvalidToken("the token is for another audience")
        if token_use == "access":
            if claims.get("client_id") != self.audience:
                raise InvalidToken("the access token is for another client")
        elif token_use != "id" or aud is None:
            raise InvalidToken("the token is for another audience")
        return str(token_use)


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read before verifying to find the key (PyJWT's own reader decodes every segment)."""
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except ValueError:
        raise jwt.DecodeError("the token's header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise jwt.DecodeError("the token's header is not a JSON object")
    return header


def _subject(claims: Mapping[str, Any]) -> str:
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 256:
        raise InvalidToken("the token's subject (sub) is not usable")
    return sub


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.InvalidSignatureError):
        return "bad signature"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"no {exc.claim} claim"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "not valid yet"
    if isinstance(exc, jwt.InvalidKeyError | jwt.PyJWKClientError | jwt.PyJWKSetError):
        return "unknown signing key"
    return "malformed"


# --------------------------------------------------------------------------- the embedded stack's issuer
class LocalIssuer:
    """Signs tokens for the embedded stack; ``jwks()`` is what its API publishes and trusts."""

    issuer = LOCAL_ISSUER
    audience = LOCAL_AUDIENCE

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self._key = private_key
        public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
        self.kid = _thumbprint(public)
        self._jwk: dict[str, Any] = {**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    @classmethod
    def generate(cls) -> LocalIssuer:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def load(cls, state_dir: Path | str) -> LocalIssuer:
        """The issuer of the stack that ran in ``state_dir``; ``NoLocalIssuer`` when none has."""
        path = Path(state_dir) / KEY_FILE
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            raise NoLocalIssuer(
                f"no Shoebox stack has run in {state_dir} (no {path}): start one with `shoebox up`"
            ) from None
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise NoLocalIssuer(f"{path} does not hold an RSA private key")
        return cls(key)

    @classmethod
    def load_or_create(cls, state_dir: Path | str) -> LocalIssuer:
        """The state directory's issuer, made (and saved 0600) on the first start of a stack there."""
        try:
            return cls.load(state_dir)
        except NoLocalIssuer:
            pass
        issuer = cls.generate()
        issuer.save(state_dir)
        return issuer

    def save(self, state_dir: Path | str) -> Path:
        path = Path(state_dir) / KEY_FILE
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        pem = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        return path

    def jwks(self) -> dict[str, Any]:
        return {"keys": [dict(self._jwk)]}

    def verifier(self) -> TokenVerifier:
        """A verifier that trusts this issuer, reading its JWKS in memory."""
        return TokenVerifier(issuer=self.issuer, audience=self.audience, keys=StaticKeys(self.jwks()))

    def issue(
        self,
        sub: str,
        ttl_s: float = 3600,
        *,
        now: float | None = None,
        audience: str | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed ID-style token for ``sub``, valid for ``ttl_s`` (at most ``MAX_TOKEN_LIFETIME_S``) from
        ``now`` (default: the clock)."""
        if not sub:
            raise ValueError("a token needs a subject")
        if ttl_s > MAX_TOKEN_LIFETIME_S:
            raise ValueError(f"a token lives at most {MAX_TOKEN_LIFETIME_S} s, not {ttl_s}")
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": self.audience if audience is None else audience,
            "iat": issued,
            "exp": issued + int(ttl_s),
            "jti": uuid.uuid4().hex,
            **(extra or {}),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})


def _thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638: the SHA-256 of the key's required members, canonical JSON, base64url."""
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
