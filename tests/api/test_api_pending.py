"""An uploaded file is ``pending`` from the moment it is in storage until media_process decides it (in
process): the api's consumer records S3's announcement (``upload.received``) whether media_process runs or
not, and a pending never hides a decision, whichever of the two commits first.

Each test fails on a log without the pending read model (the files list only decided uploads), and the
race test fails when the api's commit does not expect the items it read (a pending written over a
decision that landed in between)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from services.api import consumer as api_consumer
from services.api import handlers as api_handlers
from shared.events import catalogue as c
from shared.runtime.inbound import upload_key
from shared.runtime.log import UnknownSession
from shared.runtime.processor import Processor
from shared.runtime.projections import pending_key
from shared.runtime.storage import ObjectInfo, UploadedPart
from tests.support.app import Api
from tests.support.paths import TESTDATA

PHOTO = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()
NOT_A_PHOTO = b"not a photo\n"


def status(api: Api, sid: str) -> dict[str, Any]:
    r = api.client.get(f"/v1/sessions/{sid}", headers=api.auth())
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def files(api: Api, sid: str) -> dict[str, str]:
    """name -> status, as the session's status lists them."""
    return {f["name"]: f["status"] for f in status(api, sid)["files"]}


def test_an_upload_is_pending_while_media_process_does_not_run(api: Api) -> None:
    sid = api.new_session()
    key = api.upload(sid, "a.jpg", PHOTO)
    assert files(api, sid) == {}  # in storage, not announced yet
    [received] = api.receive(key)
    assert isinstance(received, c.UploadReceived) and received.data.etag
    body = status(api, sid)
    assert [(f["name"], f["status"], f["size"]) for f in body["files"]] == [("a.jpg", "pending", len(PHOTO))]
    assert body["counters"]["pending"] == 1 and body["counters"]["processed"] == 0
    assert api.receive(key) == []  # announced again (a redelivery): nothing new


def test_a_pending_upload_becomes_its_decision(api: Api) -> None:
    sid = api.new_session()
    photo, text = api.upload(sid, "a.jpg", PHOTO), api.upload(sid, "b.txt", NOT_A_PHOTO)
    api.receive(photo), api.receive(text)
    assert files(api, sid) == {"a.jpg": "pending", "b.txt": "pending"}
    api.decide(text)
    assert files(api, sid) == {"a.jpg": "pending", "b.txt": "rejected"}
    api.decide(photo)
    body = status(api, sid)
    assert {f["name"]: f["status"] for f in body["files"]} == {"a.jpg": "processed", "b.txt": "rejected"}
    assert body["counters"]["pending"] == 0
    assert not [k for k in api.log.stored_views if k.sk.startswith("PENDING#") and sid in k.pk]


def test_a_decision_committed_first_is_never_hidden_by_a_pending(api: Api) -> None:
    """The api's consumer behind media_process (or restarted): its announcement finds the bytes decided."""
    sid = api.new_session()
    key = api.upload(sid, "a.txt", NOT_A_PHOTO)
    api.decide(key)
    assert api.receive(key) == []
    assert files(api, sid) == {"a.txt": "rejected"} and status(api, sid)["counters"]["pending"] == 0


def test_the_same_bytes_put_again_are_not_pending_again(api: Api) -> None:
    """A client retrying a PUT that timed out: a second announcement, same bytes."""
    sid = api.new_session()
    key = api.upload(sid, "a.txt", NOT_A_PHOTO)
    api.receive(key), api.decide(key)
    api.upload(sid, "a.txt", NOT_A_PHOTO)
    assert api.receive(key) == []
    assert files(api, sid) == {"a.txt": "rejected"}


def test_new_bytes_under_a_decided_name_are_pending_until_decided(api: Api) -> None:
    sid = api.new_session()
    key = api.upload(sid, "a.jpg", NOT_A_PHOTO)
    api.receive(key), api.decide(key)
    assert files(api, sid) == {"a.jpg": "rejected"}
    api.upload(sid, "a.jpg", PHOTO)  # the right file, same name
    [received] = api.receive(key)
    assert isinstance(received, c.UploadReceived)
    assert files(api, sid) == {"a.jpg": "pending"} and status(api, sid)["counters"]["rejected"] == 1
    api.decide(key)
    body = status(api, sid)
    assert {f["name"]: f["status"] for f in body["files"]} == {"a.jpg": "processed"}
    assert body["counters"]["rejected"] == 0 and body["counters"]["pending"] == 0


def test_the_same_bytes_under_another_etag_are_not_left_pending(api: Api) -> None:
    """A processed file sent again as a multipart upload (another ETag, the same bytes): pending until
    media_process says its decision covers them (``media.file.unchanged``), never stuck."""
    sid = api.new_session()
    key = api.upload(sid, "a.jpg", PHOTO)
    api.receive(key), api.decide(key)
    upload_id = api.run(api.store.create_multipart, key, "image/jpeg")
    url = api.run(lambda: api.store.presign_part(key, upload_id, 1, 60, size=len(PHOTO)))
    api.run(
        api.store.complete_multipart, key, upload_id, [UploadedPart(1, api.store.put_presigned(url, PHOTO))]
    )
    api.receive(key)
    assert files(api, sid) == {"a.jpg": "pending"}
    [unchanged] = api.decide(key)
    assert isinstance(unchanged, c.FileUnchanged)
    assert files(api, sid) == {"a.jpg": "processed"} and status(api, sid)["counters"]["processed"] == 1


def test_an_upload_deleted_before_it_was_decided_is_gone(api: Api) -> None:
    sid = api.new_session()
    key = api.upload(sid, "a.jpg", PHOTO)
    info = api.run(api.store.head, key)
    announcement = api.consumers.object_created_body(key, info.size, info.etag)
    assert api.run(api.consumers.api.process, announcement)
    assert api.client.delete(f"/v1/sessions/{sid}/artifacts", headers=api.auth()).status_code == 200
    assert files(api, sid) == {} and status(api, sid)["counters"]["pending"] == 0
    late = api.consumers.object_created_body(key, info.size, info.etag)  # another write's, arriving late
    assert api.run(api.consumers.api.process, late) == []  # the object is gone: nothing to wait for


def test_an_upload_under_a_session_that_does_not_exist_is_not_recorded(api: Api) -> None:
    """Refused (``UnknownSession``: the runtime gives it up to the system stream), never pending; and
    a key the API does not issue is never pending either (media_process refuses it)."""
    ghost = "00000000-0000-4000-8000-000000000000"
    key = upload_key(ghost, "a.jpg")
    api.run(api.store.put, key, PHOTO, "image/jpeg")
    with pytest.raises(UnknownSession, match=ghost):
        api.receive(key)
    assert api.run(api.log.read_all, ghost) == []
    sid = api.new_session()
    for odd in (f"uploads/{sid}/../a.jpg", f"uploads/{sid}/.a.jpg", f"uploads/{sid}/a/b.jpg"):
        api.run(api.store.put, odd, PHOTO, "image/jpeg")
        assert api.receive(odd) == []
    assert status(api, sid)["counters"]["pending"] == 0 and files(api, sid) == {}


class DecidingMeanwhile:
    """The store of the api's consumer, whose ``head`` lets media_process commit its decision first: the
    decision lands between the consumer's reads of the key's items and its commit."""

    def __init__(self, api: Api) -> None:
        self.api, self.store, self.raced = api, api.store, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def head(self, key: str) -> ObjectInfo:
        if not self.raced:
            self.raced = True
            await self.api.consumers.object_created(key)
        return await self.store.head(key)


def test_a_decision_landing_between_the_reads_and_the_commit_is_not_hidden(api: Api) -> None:
    """The api's commit expects the key's items at the versions it read: the decision moved one on, so it
    handles the announcement again and finds the bytes decided."""
    sid = api.new_session()
    key = api.upload(sid, "a.txt", NOT_A_PHOTO)
    racing = DecidingMeanwhile(api)
    consumer = Processor(api_consumer.service(api_handlers.Deps(log=api.log, store=racing)), api.log)  # type: ignore[arg-type]
    info = api.run(api.store.head, key)
    assert api.run(consumer.process, api.consumers.object_created_body(key, info.size, info.etag)) == []
    assert racing.raced
    assert files(api, sid) == {"a.txt": "rejected"}
    assert pending_key(sid, key) not in api.log.stored_views


def test_pending_needs_no_media_process_at_all(api: Api) -> None:
    """Twenty uploads announced at once to the api's consumer alone: every one is pending, counted once."""
    sid = api.new_session()
    keys = [api.upload(sid, f"{i:02}.jpg", PHOTO + bytes([i])) for i in range(20)]

    async def announce_all() -> None:
        async with anyio.create_task_group() as tg:
            for key in keys:
                tg.start_soon(api.consumers.received, key)

    api.run(announce_all)
    body = status(api, sid)
    assert {f["status"] for f in body["files"]} == {"pending"} and len(body["files"]) == 20
    assert body["counters"]["pending"] == 20


def test_a_delta_poll_lists_what_changed_since_the_version_sent(api: Api) -> None:
    """``?after_version=`` with the last answer's version and ETag: a 304 while nothing changed, then only
    the files that changed (and the keys no longer listed); ``after_version`` null is the whole session."""
    sid = api.new_session()
    a, b = api.upload(sid, "a.txt", NOT_A_PHOTO), api.upload(sid, "b.jpg", PHOTO)
    api.receive(a), api.receive(b), api.decide(a)
    full = api.client.get(f"/v1/sessions/{sid}", headers=api.auth())
    body, tag = full.json(), full.headers["etag"]
    assert body["after_version"] is None and {f["name"] for f in body["files"]} == {"a.txt", "b.jpg"}
    since = {"after_version": body["version"]}
    same = api.client.get(f"/v1/sessions/{sid}", params=since, headers={**api.auth(), "If-None-Match": tag})
    assert same.status_code == 304
    api.decide(b)
    changed = api.client.get(
        f"/v1/sessions/{sid}", params=since, headers={**api.auth(), "If-None-Match": tag}
    )
    delta = changed.json()
    assert changed.status_code == 200 and delta["after_version"] == body["version"]
    assert [(f["name"], f["status"]) for f in delta["files"]] == [("b.jpg", "processed")]
    assert delta["version"] > body["version"] and delta["counters"]["pending"] == 0
    assert delta["removed"] == []
    c_key = api.upload(sid, "c.jpg", PHOTO + b"c")
    api.receive(c_key)
    api.client.delete(f"/v1/sessions/{sid}/artifacts", headers=api.auth())  # c.jpg deleted while pending
    later = api.client.get(
        f"/v1/sessions/{sid}", params={"after_version": delta["version"]}, headers=api.auth()
    ).json()
    assert later["removed"] == [c_key]
    assert sorted(f["name"] for f in later["files"]) == ["a.txt", "b.jpg"]  # both deleted by the cleanup
    assert all(f["deleted"] for f in later["files"])


def test_a_triage_delta_sends_the_verdicts_only_when_the_job_changed(api: Api) -> None:
    sid = api.new_session()
    job = api.client.post(f"/v1/sessions/{sid}/triage", json={"expected": 1}, headers=api.auth()).json()
    path = f"/v1/sessions/{sid}/triage/{job['job_id']}"
    key = api.processed(sid, "a.jpg")
    api.verdicts(sid, job["job_id"], c.Verdict(key=key, verdict="keep", reason="sharp", confidence=0.9))
    full = api.client.get(path, headers=api.auth()).json()
    assert [v["name"] for v in full["keep"]] == ["a.jpg"] and full["keep"][0]["thumbnail_url"]
    other = api.upload(sid, "b.jpg", PHOTO)
    api.receive(other)
    delta = api.client.get(path, params={"after_version": full["version"]}, headers=api.auth()).json()
    assert [(f["name"], f["status"]) for f in delta["files"]] == [("b.jpg", "pending")]
    assert delta["keep"] is None and delta["discard"] is None and delta["pending"] == 1
    since_before = api.client.get(path, params={"after_version": 0}, headers=api.auth()).json()
    assert [v["name"] for v in since_before["keep"]] == ["a.jpg"]  # the job changed after 0
    assert since_before["keep"][0]["thumbnail_url"] == full["keep"][0]["thumbnail_url"]
