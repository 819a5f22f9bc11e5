"""A session as its owner sees it through the API, in process: media_process decides each upload on the same
in-memory log and store (as its worker does on the stack when S3 announces it). Unknown sessions, the
caller's trace, thumbnails, ETags, a cleanup, an upload replaced under the same name."""

from __future__ import annotations

import uuid
from typing import Any

from shared.runtime.inbound import ALL_PREFIXES
from tests.support.app import Api
from tests.support.paths import TESTDATA

PHOTO = TESTDATA / "photos" / "gps"


def status(api: Api, sid: str, sub: str = "alice") -> dict[str, Any]:
    r = api.client.get(f"/v1/sessions/{sid}", headers=api.auth(sub))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def decided(api: Api, sid: str, name: str, data: bytes, content_type: str = "image/jpeg") -> str:
    """``name`` uploaded through its ticket and decided by media_process: its key."""
    key = api.upload(sid, name, data, content_type)
    assert len(api.decide(key)) == 1  # one decision per upload
    return key


def test_an_unknown_session_is_not_found(api: Api) -> None:
    r = api.client.get(f"/v1/sessions/{uuid.uuid4()}", headers=api.auth())
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["title"] == "Not Found" and problem["status"] == 404 and "no session" in problem["detail"]


def test_an_event_appended_by_the_api_continues_the_callers_trace(api: Api) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = api.client.post(
        "/v1/sessions",
        json={"context": "traced"},
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", **api.auth()},
    )
    assert r.status_code == 201, r.text
    sid = r.json()["session_id"]
    [created] = api.client.get(f"/v1/sessions/{sid}/events", headers=api.auth()).json()["events"]
    assert created["traceparent"].split("-")[1] == trace_id


def test_a_processed_photo_has_a_thumbnail_served_by_the_api(api: Api) -> None:
    sid = api.new_session()
    key = decided(api, sid, "IMG 1 (copy).jpg", (PHOTO / "DSCN0027.jpg").read_bytes())
    [f] = status(api, sid)["files"]
    assert f["key"] == key and f["status"] == "processed" and f["thumbnail_url"]
    r = api.client.get(f["thumbnail_url"], headers=api.auth())
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:3] == b"\xff\xd8\xff"
    assert api.client.get(f["thumbnail_url"], headers=api.auth("bob")).status_code == 404
    missing = api.client.get(f"/v1/sessions/{sid}/files/nope.jpg/thumbnail", headers=api.auth())
    assert missing.status_code == 404


def test_polls_carry_an_etag_and_an_unchanged_session_answers_304(api: Api) -> None:
    sid = api.new_session()
    first = api.client.get(f"/v1/sessions/{sid}", headers=api.auth())
    tag = first.headers["etag"]
    again = api.client.get(f"/v1/sessions/{sid}", headers={**api.auth(), "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    decided(api, sid, "x.jpg", (PHOTO / "DSCN0042.jpg").read_bytes())
    changed = api.client.get(f"/v1/sessions/{sid}", headers={**api.auth(), "If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert [f["name"] for f in changed.json()["files"]] == ["x.jpg"]


def test_after_a_cleanup_a_file_shows_deleted_and_offers_no_thumbnail(api: Api) -> None:
    sid = api.new_session()
    other = api.new_session()  # the same user's other session: left alone
    decided(api, sid, "a.jpg", (PHOTO / "DSCN0021.jpg").read_bytes())
    kept = decided(api, other, "a.jpg", (PHOTO / "DSCN0021.jpg").read_bytes())
    [before] = status(api, sid)["files"]
    assert before["deleted"] is False
    assert api.client.get(before["thumbnail_url"], headers=api.auth()).status_code == 200

    r = api.client.delete(f"/v1/sessions/{sid}/artifacts", headers=api.auth())
    assert r.status_code == 200 and r.json()["deleted_objects"] == 2  # the original and its thumbnail
    assert not [k for k in api.store.objects if any(k.startswith(f"{p}/{sid}/") for p in ALL_PREFIXES)]
    [after] = status(api, sid)["files"]
    assert after["deleted"] is True and after["thumbnail_url"] is None and after["status"] == "processed"
    gone = api.client.get(before["thumbnail_url"], headers=api.auth())
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("application/problem+json")
    # a second cleanup finds nothing and records nothing; the other session keeps its files
    events = len(api.log.published)
    again = api.client.delete(f"/v1/sessions/{sid}/artifacts", headers=api.auth())
    assert again.json()["deleted_objects"] == 0 and len(api.log.published) == events
    assert kept in api.store.objects and status(api, other)["files"][0]["deleted"] is False


def test_a_replaced_upload_counts_once_and_shows_only_its_newest_bytes(api: Api) -> None:
    sid = api.new_session()
    photo = (PHOTO / "DSCN0010.jpg").read_bytes()

    key = decided(api, sid, "a.jpg", photo)
    s = status(api, sid)
    [f] = s["files"]
    assert f["status"] == "processed" and f["thumbnail_url"] and s["counters"]["processed"] == 1

    decided(api, sid, "a.jpg", b"not a photo, after all\n")  # the wrong file, same name
    s = status(api, sid)
    [f] = s["files"]
    assert (s["counters"]["processed"], s["counters"]["rejected"]) == (0, 1)
    assert f["key"] == key and f["status"] == "rejected" and f["code"] == "unsupported_type"
    assert f["thumbnail_url"] is None and f["sha256"] is None and f["kind"] is None

    decided(api, sid, "a.jpg", photo)  # the right one again: processed, not a duplicate of itself
    s = status(api, sid)
    assert (s["counters"]["processed"], s["counters"]["rejected"], s["counters"]["duplicate"]) == (1, 0, 0)
    assert s["files"][0]["status"] == "processed"

    decided(api, sid, "b.jpg", photo)  # its bytes under another name: a duplicate of a.jpg
    s = status(api, sid)
    b = next(f for f in s["files"] if f["name"] == "b.jpg")
    assert b["status"] == "duplicate" and b["duplicate_of"] == key
    assert (s["counters"]["processed"], s["counters"]["duplicate"]) == (1, 1)


def test_the_same_bytes_put_again_count_once_and_after_a_cleanup_are_decided_again(api: Api) -> None:
    """A client retrying a PUT writes the same bytes again (S3 announces a new write): nothing new, for
    every decision. A cleanup releases what the files held: their bytes uploaded again are decided again,
    each file counted once, no longer as deleted."""
    sid = api.new_session()
    photo = (PHOTO / "DSCN0010.jpg").read_bytes()
    files = {"a.jpg": photo, "b.jpg": photo, "c.jpg": b"not a photo, after all\n"}
    for name, data in files.items():
        decided(api, sid, name, data)
    for name, data in files.items():
        assert api.decide(api.upload(sid, name, data)) == []  # the same bytes again
    s = status(api, sid)
    counts = ("processed", "rejected", "duplicate", "deleted")
    assert tuple(s["counters"][k] for k in counts) == (1, 1, 1, 0)

    assert api.client.delete(f"/v1/sessions/{sid}/artifacts", headers=api.auth()).status_code == 200
    assert api.client.delete(f"/v1/sessions/{sid}/artifacts", headers=api.auth()).status_code == 200
    s = status(api, sid)
    assert tuple(s["counters"][k] for k in counts) == (1, 1, 1, 3)  # counted as decided, and deleted

    for name, data in files.items():
        decided(api, sid, name, data)  # back, byte for byte: decided again, a.jpg first again
    s = status(api, sid)
    assert tuple(s["counters"][k] for k in counts) == (1, 1, 1, 0)
    got = {f["name"]: (f["status"], f["deleted"], bool(f["thumbnail_url"])) for f in s["files"]}
    assert got == {
        "a.jpg": ("processed", False, True),
        "b.jpg": ("duplicate", False, False),
        "c.jpg": ("rejected", False, False),
    }
