"""Multipart uploads over the API on the embedded stack: a large video goes up in parts through presigned
URLs S3 accepts, is assembled byte for byte and decided once by media_process (though the emulator announces
a completed multipart upload twice). The routes' rules (limits, abort, refusals) are tested in process
(``test_api_multipart_routes.py``); S3's own answers in ``tests/unit/test_store_contract.py``."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.api import decided_status, new_session
from tests.support.stack import RunningStack
from tests.support.wait import eventually

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

pytestmark = pytest.mark.stack

T = TypeVar("T")
MiB = 1024 * 1024
MEDIA_FILE = "shoebox.media.file."


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 720p H.264 MP4 of ~13 MiB (6 s at a forced 24 Mbit/s), made with ffmpeg."""
    out = tmp_path_factory.mktemp("multipart") / "big.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"),
            *("-i", "testsrc2=size=1280x720:rate=30:duration=6", "-c:v", "libx264", "-preset", "ultrafast"),
            *("-b:v", "24M", "-minrate", "24M", "-maxrate", "24M", "-bufsize", "8M", "-pix_fmt", "yuv420p"),
            str(out),
        ],
        check=True,
        timeout=120,
    )
    data = Path(out).read_bytes()
    assert 10 * MiB < len(data) <= 15 * MiB, len(data)  # 3 parts of 5 MiB, the last one smaller
    return data


def s3(stack: RunningStack, op: Callable[[S3Client], Awaitable[T]]) -> T:
    """Run ``op`` with the stack's S3 client, on the stack's event loop."""
    return stack.portal.call(op, stack.stack.clients.s3)


def object_bytes(stack: RunningStack, key: str) -> bytes:
    async def read(client: S3Client) -> bytes:
        r = await client.get_object(Bucket=stack.settings.names.media_bucket, Key=key)
        async with r["Body"] as body:
            return await body.read()

    return s3(stack, read)


def session_keys(stack: RunningStack, session_id: str) -> list[str]:
    async def keys(client: S3Client) -> list[str]:
        r = await client.list_objects_v2(
            Bucket=stack.settings.names.media_bucket, Prefix=f"uploads/{session_id}/"
        )
        return [o["Key"] for o in r.get("Contents", [])]

    return s3(stack, keys)


def open_uploads(stack: RunningStack, session_id: str) -> list[str]:
    async def ids(client: S3Client) -> list[str]:
        r = await client.list_multipart_uploads(
            Bucket=stack.settings.names.media_bucket, Prefix=f"uploads/{session_id}/"
        )
        return [u["UploadId"] for u in r.get("Uploads", [])]

    return s3(stack, ids)


def start(
    api: str, session_id: str, auth: dict[str, str], *, name: str, size: int, **extra: Any
) -> dict[str, Any]:
    r = httpx.post(
        f"{api}/v1/sessions/{session_id}/multipart",
        json={"name": name, "content_type": "video/mp4", "size": size, **extra},
        headers=auth,
    )
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    return ticket


def put_parts(ticket: dict[str, Any], chunks: list[bytes]) -> list[dict[str, Any]]:
    """PUT each chunk to its part's URL, as a browser would; the parts for ``complete``."""
    done = []
    for part, chunk in zip(ticket["parts"], chunks, strict=True):
        r = httpx.put(part["url"], content=chunk, timeout=60)
        assert r.status_code == 200, r.text
        done.append({"part_number": part["part_number"], "etag": r.headers["etag"]})
    return done


def complete(
    api: str, session_id: str, auth: dict[str, str], ticket: dict[str, Any], parts: list[dict[str, Any]]
) -> httpx.Response:
    return httpx.post(
        f"{api}/v1/sessions/{session_id}/multipart/{ticket['upload_id']}/complete",
        json={"key": ticket["key"], "parts": parts},
        headers=auth,
        timeout=60,
    )


def test_a_large_video_goes_up_in_parts_and_is_decided_once(
    embedded_stack: RunningStack, video: bytes
) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, "A long bike ride", headers=auth)
    part_size = max(5 * MiB, math.ceil(len(video) / 3))

    ticket = start(api, sid, auth, name="Ride (1).mp4", size=len(video), part_size=part_size)
    key = f"uploads/{sid}/Ride (1).mp4"
    assert ticket["key"] == key and ticket["part_size"] == part_size
    # The advertised lifetime is the one S3 signed every part URL for.
    expiries = {parse_qs(urlsplit(p["url"]).query)["X-Amz-Expires"][0] for p in ticket["parts"]}
    assert ticket["expires_in_s"] > 0 and expiries == {str(ticket["expires_in_s"])}
    assert [p["part_number"] for p in ticket["parts"]] == [1, 2, 3]
    chunks = [video[i : i + part_size] for i in range(0, len(video), part_size)]
    parts = put_parts(ticket, chunks)
    assert session_keys(embedded_stack, sid) == []  # nothing until it is complete

    r = complete(api, sid, auth, ticket, list(reversed(parts)))  # any order: the API sorts them
    assert r.status_code == 200, r.text
    assert r.json() == {"key": key}
    assert object_bytes(embedded_stack, key) == video
    assert open_uploads(embedded_stack, sid) == []

    status = eventually(
        lambda: decided_status(api, sid, key, headers=auth), timeout_s=120, what="media_process's decision"
    )
    # the emulator announces a completed multipart upload twice: wait until media_process took both
    embedded_stack.wait_drained("media_process")  # both S3 events acked
    decisions = embedded_stack.observer.wait_for(key)
    assert len(decisions) == 1, decisions
    events = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()["events"]
    media = [e for e in events if e["type"].startswith(MEDIA_FILE)]
    assert [e["data"]["file"]["key"] for e in media] == [key], media
    assert status["status"] == "processed", status
    assert status["kind"] == "video" and status["size"] == len(video)
    files = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()["files"]
    assert [f["key"] for f in files] == [key]


def abort(api: str, session_id: str, auth: dict[str, str], upload_id: str, key: str) -> httpx.Response:
    return httpx.delete(
        f"{api}/v1/sessions/{session_id}/multipart/{upload_id}", params={"key": key}, headers=auth, timeout=60
    )


def test_another_user_cannot_complete_or_abort_an_upload_and_it_still_completes(
    embedded_stack: RunningStack,
) -> None:
    """The attack (issue 12, item 2): bob completes, then aborts, alice's multipart upload through his own
    session's routes with its upload id. Both are 404 (the API's record of the upload, and the emulator,
    which ties an upload id to its key as S3 does), and alice's upload completes as if nothing happened.
    Each defence alone: ``test_api_multipart_owners.py`` (the API's) and ``tests/unit/test_store_contract.py``
    (the emulator's)."""
    api = embedded_stack.api_url
    alice, bob = embedded_stack.auth("alice"), embedded_stack.auth("bob")
    sid = new_session(api, "Alice's ride", headers=alice)
    data = bytes(range(256)) * (24 * 1024)  # 6 MiB: a part of 5 MiB and one of 1 MiB
    ticket = start(api, sid, alice, name="ride.mp4", size=len(data), part_size=5 * MiB)
    parts = put_parts(ticket, [data[: 5 * MiB], data[5 * MiB :]])
    upload_id = ticket["upload_id"]

    theirs = new_session(api, "Bob's", headers=bob)
    forged = {**ticket, "key": f"uploads/{theirs}/ride.mp4"}
    r = complete(api, theirs, bob, forged, parts)
    assert r.status_code == 404 and "no multipart upload" in r.json()["detail"], r.text
    r = abort(api, theirs, bob, upload_id, forged["key"])
    assert r.status_code == 404 and "no multipart upload" in r.json()["detail"], r.text
    assert open_uploads(embedded_stack, sid) == [upload_id]  # alice's upload, untouched
    assert session_keys(embedded_stack, theirs) == [] and session_keys(embedded_stack, sid) == []

    r = complete(api, sid, alice, ticket, parts)
    assert r.status_code == 200, r.text
    assert object_bytes(embedded_stack, ticket["key"]) == data
