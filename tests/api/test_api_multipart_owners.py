"""A multipart upload id belongs to the session and the key it was created for (issue 12, item 2): the
attack was a second user completing and aborting someone else's upload through their own session's routes,
which the emulator let through (it took any key with any upload id). The API records each upload it starts
(``shoebox.upload.multipart.started``, read model ``MULTIPART#<upload id>``) and completes or aborts nothing
else: 404. Shown here on a store that, like moto 5.2.5 before ``deploy/local/moto_patches.py``, takes any
key with an upload id, so the API's own check is what refuses; the same attack on the embedded stack (where
the emulator refuses too): ``test_api_multipart.py``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import httpx
import msgspec
import pytest

from services.api.auth import LocalIssuer
from services.api.wiring import Collaborators
from shared.events import catalogue as c
from shared.runtime.projections import multipart_key
from shared.runtime.read_models import MULTIPART_VIEW_TTL_S, MultipartView
from shared.runtime.storage import InMemoryObjectStore, UploadedPart, UploadNotFound
from tests.support.app import SETTINGS, Api, running

MiB = 1024 * 1024


class AnyKeyStore(InMemoryObjectStore):
    """An upload id answers for any key, and the upload is assembled (or dropped) under its own key: what
    moto 5.2.5 did before the emulator was patched. S3 answers NoSuchUpload instead."""

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise UploadNotFound(upload_id)
        await super().complete_multipart(upload.key, upload_id, parts)

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise UploadNotFound(upload_id)
        await super().abort_multipart(upload.key, upload_id)


@pytest.fixture(scope="module")
def api(issuer: LocalIssuer) -> Iterator[Api]:
    store = AnyKeyStore(SETTINGS.names.media_bucket)
    with running(issuer, msgspec.structs.replace(Collaborators.in_memory(SETTINGS), store=store)) as api:
        yield api


def start(api: Api, sid: str, sub: str, name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``sub`` starts a multipart upload of 6 MiB in ``sid`` and PUTs its two parts."""
    r = api.client.post(
        f"/v1/sessions/{sid}/multipart",
        json={"name": name, "content_type": "video/mp4", "size": 6 * MiB, "part_size": 5 * MiB},
        headers=api.auth(sub),
    )
    assert r.status_code == 201, r.text
    ticket: dict[str, Any] = r.json()
    chunks = [b"a" * (5 * MiB), b"b" * MiB]
    parts = [
        {"part_number": p["part_number"], "etag": api.store.put_presigned(p["url"], chunk)}
        for p, chunk in zip(ticket["parts"], chunks, strict=True)
    ]
    return ticket, parts


def complete(api: Api, sid: str, sub: str, upload_id: str, key: str, parts: list[Any]) -> httpx.Response:
    return api.client.post(
        f"/v1/sessions/{sid}/multipart/{upload_id}/complete",
        json={"key": key, "parts": parts},
        headers=api.auth(sub),
    )


def abort(api: Api, sid: str, sub: str, upload_id: str, key: str) -> httpx.Response:
    return api.client.delete(
        f"/v1/sessions/{sid}/multipart/{upload_id}", params={"key": key}, headers=api.auth(sub)
    )


def test_another_user_cannot_complete_or_abort_an_upload_through_their_own_session(api: Api) -> None:
    alice = api.new_session(sub="alice")
    ticket, parts = start(api, alice, "alice", "ride.mp4")
    upload_id = ticket["upload_id"]
    bob = api.new_session(sub="bob")
    theirs = f"uploads/{bob}/ride.mp4"  # the only keys bob's routes take are his session's

    r = complete(api, bob, "bob", upload_id, theirs, parts)
    assert r.status_code == 404 and "no multipart upload" in r.json()["detail"], r.text
    r = abort(api, bob, "bob", upload_id, theirs)
    assert r.status_code == 404 and "no multipart upload" in r.json()["detail"], r.text
    assert upload_id in api.store.uploads  # untouched: alice's parts are all there
    assert theirs not in api.store.objects and ticket["key"] not in api.store.objects

    # not even the same user through another of their sessions, nor the session under another of its keys
    other = api.new_session(sub="alice")
    assert complete(api, other, "alice", upload_id, f"uploads/{other}/ride.mp4", parts).status_code == 404
    assert abort(api, alice, "alice", upload_id, f"uploads/{alice}/other.mp4").status_code == 404

    r = complete(api, alice, "alice", upload_id, ticket["key"], parts)
    assert r.status_code == 200, r.text
    assert api.store.objects[ticket["key"]][0] == b"a" * (5 * MiB) + b"b" * MiB


def test_the_session_log_records_which_key_each_upload_id_is_for(api: Api) -> None:
    sid = api.new_session()
    ticket, _ = start(api, sid, "alice", "clip (2).mp4")
    [started] = [e for e in api.run(api.log.read_all, sid) if isinstance(e, c.MultipartStarted)]
    assert started.data == c.MultipartStartedData(
        upload_id=ticket["upload_id"], key=ticket["key"], name="clip (2).mp4", size=6 * MiB
    )
    # the owner item is ephemeral: it expires (the views table's TTL on AWS) two days after the start, well
    # after S3's lifecycle has aborted a stale upload (one day)
    view = api.run(partial(api.log.get_view, multipart_key(sid, ticket["upload_id"]), type=MultipartView))
    assert view is not None
    assert MULTIPART_VIEW_TTL_S == 2 * 24 * 3600
    assert view.expires_at == int(started.time.timestamp()) + MULTIPART_VIEW_TTL_S
    assert abort(api, sid, "alice", ticket["upload_id"], ticket["key"]).status_code == 200
