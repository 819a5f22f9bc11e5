"""The multipart routes in process, on the in-memory store (which follows S3's rules for parts): parts are
assembled in order byte for byte; abort leaves nothing; the store's refusals and the API's limits answer
4xx, never 5xx."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from litestar.exceptions import ClientException

from services.api import uploads
from shared.runtime.storage import SizeRefused
from tests.support.app import Api

MiB = 1024 * 1024


def start(api: Api, sid: str, *, name: str, size: int, **extra: Any) -> dict[str, Any]:
    r = api.client.post(
        f"/v1/sessions/{sid}/multipart",
        json={"name": name, "content_type": "video/mp4", "size": size, **extra},
        headers=api.auth(),
    )
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    return ticket


def put_parts(api: Api, ticket: dict[str, Any], chunks: list[bytes]) -> list[dict[str, Any]]:
    """PUT each chunk to its part's URL, as a browser would; the parts for ``complete``."""
    return [
        {"part_number": part["part_number"], "etag": api.store.put_presigned(part["url"], chunk)}
        for part, chunk in zip(ticket["parts"], chunks, strict=True)
    ]


def complete(api: Api, sid: str, ticket: dict[str, Any], parts: list[dict[str, Any]]) -> httpx.Response:
    return api.client.post(
        f"/v1/sessions/{sid}/multipart/{ticket['upload_id']}/complete",
        json={"key": ticket["key"], "parts": parts},
        headers=api.auth(),
    )


def problem(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")
    detail: str = r.json()["detail"]
    return detail


def test_the_parts_are_assembled_in_order_byte_for_byte(api: Api) -> None:
    sid = api.new_session("A long bike ride")
    data = bytes(range(256)) * (44 * 1024)  # 11 MiB: parts of 5, 5 and 1 MiB
    ticket = start(api, sid, name="Ride (1).mp4", size=len(data), part_size=5 * MiB)
    key = f"uploads/{sid}/Ride (1).mp4"
    assert ticket["key"] == key and ticket["part_size"] == 5 * MiB
    # The advertised lifetime is the one every part URL was signed for.
    expiries = {parse_qs(urlsplit(p["url"]).query)["expires"][0] for p in ticket["parts"]}
    assert ticket["expires_in_s"] > 0 and expiries == {str(ticket["expires_in_s"])}
    assert [p["part_number"] for p in ticket["parts"]] == [1, 2, 3]
    assert list(api.store.uploads) == [ticket["upload_id"]]
    parts = put_parts(api, ticket, [data[i : i + 5 * MiB] for i in range(0, len(data), 5 * MiB)])
    assert key not in api.store.objects  # nothing until it is complete

    r = complete(api, sid, ticket, list(reversed(parts)))  # any order: the API sorts them
    assert r.status_code == 200, r.text
    assert r.json() == {"key": key}
    assert api.store.objects[key] == (data, "video/mp4")
    assert ticket["upload_id"] not in api.store.uploads


def test_abort_leaves_no_object_and_no_open_upload(api: Api) -> None:
    sid = api.new_session()
    ticket = start(api, sid, name="abandoned.mp4", size=12 * MiB)
    assert len(ticket["parts"]) == 2  # the default part size: 10 MiB
    put_parts(api, {"parts": ticket["parts"][:1]}, [b"\0" * (10 * MiB)])

    url = f"/v1/sessions/{sid}/multipart/{ticket['upload_id']}"
    r = api.client.delete(url, params={"key": ticket["key"]}, headers=api.auth())
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "aborted"}
    assert ticket["upload_id"] not in api.store.uploads
    assert ticket["key"] not in api.store.objects
    # it is gone: aborting again, or completing it, finds no upload
    again = api.client.delete(url, params={"key": ticket["key"]}, headers=api.auth())
    assert "no multipart upload" in problem(again, 404)
    late = complete(api, sid, ticket, [{"part_number": 1, "etag": '"x"'}])
    assert "no multipart upload" in problem(late, 404)


def test_a_refused_completion_is_a_400_and_the_upload_can_still_complete(api: Api) -> None:
    sid = api.new_session()
    data = bytes(range(256)) * (24 * 1024)  # 6 MiB: a part of 5 MiB and one of 1 MiB
    ticket = start(api, sid, name="clip.mp4", size=len(data), part_size=5 * MiB)
    parts = put_parts(api, ticket, [data[: 5 * MiB], data[5 * MiB :]])

    wrong = [parts[0], {"part_number": 2, "etag": '"0123456789abcdef0123456789abcdef"'}]
    assert "InvalidPart" in problem(complete(api, sid, ticket, wrong), 400)
    twice = [parts[0], parts[0], parts[1]]
    assert "part 1 is listed twice" in problem(complete(api, sid, ticket, twice), 400)
    missing = [parts[0], {"part_number": 3, "etag": parts[1]["etag"]}]
    assert "InvalidPart" in problem(complete(api, sid, ticket, missing), 400)
    elsewhere = api.client.post(
        f"/v1/sessions/{sid}/multipart/{ticket['upload_id']}/complete",
        json={"key": f"uploads/{api.new_session()}/clip.mp4", "parts": parts},
        headers=api.auth(),
    )
    assert "must be an upload of this session" in problem(elsewhere, 400)

    r = complete(api, sid, ticket, parts)
    assert r.status_code == 200, r.text
    assert api.store.objects[ticket["key"]][0] == data


def test_a_part_of_another_size_than_its_ticket_is_refused(api: Api) -> None:
    """Each part URL is signed for its part's size (issue 12, item 3): a client that sends less than it
    said is refused at the PUT; parts that small would only reach completion through URLs signed for
    them, and S3's refusal there (``EntityTooSmall``) answers 400."""
    sid = api.new_session()
    ticket = start(api, sid, name="short.mp4", size=6 * MiB, part_size=5 * MiB)
    with pytest.raises(SizeRefused):
        put_parts(api, ticket, [b"a" * 1024, b"b" * 1024])  # the client sent less than it said
    small = [
        api.run(lambda n=n: api.store.presign_part(ticket["key"], ticket["upload_id"], n, 60, size=1024))
        for n in (1, 2)
    ]
    parts = [
        {"part_number": n, "etag": api.store.put_presigned(url, b"ab"[n - 1 : n] * 1024)}
        for n, url in enumerate(small, start=1)
    ]
    assert "EntityTooSmall" in problem(complete(api, sid, ticket, parts), 400)


def test_the_limits_of_a_multipart_upload(api: Api) -> None:
    media = api.settings.media  # the limits the app runs with
    sid = api.new_session()
    url = f"/v1/sessions/{sid}/multipart"

    def create(**body: Any) -> httpx.Response:
        return api.client.post(
            url,
            json={"name": "v.mp4", "content_type": "video/mp4", "size": 50 * MiB, **body},
            headers=api.auth(),
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
    assert not any(u.key.startswith(f"uploads/{sid}/") for u in api.store.uploads.values())
    biggest = create(size=media.max_video_bytes, part_size=5 * MiB)
    assert biggest.status_code == 201, biggest.text
    assert len(biggest.json()["parts"]) == 1024
    assert biggest.json()["parts"][-1]["part_number"] == 1024
    one = create(size=1024)  # smaller than a part: one part (the last may be any size)
    assert one.status_code == 201 and len(one.json()["parts"]) == 1
    # an upload id that cannot be S3's, a key outside the session
    bad_id = api.client.delete(
        f"{url}/not%20an%20id", params={"key": f"uploads/{sid}/v.mp4"}, headers=api.auth()
    )
    assert "no multipart upload" in problem(bad_id, 404)
    outside = api.client.delete(
        f"{url}/{one.json()['upload_id']}", params={"key": f"thumbnails/{sid}/v.mp4"}, headers=api.auth()
    )
    assert "must be an upload of this session" in problem(outside, 400)
    for upload in (biggest, one):  # tidy: leave no open uploads behind
        ticket = upload.json()
        r = api.client.delete(
            f"{url}/{ticket['upload_id']}", params={"key": ticket["key"]}, headers=api.auth()
        )
        assert r.status_code == 200, r.text
    assert not any(u.key.startswith(f"uploads/{sid}/") for u in api.store.uploads.values())


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
