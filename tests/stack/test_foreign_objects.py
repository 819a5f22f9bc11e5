"""The attack on the running stack (issue 12, item 1): objects put straight into the media bucket with the
emulator's own clients, as an attacker who got past the bucket would, under a session that does not exist
and under a real session with names the API never issues. Each is refused and recorded (a
``media.file.rejected`` ``invalid_name`` in the session's log; a ``message.failed`` on the system stream for
the session that does not exist), deleted, and never processed: no thumbnail, no file in the session, its
counters as they were. The rules in process: ``tests/media/test_refused_keys.py``."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.events import catalogue as c
from shared.runtime.processor import SYSTEM_STREAM
from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

PHOTO = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()
REJECTED = "shoebox.media.file.rejected.v2"


def _keys(stack: RunningStack, prefix: str) -> list[str]:
    s = stack.stack

    async def listed() -> list[str]:
        r = await s.clients.s3.list_objects_v2(Bucket=s.settings.names.media_bucket, Prefix=prefix)
        return [o["Key"] for o in r.get("Contents", [])]

    return stack.portal.call(listed)


def _put(stack: RunningStack, key: str) -> None:
    s = stack.stack

    async def put() -> Any:
        return await s.clients.s3.put_object(Bucket=s.settings.names.media_bucket, Key=key, Body=PHOTO)

    stack.portal.call(put)


def test_foreign_objects_under_uploads_are_refused_recorded_and_deleted_never_processed(
    embedded_stack: RunningStack,
) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, headers=auth)
    job = httpx.post(f"{api}/v1/sessions/{sid}/triage", json={"expected": 1}, headers=auth)
    assert job.status_code == 202, job.text
    ghost = str(uuid.uuid4())
    unknown = f"uploads/{ghost}/x.jpg"
    bad = [f"uploads/{sid}/../x.jpg", f"uploads/{sid}/.x.jpg", f"uploads/{sid}/a/b.jpg"]
    for key in (unknown, *bad):
        _put(embedded_stack, key)

    # a real upload after them: decided as ever, and, once it is, theirs were handled too (drained)
    real = upload(api, sid, "DSCN0010.jpg", PHOTO, headers=auth)
    embedded_stack.observer.wait_for(real)
    embedded_stack.wait_drained("media_process")
    for key in bad:  # each refusal reached the bus like any decision
        [refused] = embedded_stack.observer.wait_for(key)
        assert isinstance(refused, c.FileRejected) and refused.data.code == "invalid_name"

    # deleted, and nothing derived from them: the only thumbnail is the real upload's
    def gone() -> bool | None:
        there = _keys(embedded_stack, f"uploads/{sid}/") + _keys(embedded_stack, f"uploads/{ghost}/")
        return there == [real] or None

    eventually(gone, what="the foreign objects gone")
    assert _keys(embedded_stack, f"thumbnails/{ghost}/") == []
    assert _keys(embedded_stack, f"thumbnails/{sid}/") == [f"thumbnails/{sid}/DSCN0010.jpg.jpg"]

    # recorded in the session's log, and counted nowhere
    events = httpx.get(f"{api}/v1/sessions/{sid}/events", headers=auth).json()["events"]
    refusals = sorted(e["data"]["file"]["key"] for e in events if e["type"] == REJECTED)
    assert refusals == sorted(bad)
    assert all(e["data"]["code"] == "invalid_name" for e in events if e["type"] == REJECTED)
    status = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()
    assert [f["key"] for f in status["files"]] == [real]
    counters = status["counters"]
    assert (counters["expected"], counters["processed"], counters["rejected"], counters["pending"]) == (
        1,
        1,
        0,
        0,
    )

    # the session that does not exist: its refusal on the system stream, nothing in its own
    log = embedded_stack.stack.log

    def given_up() -> dict[str, str] | None:
        system = embedded_stack.portal.call(log.read_all, SYSTEM_STREAM)
        failed = [e for e in system if isinstance(e, c.MessageFailed) and ghost in e.data.error]
        by_service = {e.data.service: e.data.error_type for e in failed}
        return by_service if len(by_service) == 2 else None  # both of the upload's consumers

    by_service = eventually(given_up, what="both consumers to give the upload up")
    assert by_service == {"media_process": "UnknownSession", "api": "UnknownSession"}
    assert embedded_stack.portal.call(log.read_all, ghost) == []
