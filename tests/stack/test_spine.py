"""One event travels the whole way: S3 -> media_process -> log -> relay -> bus -> another queue -> API; and
S3's notifications reach media_process for uploads only. What the API makes of a session (unknown
sessions, traces, ETags, thumbnails, cleanups) is tested in process (``tests/api/test_api_sessions.py``)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.api import decided_status, new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

#: the api's record of an upload as pending
RECEIVED = "shoebox.upload.received.v1"

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
    status = eventually(lambda: decided_status(api, sid, key, headers=auth), what="the API to show the file")
    assert status["status"] == "processed"
    assert status["sha256"] == event.data.sha256
    # ... and serves the thumbnail media_process wrote to S3
    thumbnail = httpx.get(f"{api}{status['thumbnail_url']}", headers=auth)
    assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
    assert thumbnail.content[:3] == b"\xff\xd8\xff"
    print(f"upload -> observer handled: {time.monotonic() - started:.3f}s")

    log = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()
    # (and the api's record of the upload as pending, unless media_process decided before it looked)
    assert [e["type"] for e in log["events"] if e["type"] != RECEIVED] == [
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
    log = [e for e in log if e["type"] != RECEIVED or e["data"]["key"] != key]  # the barrier pending
    assert [e["type"] for e in log] == ["shoebox.session.created.v2", "shoebox.media.file.processed.v1"]
    assert log[1]["data"]["file"]["key"] == key
    status = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()
    assert [f["key"] for f in status["files"]] == [key]
    assert all(embedded_stack.observer.for_key(k) == [] for k in outside)
