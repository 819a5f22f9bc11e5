"""Signed requests only: a WSGI middleware in front of moto's application that refuses, as AWS does, every
request not signed (AWS Signature Version 4) with the stack's own credentials.

moto checks no signature: anything that reaches the emulator's port could list, read and write the media
bucket (an unsigned form POST, which any web page can send without a preflight), or wipe the emulator
through its control API (``/moto-api/reset``). Here each request is checked before moto sees it:

- it carries an ``Authorization: AWS4-HMAC-SHA256 ...`` header, or a presigned query (``X-Amz-Credential``,
  ``X-Amz-Signature``, ...); anything else is refused (``AccessDenied`` / ``MissingAuthenticationToken``);
- its access key is the stack's (``InvalidAccessKeyId`` / ``UnrecognizedClientException``);
- its ``X-Amz-Date`` is within AWS's 15 minutes of now (``RequestTimeTooSkewed``), and a presigned URL is
  used before ``X-Amz-Date + X-Amz-Expires`` (``AccessDenied: Request has expired``);
- its signature is the one botocore's own signer computes for the request as it arrived: the request is
  rebuilt (method, the raw URI as sent, the signed headers only) as a ``botocore.awsrequest.AWSRequest``
  with ``context["timestamp"]`` from ``X-Amz-Date``, and ``SigV4Auth`` / ``S3SigV4Auth`` /
  ``SigV4QueryAuth`` / ``S3SigV4QueryAuth`` (by the scope's service and the kind of signature) give the
  canonical request, the string to sign and the signature, compared in constant time
  (``SignatureDoesNotMatch`` / ``InvalidSignatureException``);
- for S3, ``x-amz-content-sha256`` (signed) is the body's SHA-256 unless it is ``UNSIGNED-PAYLOAD``
  (``XAmzContentSHA256Mismatch``, 400, as S3 answers). A presigned PUT whose ``Content-Length`` was signed
  (``shared/runtime/storage.py``) takes no body of another length: the header is part of the signature,
  and the server reads exactly that many bytes.

CORS preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) carry no signature on
AWS either: they go through to moto's S3, which answers from the bucket's CORS rule. The control API
answers only signed requests, and only on the paths the stack uses (``CONTROL_PATHS``).

Refusals are AWS-shaped, so the SDKs raise their usual errors: S3's ``<Error>`` XML, the JSON protocols'
``{"__type", "message"}``, the query protocol's ``<ErrorResponse>``.
"""

from __future__ import annotations

import calendar
import hmac
import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from hashlib import sha256
from typing import IO, Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

import msgspec
from botocore.auth import (
    SIGV4_TIMESTAMP,
    UNSIGNED_PAYLOAD,
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
    SigV4QueryAuth,
)
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from deploy.local.credentials import Credentials

log = logging.getLogger("shoebox.emulator_auth")

ALGORITHM = "AWS4-HMAC-SHA256"
#: AWS refuses a request signed more than 15 minutes before or after its own clock
MAX_SKEW_S = 15 * 60
#: the longest a presigned URL may be valid (SigV4: seven days)
MAX_EXPIRES_S = 7 * 24 * 3600
#: the control API paths the stack and its tests use: the dashboard (the readiness probe), moto's
#: configuration (``configure``: state machine execution) and the reset (tests). Every other one
#: (seed, recorder, proxy, state manager, static results, data.json) is refused even when signed.
CONTROL_PATHS = frozenset({"/moto-api/", "/moto-api/config", "/moto-api/reset"})
_HASH_CHUNK = 1 << 20


class Refusal(msgspec.Struct, frozen=True):
    """Why a request is refused: its HTTP status, the S3 error code and the JSON protocols' one."""

    status: int
    s3_code: str
    code: str
    message: str


def _missing(message: str) -> Refusal:
    return Refusal(403, "AccessDenied", "MissingAuthenticationTokenException", message)


def _bad_signature(message: str) -> Refusal:
    return Refusal(403, "SignatureDoesNotMatch", "InvalidSignatureException", message)


def _expired(message: str) -> Refusal:
    return Refusal(403, "AccessDenied", "InvalidSignatureException", message)


_UNKNOWN_KEY = Refusal(
    403,
    "InvalidAccessKeyId",
    "UnrecognizedClientException",
    "The AWS Access Key Id you provided does not exist in our records.",
)
_CONTROL_REFUSED = Refusal(
    403, "AccessDenied", "AccessDeniedException", "The emulator's control API is closed."
)


class _Scope(msgspec.Struct, frozen=True):
    access_key_id: str
    date: str
    region: str
    service: str


def _scope(credential: str) -> _Scope | None:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts[:4]):
        return None
    return _Scope(*parts[:4])


def _header(environ: Mapping[str, Any], name: str) -> str | None:
    """The value of the request header ``name`` (lower case) as the WSGI server gave it."""
    if name == "content-type":
        value = environ.get("CONTENT_TYPE")
    elif name == "content-length":
        value = environ.get("CONTENT_LENGTH")
    else:
        value = environ.get("HTTP_" + name.upper().replace("-", "_"))
    return None if value is None else str(value)


def _raw_uri(environ: Mapping[str, Any]) -> str:
    """The path and query as the client sent them (percent-encoding kept): what it signed."""
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if uri:
        uri = str(uri)
        if "://" in uri.split("?", 1)[0]:  # absolute form: keep the path and query
            uri = "/" + uri.split("://", 1)[1].partition("/")[2]
        return uri
    from urllib.parse import quote

    path = quote(str(environ.get("PATH_INFO", "")).encode("latin-1"), safe="/~!$&'()*+,;=:@%")
    query = environ.get("QUERY_STRING")
    return f"{path}?{query}" if query else path


def _parse_timestamp(value: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(value, SIGV4_TIMESTAMP)))
    except ValueError:
        return None


class _Body:
    """The request body, rewindable: hashed (and signed for non-S3 services) without holding it all."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = environ
        self.length = int(environ.get("CONTENT_LENGTH") or 0)
        stream: IO[bytes] = environ["wsgi.input"]
        seekable = getattr(stream, "seekable", None)
        if not (callable(seekable) and seekable()):
            # waitress hands a seekable buffer; another server's stream is spooled once
            spooled = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115  # moto reads it later
            remaining = self.length
            while remaining > 0:
                chunk = stream.read(min(_HASH_CHUNK, remaining))
                if not chunk:
                    break
                spooled.write(chunk)
                remaining -= len(chunk)
            spooled.seek(0)
            environ["wsgi.input"] = stream = spooled
        self.stream = stream
        self.start = stream.tell()

    def sha256(self) -> str:
        digest = sha256()
        remaining = self.length
        while remaining > 0:
            chunk = self.stream.read(min(_HASH_CHUNK, remaining))
            if not chunk:
                break
            digest.update(chunk)
            remaining -= len(chunk)
        self.stream.seek(self.start)
        return digest.hexdigest()


def is_preflight(environ: Mapping[str, Any]) -> bool:
    """A CORS preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``."""
    return (
        str(environ.get("REQUEST_METHOD", "")).upper() == "OPTIONS"
        and "HTTP_ORIGIN" in environ
        and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
    )


def bucket_preflight(environ: dict[str, Any]) -> dict[str, Any]:
    """The preflight asked of its bucket: moto 5.2.5 answers a preflight for an existing object with an
    empty 403 (its object-ACL check runs before the method is looked at), so a page could not upload a
    file again under its name. S3 answers a preflight from the bucket's CORS rule alone, as moto does
    for the bucket itself."""
    bucket = str(environ.get("PATH_INFO", "")).lstrip("/").partition("/")[0]
    return {**environ, "PATH_INFO": f"/{bucket}", "QUERY_STRING": "", "REQUEST_URI": f"/{bucket}"}


class Verifier:
    """Checks one request's signature against the stack's credentials (``check``)."""

    def __init__(self, credentials: Credentials, *, clock: Callable[[], float] = time.time) -> None:
        self.credentials = credentials
        self._boto = BotoCredentials(credentials.access_key_id, credentials.secret_access_key)
        self._clock = clock

    def check(self, environ: dict[str, Any]) -> Refusal | None:
        """None when the request may go on to moto, else why it is refused."""
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        uri = _raw_uri(environ)
        path = uri.partition("?")[0]
        if path.startswith("/moto-api") and unquote(path) not in CONTROL_PATHS:
            return _CONTROL_REFUSED
        if is_preflight(environ) and not path.startswith("/moto-api"):
            return None  # a CORS preflight: unsigned on AWS too; moto answers from the bucket's rule
        authorization = environ.get("HTTP_AUTHORIZATION")
        if authorization:
            return self._check_header(environ, method, uri, str(authorization))
        query = uri.partition("?")[2]
        if "X-Amz-Signature=" in query or "X-Amz-Credential=" in query:
            return self._check_query(environ, method, uri)
        return _missing("Requests to the emulator must be signed with the stack's credentials.")

    # ------------------------------------------------------------------ Authorization header
    def _check_header(
        self, environ: dict[str, Any], method: str, uri: str, authorization: str
    ) -> Refusal | None:
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != ALGORITHM:
            return _missing(f"Only {ALGORITHM} signatures are accepted.")
        fields = dict(
            (k.strip(), v.strip()) for k, _, v in (p.partition("=") for p in rest.split(",")) if k.strip()
        )
        scope = _scope(fields.get("Credential", ""))
        signed = fields.get("SignedHeaders", "")
        claimed = fields.get("Signature", "")
        if scope is None or not signed or not claimed:
            return _missing("The Authorization header is malformed.")
        if scope.access_key_id != self.credentials.access_key_id:
            return _UNKNOWN_KEY
        amz_date = _header(environ, "x-amz-date") or ""
        signed_at = _parse_timestamp(amz_date)
        if signed_at is None:
            return _missing("The request must carry a valid X-Amz-Date header.")
        if abs(self._clock() - signed_at) > MAX_SKEW_S:
            return Refusal(
                403,
                "RequestTimeTooSkewed",
                "InvalidSignatureException",
                "The difference between the request time and the current time is too large.",
            )
        body = _Body(environ)
        names = signed.split(";")
        declared = _header(environ, "x-amz-content-sha256") if "x-amz-content-sha256" in names else None
        if scope.service == "s3" and declared is None:
            return _missing("Missing required header for this request: x-amz-content-sha256")
        if declared is not None and not (declared == UNSIGNED_PAYLOAD and scope.service == "s3"):
            # the canonical request takes the declared hash as it is: the body must match it (S3 checks)
            if len(declared) != 64:  # streaming (chunk-signed) payloads: no client of the stack sends them
                return _bad_signature(f"x-amz-content-sha256 {declared!r} is not accepted here.")
            if not hmac.compare_digest(declared, body.sha256()):
                return Refusal(
                    400,
                    "XAmzContentSHA256Mismatch",
                    "InvalidSignatureException",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                )
        signer = (S3SigV4Auth if scope.service == "s3" else SigV4Auth)(
            self._boto, scope.service, scope.region
        )
        request = self._rebuild(environ, method, uri, names, amz_date, body)
        if request is None:
            return _bad_signature("A signed header is missing from the request.")
        return self._compare(signer, request, claimed)

    # ------------------------------------------------------------------ presigned query
    def _check_query(self, environ: dict[str, Any], method: str, uri: str) -> Refusal | None:
        path, _, query = uri.partition("?")
        pairs = [p.partition("=") for p in query.split("&") if p]
        params = {unquote(k): unquote(v) for k, _, v in pairs}
        if params.get("X-Amz-Algorithm") != ALGORITHM:
            return _missing(f"Only {ALGORITHM} signatures are accepted.")
        scope = _scope(params.get("X-Amz-Credential", ""))
        signed = params.get("X-Amz-SignedHeaders", "")
        claimed = params.get("X-Amz-Signature", "")
        amz_date = params.get("X-Amz-Date", "")
        if scope is None or not signed or not claimed:
            return _missing("The presigned URL is malformed.")
        if scope.access_key_id != self.credentials.access_key_id:
            return _UNKNOWN_KEY
        signed_at = _parse_timestamp(amz_date)
        try:
            expires = int(params.get("X-Amz-Expires", ""))
        except ValueError:
            expires = -1
        if signed_at is None or not 0 < expires <= MAX_EXPIRES_S:
            return _missing("The presigned URL needs a valid X-Amz-Date and X-Amz-Expires.")
        now = self._clock()
        if signed_at - now > MAX_SKEW_S:
            return _expired("Request is not yet valid.")
        if now > signed_at + expires:
            return _expired("Request has expired")
        # the client signed the URL without its signature (botocore appends it last)
        unsigned_query = "&".join(f"{k}{eq}{v}" for k, eq, v in pairs if unquote(k) != "X-Amz-Signature")
        unsigned_uri = f"{path}?{unsigned_query}" if unsigned_query else path
        signer: SigV4Auth
        if scope.service == "s3":
            signer = S3SigV4QueryAuth(self._boto, scope.service, scope.region, expires=expires)
        else:
            signer = SigV4QueryAuth(self._boto, scope.service, scope.region, expires=expires)
        request = self._rebuild(environ, method, unsigned_uri, signed.split(";"), amz_date, None)
        if request is None:
            return _bad_signature("A signed header is missing from the request.")
        return self._compare(signer, request, claimed)

    # ------------------------------------------------------------------ both
    @staticmethod
    def _rebuild(
        environ: Mapping[str, Any],
        method: str,
        uri: str,
        signed: Iterable[str],
        amz_date: str,
        body: _Body | None,
    ) -> AWSRequest | None:
        """The request as the client signed it: its method, URL and signed headers (only those)."""
        headers: dict[str, str] = {}
        for name in signed:
            value = _header(environ, name)
            if value is None:
                return None
            headers[name] = value
        host = headers.get("host") or str(environ.get("HTTP_HOST", ""))
        scheme = str(environ.get("wsgi.url_scheme", "http"))
        request = AWSRequest(
            method=method,
            url=f"{scheme}://{host}{uri}",
            headers=headers,
            data=body.stream if body is not None and body.length else None,
        )
        request.context["timestamp"] = amz_date
        return request

    @staticmethod
    def _compare(signer: SigV4Auth, request: AWSRequest, claimed: str) -> Refusal | None:
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if hmac.compare_digest(expected.encode(), claimed.encode()):
            return None
        return _bad_signature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method."
        )


# ---------------------------------------------------------------------- the answer
def _is_json_protocol(environ: Mapping[str, Any]) -> bool:
    return "HTTP_X_AMZ_TARGET" in environ or "amz-json" in str(environ.get("CONTENT_TYPE", ""))


def refusal_response(
    environ: Mapping[str, Any], refusal: Refusal
) -> tuple[str, list[tuple[str, str]], bytes]:
    """The status line, headers and body of ``refusal``, shaped as the service the request is for answers."""
    request_id = "shoebox-emulator-auth"
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    query = str(environ.get("QUERY_STRING", ""))
    is_s3 = "/s3/aws4_request" in authorization or "%2Fs3%2Faws4_request" in query or "/s3/" in query
    if _is_json_protocol(environ):
        body = msgspec.json.encode({"__type": refusal.code, "message": refusal.message})
        headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", refusal.code)]
    elif is_s3 or not authorization:
        # S3 (and whatever could not say what it is for: an unsigned request)
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refusal.s3_code}</Code>'
            f"<Message>{escape(refusal.message)}</Message><RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml")]
    else:
        code = refusal.s3_code if refusal.s3_code != "AccessDenied" else refusal.code
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
            f"<Message>{escape(refusal.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml")]
    headers.append(("Content-Length", str(len(body))))
    reason = {400: "Bad Request", 403: "Forbidden"}.get(refusal.status, "Forbidden")
    return f"{refusal.status} {reason}", headers, body


class SignedOnly:
    """WSGI middleware: ``app`` sees only requests that ``Verifier`` lets through."""

    def __init__(self, app: Any, credentials: Credentials, *, clock: Callable[[], float] = time.time) -> None:
        self.app = app
        self.verifier = Verifier(credentials, clock=clock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        refusal = self.verifier.check(environ)
        if refusal is None:
            if is_preflight(environ):
                environ = bucket_preflight(environ)
            return self.app(environ, start_response)
        log.warning(
            "refused %s %s from %s: %s (%s)",
            environ.get("REQUEST_METHOD"),
            str(environ.get("PATH_INFO", ""))[:200],
            environ.get("REMOTE_ADDR"),
            refusal.s3_code,
            refusal.message,
        )
        status, headers, body = refusal_response(environ, refusal)
        start_response(status, headers)
        return [body]


# ---------------------------------------------------------------------- the stack's own calls
def signed_headers(
    credentials: Credentials,
    method: str,
    url: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    service: str = "moto-api",
) -> dict[str, str]:
    """The headers that sign a plain HTTP call (the stack's calls to the control API) with botocore's
    signer: ``X-Amz-Date``, ``X-Amz-Content-SHA256`` and ``Authorization`` added to ``headers``."""
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    request.headers["X-Amz-Content-SHA256"] = sha256(body).hexdigest()
    SigV4Auth(
        BotoCredentials(credentials.access_key_id, credentials.secret_access_key), service, region
    ).add_auth(request)
    return {k: str(v) for k, v in request.headers.items()}
