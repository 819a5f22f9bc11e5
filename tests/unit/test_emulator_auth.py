"""The emulator's signature check (deploy/local/emulator_auth.py) on requests botocore signs, in process:
what botocore signs goes through, for every kind of signature the stack's clients make; each change an
attacker could make to a signed request is refused. The stack-level attacks are in tests/security."""

from __future__ import annotations

import io
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from deploy.local import credentials
from deploy.local.credentials import Credentials
from deploy.local.emulator_auth import SignedOnly, Verifier, refusal_response, signed_headers
from shared.runtime.config import Settings

KEYS = Credentials.generate()
HOST = "127.0.0.1:4566"


def environ(request: AWSRequest, body: bytes = b"") -> dict[str, Any]:
    """The WSGI environ waitress gives for ``request`` (its URL as sent, its headers, its body)."""
    u = urlsplit(request.url)
    env: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "REQUEST_URI": u.path + (f"?{u.query}" if u.query else ""),
        "PATH_INFO": u.path,
        "QUERY_STRING": u.query,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "HTTP_HOST": HOST,
    }
    for name, value in request.headers.items():
        value = value.decode() if isinstance(value, bytes) else value
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    if body:
        env["CONTENT_LENGTH"] = str(len(body))
    return env


def s3_put(
    key: str = "uploads/s/a%20b.jpg", body: bytes = b"photo", keys: Credentials = KEYS
) -> dict[str, Any]:
    request = AWSRequest(
        "PUT", f"http://{HOST}/media/{key}", data=body, headers={"Content-Type": "image/jpeg"}
    )
    S3SigV4Auth(BotoCredentials(keys.access_key_id, keys.secret_access_key), "s3", "us-east-1").add_auth(
        request
    )
    return environ(request, body)


def ddb_call(body: bytes = b'{"TableName": "events"}') -> dict[str, Any]:
    request = AWSRequest(
        "POST",
        f"http://{HOST}/",
        data=body,
        headers={"X-Amz-Target": "DynamoDB_20120810.Query", "Content-Type": "application/x-amz-json-1.0"},
    )
    SigV4Auth(BotoCredentials(KEYS.access_key_id, KEYS.secret_access_key), "dynamodb", "us-east-1").add_auth(
        request
    )
    return environ(request, body)


def presigned_put(size: int, expires: int = 60) -> str:
    request = AWSRequest(
        "PUT",
        f"http://{HOST}/media/uploads/s/x.jpg",
        headers={"Content-Length": str(size), "Content-Type": "image/jpeg"},
    )
    S3SigV4QueryAuth(
        BotoCredentials(KEYS.access_key_id, KEYS.secret_access_key), "s3", "us-east-1", expires=expires
    ).add_auth(request)
    return str(request.url)


def put_to(url: str, body: bytes) -> dict[str, Any]:
    request = AWSRequest("PUT", url, headers={"Content-Type": "image/jpeg", "Content-Length": str(len(body))})
    return environ(request, body)


def check(env: dict[str, Any], clock: float | None = None) -> str | None:
    refusal = Verifier(KEYS, clock=(lambda: clock) if clock else time.time).check(env)
    return None if refusal is None else refusal.s3_code


def test_what_botocore_signs_goes_through() -> None:
    assert check(s3_put()) is None
    assert check(ddb_call()) is None
    assert check(put_to(presigned_put(5), b"12345")) is None
    url = f"http://{HOST}/moto-api/config"
    body = b'{"stepfunctions": {}}'
    headers = signed_headers(KEYS, "POST", url, body=body)
    assert check(environ(AWSRequest("POST", url, headers=headers), body)) is None


def test_the_body_stays_readable_for_moto_after_the_check() -> None:
    env = s3_put(body=b"the photo")
    assert check(env) is None
    assert env["wsgi.input"].read() == b"the photo"


#: each change to a signed request, made when the test runs (a request signed at collection would have
#: expired by then in a long run)
CHANGED: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "testing-keys": (
        lambda: s3_put(keys=Credentials(access_key_id="testing", secret_access_key="testing")),
        "InvalidAccessKeyId",
    ),
    "wrong-secret": (
        lambda: s3_put(keys=Credentials(access_key_id=KEYS.access_key_id, secret_access_key="x")),
        "SignatureDoesNotMatch",
    ),
    "other-key": (
        lambda: {**s3_put(), "REQUEST_URI": "/media/uploads/other/a%20b.jpg"},
        "SignatureDoesNotMatch",
    ),
    "other-method": (lambda: {**s3_put(), "REQUEST_METHOD": "DELETE"}, "SignatureDoesNotMatch"),
    "other-content-type": (lambda: {**s3_put(), "CONTENT_TYPE": "text/html"}, "SignatureDoesNotMatch"),
    "other-s3-body": (
        lambda: {**s3_put(), "wsgi.input": io.BytesIO(b"forge"), "CONTENT_LENGTH": "5"},
        "XAmzContentSHA256Mismatch",
    ),
    "other-json-body": (
        lambda: {**ddb_call(), "wsgi.input": io.BytesIO(b'{"TableName": "views!"}')},
        "SignatureDoesNotMatch",
    ),
    "unsigned": (lambda: {k: v for k, v in s3_put().items() if k != "HTTP_AUTHORIZATION"}, "AccessDenied"),
    "8-MiB-for-100-bytes": (
        lambda: put_to(presigned_put(100), b"x" * 8 * 1024 * 1024),
        "SignatureDoesNotMatch",
    ),
    "longer-expiry": (
        lambda: put_to(presigned_put(5).replace("X-Amz-Expires=60", "X-Amz-Expires=600"), b"12345"),
        "SignatureDoesNotMatch",
    ),
}


@pytest.mark.parametrize("change", CHANGED)
def test_a_changed_request_is_refused(change: str) -> None:
    make, code = CHANGED[change]
    assert check(make()) == code


def test_time_limits_are_aws_s() -> None:
    now = time.time()
    assert check(s3_put(), clock=now + 14 * 60) is None
    assert check(s3_put(), clock=now + 16 * 60) == "RequestTimeTooSkewed"
    assert check(s3_put(), clock=now - 16 * 60) == "RequestTimeTooSkewed"
    url = presigned_put(5, expires=60)
    assert check(put_to(url, b"12345"), clock=now + 50) is None
    assert check(put_to(url, b"12345"), clock=now + 70) == "AccessDenied"  # Request has expired


def test_preflights_pass_unsigned_and_the_control_api_only_signed_on_its_paths() -> None:
    preflight = {
        "REQUEST_METHOD": "OPTIONS",
        "REQUEST_URI": "/media/uploads/s/x.jpg",
        "PATH_INFO": "/media/uploads/s/x.jpg",
        "HTTP_ORIGIN": "http://127.0.0.1:8000",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "PUT",
    }
    assert check(preflight) is None
    assert (
        check({**preflight, "REQUEST_URI": "/moto-api/reset", "PATH_INFO": "/moto-api/reset"})
        == "AccessDenied"
    )
    url = f"http://{HOST}/moto-api/seed"
    assert (
        check(environ(AWSRequest("POST", url, headers=signed_headers(KEYS, "POST", url)))) == "AccessDenied"
    )


def test_refusals_are_shaped_as_each_protocol_answers() -> None:
    app = SignedOnly(lambda env, start: [b"moto"], KEYS)
    answered: list[Any] = []
    body = b"".join(
        app({**ddb_call(), "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 x"}, lambda *a: answered.append(a))
    )
    assert answered[0][0] == "403 Forbidden" and b'"__type":"MissingAuthenticationTokenException"' in body
    refusal = Verifier(KEYS).check({**s3_put(), "HTTP_X_AMZ_DATE": "20000101T000000Z"})
    assert refusal is not None
    status, _, xml = refusal_response(s3_put(), refusal)
    assert status == "403 Forbidden" and b"<Code>RequestTimeTooSkewed</Code>" in xml


def test_a_state_folder_keeps_its_credentials_0600(tmp_path: Path) -> None:
    made = credentials.load_or_create(tmp_path)
    path = credentials.credentials_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert credentials.load_or_create(tmp_path) == made  # a restarted stack keeps them
    assert made != credentials.load_or_create(tmp_path / "another")
    assert made.secret_access_key not in repr(made)
    settings = made.applied_to(Settings())
    assert Credentials.of(settings) == made
