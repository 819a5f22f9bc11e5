"""One event travels the whole way: S3 -> media_process -> log -> relay -> bus -> another queue -> API."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from tests.support.api import file_status, new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack


def test_an_upload_travels_from_s3_through_every_hop_to_the_api(embedded_stack: RunningStack) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=auth)
    photo = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()
    started = time.monotonic()
    key = upload(api, sid, "DSCN0010.jpg", photo, headers=auth)

    # the observer's queue got media_process's event through relay -> bus -> rule -> queue
    seen = embedded_stack.observer.wait_for(key)
    assert [type(e).type_name() for e in seen] == ["shoebox.media.file.processed.v1"]
    event = seen[0]
    assert event.sessionid == sid and event.source == "shoebox/media_process"
    assert event.data.kind == "photo" and event.data.media_type == "image/jpeg"
    assert event.sequence >= 2  # session.created is the stream's first event
    # ... and the API's projection shows the same file
    status = eventually(lambda: file_status(api, sid, key, headers=auth), what="the API to show the file")
    assert status["status"] == "processed"
    assert status["sha256"] == event.data.sha256
    print(f"upload -> observer handled: {time.monotonic() - started:.3f}s")

    log = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()
    assert [e["type"] for e in log["events"]] == [
        "shoebox.session.created.v2",
        "shoebox.media.file.processed.v1",
    ]


def test_objects_outside_the_uploads_prefix_trigger_nothing(embedded_stack: RunningStack) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=auth)
    stack = embedded_stack.stack
    bucket = stack.settings.names.media_bucket
    outside = (f"thumbnails/{sid}/x.jpg", f"converted/{sid}/x.jpg", f"elsewhere/uploads/{sid}/x.jpg")
    for key in outside:
        embedded_stack.portal.call(
            lambda k=key: stack.clients.s3.put_object(Bucket=bucket, Key=k, Body=b"\xff\xd8\xff")
        )
    # a later upload is the barrier: once it is handled, anything queued before it would have been too
    key = upload(
        api, sid, "barrier.jpg", (TESTDATA / "photos" / "gps" / "DSCN0012.jpg").read_bytes(), headers=auth
    )
    embedded_stack.observer.wait_for(key)
    # the session's log holds its creation and the barrier's decision only; no file item for the others
    log = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()["events"]
    assert [e["type"] for e in log] == ["shoebox.session.created.v2", "shoebox.media.file.processed.v1"]
    assert log[1]["data"]["file"]["key"] == key
    status = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()
    assert [f["key"] for f in status["files"]] == [key]
    assert all(embedded_stack.observer.for_key(k) == [] for k in outside)


def test_an_unknown_session_is_not_found(embedded_stack: RunningStack) -> None:
    r = httpx.get(f"{embedded_stack.api_url}/v1/sessions/{uuid.uuid4()}", headers=embedded_stack.auth())
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["title"] == "Not Found" and problem["status"] == 404 and "no session" in problem["detail"]


def test_an_event_appended_by_the_api_continues_the_callers_trace(embedded_stack: RunningStack) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    r = httpx.post(
        f"{embedded_stack.api_url}/v1/sessions",
        json={"context": "traced"},
        headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", **embedded_stack.auth()},
    )
    sid = r.json()["session_id"]
    [created] = httpx.get(
        f"{embedded_stack.api_url}/v1/sessions/{sid}/events", headers=embedded_stack.auth()
    ).json()["events"]
    assert created["traceparent"].split("-")[1] == trace_id


def test_a_processed_photo_has_a_thumbnail_served_by_the_api(embedded_stack: RunningStack) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=auth)
    key = upload(
        api,
        sid,
        "IMG 1 (copy).jpg",
        (TESTDATA / "photos" / "gps" / "DSCN0027.jpg").read_bytes(),
        headers=auth,
    )
    status = eventually(lambda: file_status(api, sid, key, headers=auth), what="the file to be decided")
    assert status["status"] == "processed" and status["thumbnail_url"]
    r = httpx.get(f"{api}{status['thumbnail_url']}", headers=auth)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content[:3] == b"\xff\xd8\xff"
    missing = httpx.get(f"{api}/v1/sessions/{sid}/files/nope.jpg/thumbnail", headers=auth)
    assert missing.status_code == 404


def test_polls_carry_an_etag_and_an_unchanged_session_answers_304(embedded_stack: RunningStack) -> None:
    api, h = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=h)
    first = httpx.get(f"{api}/v1/sessions/{sid}", headers=h)
    tag = first.headers["etag"]
    again = httpx.get(f"{api}/v1/sessions/{sid}", headers={**h, "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    upload(api, sid, "x.jpg", (TESTDATA / "photos" / "gps" / "DSCN0042.jpg").read_bytes(), headers=h)
    changed = eventually(
        lambda: (
            (r := httpx.get(f"{api}/v1/sessions/{sid}", headers={**h, "If-None-Match": tag})).status_code
            == 200
            and r
        ),
        what="the session to change",
    )
    assert changed.headers["etag"] != tag
