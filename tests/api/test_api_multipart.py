"""Multipart uploads over the API: a large video goes up in parts through presigned URLs, is assembled byte
for byte and decided once by media_process (though the emulator announces a completed multipart upload
twice); abort leaves nothing; S3's refusals and the API's limits answer 4xx, never 5xx."""

from __future__ import annotations

import math
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
from litestar.exceptions import ClientException

from services.api import uploads
from tests.support.api import file_status, new_session
from tests.support.stack import RunningStack
from tests.support.wait import eventually

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

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


def problem(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    detail: str = r.json()["detail"]
    return detail


@pytest.mark.stack
def test_a_large_video_goes_up_in_parts_and_is_decided_once(
    embedded_stack: RunningStack, video: bytes
) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, "A long bike ride", headers=auth)
    worker = embedded_stack.stack.workers["media_process"]
    handled_before = worker.handled
    part_size = max(5 * MiB, math.ceil(len(video) / 3))

    ticket = start(api, sid, auth, name="Ride (1).mp4", size=len(video), part_size=part_size)
    key = f"uploads/{sid}/Ride (1).mp4"
    assert ticket["key"] == key and ticket["part_size"] == part_size
    assert ticket["expires_in_s"] == uploads.PART_URL_TTL_S
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
        lambda: file_status(api, sid, key, headers=auth), timeout_s=120, what="media_process's decision"
    )
    # the emulator announces a completed multipart upload twice: wait until media_process took both
    eventually(lambda: worker.handled >= handled_before + 2, timeout_s=60, what="both S3 events")
    decisions = embedded_stack.observer.wait_for(key)
    assert len(decisions) == 1, decisions
    events = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()["events"]
    media = [e for e in events if e["type"].startswith(MEDIA_FILE)]
    assert [e["data"]["file"]["key"] for e in media] == [key], media
    assert status["status"] == "processed", status
    assert status["kind"] == "video" and status["size"] == len(video)
    files = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()["files"]
    assert [f["key"] for f in files] == [key]


@pytest.mark.stack
def test_abort_leaves_no_object_and_no_open_upload(embedded_stack: RunningStack) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=auth)
    ticket = start(api, sid, auth, name="abandoned.mp4", size=12 * MiB)
    assert len(ticket["parts"]) == 2  # the default part size: 10 MiB
    put_parts({"parts": ticket["parts"][:1]}, [b"\0" * (10 * MiB)])
    assert open_uploads(embedded_stack, sid) == [ticket["upload_id"]]

    url = f"{api}/v1/sessions/{sid}/multipart/{ticket['upload_id']}"
    r = httpx.delete(url, params={"key": ticket["key"]}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "aborted"}
    assert open_uploads(embedded_stack, sid) == []
    assert session_keys(embedded_stack, sid) == []
    # it is gone: aborting again, or completing it, finds no upload
    assert "no multipart upload" in problem(
        httpx.delete(url, params={"key": ticket["key"]}, headers=auth), 404
    )
    late = complete(api, sid, auth, ticket, [{"part_number": 1, "etag": '"x"'}])
    assert "no multipart upload" in problem(late, 404)


@pytest.mark.stack
def test_s3_refusing_a_completion_is_a_400_and_the_upload_can_still_complete(
    embedded_stack: RunningStack,
) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=auth)
    data = bytes(range(256)) * (24 * 1024)  # 6 MiB: a part of 5 MiB and one of 1 MiB
    ticket = start(api, sid, auth, name="clip.mp4", size=len(data), part_size=5 * MiB)
    parts = put_parts(ticket, [data[: 5 * MiB], data[5 * MiB :]])

    wrong = [parts[0], {"part_number": 2, "etag": '"0123456789abcdef0123456789abcdef"'}]
    assert "InvalidPart" in problem(complete(api, sid, auth, ticket, wrong), 400)
    twice = [parts[0], parts[0], parts[1]]
    assert "part 1 is listed twice" in problem(complete(api, sid, auth, ticket, twice), 400)
    missing = [parts[0], {"part_number": 3, "etag": parts[1]["etag"]}]
    assert "InvalidPart" in problem(complete(api, sid, auth, ticket, missing), 400)
    elsewhere = httpx.post(
        f"{api}/v1/sessions/{sid}/multipart/{ticket['upload_id']}/complete",
        json={"key": f"uploads/{new_session(api, headers=auth)}/clip.mp4", "parts": parts},
        headers=auth,
    )
    assert "must be an upload of this session" in problem(elsewhere, 400)

    r = complete(api, sid, auth, ticket, parts)
    assert r.status_code == 200, r.text
    assert object_bytes(embedded_stack, ticket["key"]) == data


@pytest.mark.stack
def test_a_part_smaller_than_s3s_minimum_is_refused_at_completion(embedded_stack: RunningStack) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=auth)
    ticket = start(api, sid, auth, name="short.mp4", size=6 * MiB, part_size=5 * MiB)
    parts = put_parts(ticket, [b"a" * 1024, b"b" * 1024])  # the client sent less than it said
    assert "EntityTooSmall" in problem(complete(api, sid, auth, ticket, parts), 400)


@pytest.mark.stack
def test_the_limits_of_a_multipart_upload(embedded_stack: RunningStack) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    media = embedded_stack.settings.media  # the limits the stack's API runs with
    sid = new_session(api, headers=auth)
    url = f"{api}/v1/sessions/{sid}/multipart"

    def create(**body: Any) -> httpx.Response:
        return httpx.post(
            url, json={"name": "v.mp4", "content_type": "video/mp4", "size": 50 * MiB, **body}, headers=auth
        )

    assert "part_size must be between" in problem(create(part_size=5 * MiB - 1), 400)
    assert "part_size must be between" in problem(create(part_size=100 * MiB + 1), 400)
    assert "the limit is" in problem(create(size=media.max_video_bytes + 1), 413)
    assert "the limit is" in problem(create(content_type="image/jpeg", size=media.max_photo_bytes + 1), 413)
    assert "not a photo or video type" in problem(create(content_type="application/pdf"), 400)
    assert "plain name" in problem(create(name="../etc/passwd"), 400)
    assert "plain name" in problem(create(name="a/b.mp4"), 400)
    problem(create(size=0), 400)
    problem(create(unexpected=1), 400)
    biggest = create(size=media.max_video_bytes, part_size=5 * MiB)
    assert biggest.status_code == 201, biggest.text
    assert len(biggest.json()["parts"]) == 1024
    assert biggest.json()["parts"][-1]["part_number"] == 1024
    one = create(size=1024)  # smaller than a part: one part (the last may be any size)
    assert one.status_code == 201 and len(one.json()["parts"]) == 1
    # an upload id that cannot be S3's, a key outside the session
    bad_id = httpx.delete(f"{url}/not%20an%20id", params={"key": f"uploads/{sid}/v.mp4"}, headers=auth)
    assert "no multipart upload" in problem(bad_id, 404)
    outside = httpx.delete(
        f"{url}/{one.json()['upload_id']}", params={"key": f"thumbnails/{sid}/v.mp4"}, headers=auth
    )
    assert "must be an upload of this session" in problem(outside, 400)
    for upload in (biggest, one):  # tidy: leave no open uploads behind
        ticket = upload.json()
        r = httpx.delete(f"{url}/{ticket['upload_id']}", params={"key": ticket["key"]}, headers=auth)
        assert r.status_code == 200, r.text


def test_part_count_follows_s3s_rules() -> None:
    assert uploads.part_count(1, 5 * MiB) == 1
    assert uploads.part_count(10 * MiB, 5 * MiB) == 2
    assert uploads.part_count(10 * MiB + 1, 5 * MiB) == 3
    assert uploads.part_count(10_000 * 5 * MiB, 5 * MiB) == 10_000
    with pytest.raises(ClientException, match=r"would take 10001 parts; S3 takes at most 10000") as too_many:
        uploads.part_count(10_000 * 5 * MiB + 1, 5 * MiB)
    assert too_many.value.status_code == 400
    with pytest.raises(ClientException, match="part_size must be between"):
        uploads.part_count(MiB, 4 * MiB)
