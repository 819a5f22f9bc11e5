"""Issue 12, items 1 and 3: the attacks that got into the running stack's emulator, each now refused.

Each test replays one attack against the embedded stack's emulator (``emulator_only``: the stack's
credentials, its bucket with the CORS rule provisioning gives it) and passes only because the emulator
refuses it (``deploy/local/emulator_auth.py``). Against moto as it was (no signature check, global CORS
``*``, the bucket's rule ``*``), every one of them fails: each gets in.
"""

from __future__ import annotations

import datetime
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import httpx
import msgspec
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from deploy.local import credentials
from deploy.local.credentials import Credentials
from deploy.local.emulator import control
from deploy.local.processes import ProcessPlan
from shared.runtime.storage import S3ObjectStore
from tests.support.stack import RunningStack

pytestmark = pytest.mark.stack

FOREIGN = "http://evil.example"
SESSION = "0b6f3c1e-2f4b-4b8e-9d51-7f1c9e3a1d2b"


class Target:
    """The stack's emulator as an attacker (and the stack) reach it."""

    def __init__(self, stack: RunningStack) -> None:
        self.running = stack
        self.settings = stack.settings
        self.endpoint = stack.settings.aws.endpoint or ""
        self.bucket = stack.settings.names.media_bucket
        keys = Credentials.of(stack.settings)
        assert keys is not None, "the stack runs with its own credentials"
        self.credentials = keys
        self.origins = stack.stack.config.api_origins

    def client(self, service: str, access_key_id: str | None = None, secret: str | None = None) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.settings.aws.region,
            aws_access_key_id=access_key_id or self.credentials.access_key_id,
            aws_secret_access_key=secret or self.credentials.secret_access_key,
            config=Config(
                signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}
            ),
        )

    def url(self, key: str = "") -> str:
        return f"{self.endpoint}/{self.bucket}/{key}" if key else f"{self.endpoint}/{self.bucket}"

    def exists(self, key: str) -> bool:
        listed = self.client("s3").list_objects_v2(Bucket=self.bucket, Prefix=key)
        return any(o["Key"] == key for o in listed.get("Contents", []))


@pytest.fixture(scope="module")
def target(emulator_only: RunningStack) -> Target:
    t = Target(emulator_only)
    t.client("s3").put_object(Bucket=t.bucket, Key=f"uploads/{SESSION}/kept.jpg", Body=b"kept")
    return t


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_the_bucket_is_not_listed_unsigned_from_a_foreign_origin(target: Target) -> None:
    r = httpx.get(target.url(), params={"list-type": "2"}, headers={"Origin": FOREIGN})
    assert r.status_code == 403
    assert "<Code>AccessDenied</Code>" in r.text and f"uploads/{SESSION}" not in r.text
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("key", [f"uploads/{SESSION}/x.jpg", f"thumbnails/{SESSION}/kept.jpg"])
def test_an_unsigned_form_post_writes_nothing(target: Target, key: str) -> None:
    """A form POST, which any web page can send without a preflight: a forged upload or thumbnail."""
    r = httpx.post(
        target.url(),
        data={"key": key, "Content-Type": "image/jpeg"},
        files={"file": ("x.jpg", b"\xff\xd8\xff forged", "image/jpeg")},
        headers={"Origin": FOREIGN},
    )
    assert r.status_code == 403, r.text
    assert not target.exists(key)


@pytest.mark.parametrize("service", ["s3", "dynamodb", "sqs"])
def test_the_well_known_testing_credentials_are_refused(target: Target, service: str) -> None:
    client = target.client(service, "testing", "testing")
    calls: dict[str, Callable[[], Any]] = {
        "s3": lambda: client.list_objects_v2(Bucket=target.bucket),
        "dynamodb": lambda: client.list_tables(),
        "sqs": lambda: client.list_queues(),
    }
    with pytest.raises(ClientError) as exc:
        calls[service]()
    assert code(exc) in ("InvalidAccessKeyId", "UnrecognizedClientException"), exc.value.response


@pytest.mark.parametrize("service", ["s3", "dynamodb"])
def test_a_wrong_signature_is_refused(target: Target, service: str) -> None:
    """The stack's access key id with another secret: the signature cannot match."""
    client = target.client(service, secret="not-the-secret")
    calls: dict[str, Callable[[], Any]] = {
        "s3": lambda: client.put_object(Bucket=target.bucket, Key=f"uploads/{SESSION}/y.jpg", Body=b"forged"),
        "dynamodb": lambda: client.delete_table(TableName=target.settings.names.events_table),
    }
    with pytest.raises(ClientError) as exc:
        calls[service]()
    assert code(exc) in ("SignatureDoesNotMatch", "InvalidSignatureException"), exc.value.response
    assert not target.exists(f"uploads/{SESSION}/y.jpg")


def test_a_signed_body_swapped_for_another_is_refused(target: Target) -> None:
    """A signed PUT replayed with other bytes: the signed ``x-amz-content-sha256`` no longer holds."""
    key = f"uploads/{SESSION}/swap.jpg"
    sent: dict[str, Any] = {}

    def capture(request: Any, **_: Any) -> None:
        sent.update(url=request.url, headers=dict(request.headers), body=request.body)

    s3 = target.client("s3")
    s3.meta.events.register("before-send.s3.PutObject", capture)
    s3.put_object(Bucket=target.bucket, Key=key, Body=b"genuine")
    s3.delete_object(Bucket=target.bucket, Key=key)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in sent["headers"].items()}
    r = httpx.put(sent["url"], content=b"forged!", headers=headers)
    assert r.status_code == 400 and "XAmzContentSHA256Mismatch" in r.text, r.text
    assert not target.exists(key)


def _signed_at(monkeypatch: pytest.MonkeyPatch, ago: datetime.timedelta) -> None:
    """Make botocore sign as if its clock were ``ago`` behind."""
    at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - ago
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: at)


def test_an_expired_presigned_url_is_refused(target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    key = f"uploads/{SESSION}/kept.jpg"
    _signed_at(monkeypatch, datetime.timedelta(hours=2))
    url = target.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": target.bucket, "Key": key}, ExpiresIn=3600
    )
    r = httpx.get(url)
    assert r.status_code == 403 and "Request has expired" in r.text, r.text


def test_a_request_signed_outside_the_clock_skew_is_refused(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    _signed_at(monkeypatch, datetime.timedelta(minutes=20))
    with pytest.raises(ClientError) as exc:
        target.client("s3").list_objects_v2(Bucket=target.bucket)
    assert code(exc) == "RequestTimeTooSkewed"


def test_a_presigned_put_for_100_bytes_takes_no_8_mib(target: Target) -> None:
    """Issue 12, item 3: the API's ticket (``S3ObjectStore.presign_put``) signs the declared length."""
    key = f"uploads/{SESSION}/big.jpg"
    stack = target.running.stack
    store = S3ObjectStore(stack.clients.s3, target.bucket)
    url = target.running.portal.call(lambda: store.presign_put(key, "image/jpeg", 60, size=100))
    assert "content-length" in httpx.URL(url).params["X-Amz-SignedHeaders"].split(";")
    r = httpx.put(url, content=b"x" * (8 << 20), headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 403 and "SignatureDoesNotMatch" in r.text, r.text[:300]
    assert not target.exists(key)
    ok = httpx.put(url, content=b"x" * 100, headers={"Content-Type": "image/jpeg"})
    assert ok.status_code == 200, ok.text
    target.client("s3").delete_object(Bucket=target.bucket, Key=key)


def test_the_control_api_answers_only_the_stack(target: Target) -> None:
    """An unsigned cross-origin POST to ``/moto-api/reset`` wiped the emulator; now nothing but the stack's
    own signed calls reach the control API, and only on the paths the stack uses."""
    reset = f"{target.endpoint}/moto-api/reset"
    assert httpx.post(reset, headers={"Origin": FOREIGN}).status_code == 403
    assert control(target.endpoint, Credentials.generate(), "POST", "/moto-api/reset").status_code == 403
    for path in ("/moto-api/seed?a=42", "/moto-api/data.json", "/moto-api/recorder/download-recording"):
        assert control(target.endpoint, target.credentials, "GET", path).status_code == 403, path
    assert httpx.get(f"{target.endpoint}/moto-api/").status_code == 403
    assert target.exists(f"uploads/{SESSION}/kept.jpg"), "the emulator was wiped"


def test_cors_answers_the_apis_own_origins_only(target: Target) -> None:
    """The headers actually sent: the bucket's rule names the API's origins; moto's global ``*`` is off."""
    key = f"uploads/{SESSION}/kept.jpg"
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}
    allowed = target.origins[0]
    assert allowed.startswith("http://127.0.0.1:") and any(
        o.startswith("http://localhost:") for o in target.origins
    )

    ok = httpx.options(target.url(key), headers={"Origin": allowed, **preflight})
    assert ok.status_code == 200, ok.text  # an existing object: moto alone answers an empty 403 there
    assert ok.headers["access-control-allow-origin"] == allowed
    assert "PUT" in ok.headers["access-control-allow-methods"]
    refused = httpx.options(target.url(key), headers={"Origin": FOREIGN, **preflight})
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers

    url = target.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": target.bucket, "Key": key}, ExpiresIn=60
    )
    mine = httpx.get(url, headers={"Origin": allowed})
    assert mine.status_code == 200 and mine.headers["access-control-allow-origin"] == allowed
    theirs = httpx.get(url, headers={"Origin": FOREIGN})
    assert "access-control-allow-origin" not in theirs.headers  # a browser shows the page nothing
    # and an unsigned request from the API's own origin is refused all the same
    assert httpx.get(target.url(key), headers={"Origin": allowed}).status_code == 403


def test_the_stack_signs_with_credentials_of_its_own_kept_in_its_state_folder(target: Target) -> None:
    """Made when the state folder was first used, kept there 0600 (a restart reads them back: the unit
    test), and what the stack's processes are given: the settings and their plan."""
    keys = target.credentials
    assert keys.access_key_id != "testing" and keys.access_key_id.startswith("AKIA")
    assert len(keys.secret_access_key) >= 40
    state = Path(target.running.stack.config.state_dir)
    assert credentials.load(state) == keys
    assert stat.S_IMODE(credentials.credentials_path(state).stat().st_mode) == 0o600
    plan = state / "run" / "plan.json"
    assert stat.S_IMODE(plan.stat().st_mode) == 0o600
    planned = msgspec.json.decode(plan.read_bytes(), type=ProcessPlan)
    assert Credentials.of(planned.settings) == keys
