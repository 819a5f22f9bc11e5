"""media_process trusts no key (issue 12): an object under ``uploads/`` that is not a key the API issues
(``uploads/<session id>/<plain name>``) is deleted before a byte of it is read and recorded, never
processed: a ``media.file.rejected`` ``invalid_name`` in its session's log when the session exists (counted
nowhere, so the saga's arithmetic is untouched), a ``message.failed`` on the system stream when the key
names no session. Derived keys are built in one place that refuses any part that could leave its prefix.
In process, as the runtime runs it (a message given up when the runtime would); the same attack against the
embedded stack: ``tests/stack/test_foreign_objects.py``; a session that does not exist:
``tests/unit/test_unknown_sessions.py``."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.events import catalogue as c
from shared.events.codec import make_event
from shared.events.envelope import Event
from shared.runtime.config import Settings
from shared.runtime.dead_letters import gives_up
from shared.runtime.inbound import (
    CONVERTED,
    PREVIEWS,
    THUMBNAILS,
    UPLOADS,
    UnsafeKey,
    derived_key,
    upload_of,
)
from shared.runtime.log import InMemoryEventLog
from shared.runtime.processor import SYSTEM_STREAM, Processor
from shared.runtime.projections import session_pk
from shared.runtime.storage import InMemoryObjectStore
from tests.support.events import session_created
from tests.support.inproc import Consumers
from tests.support.paths import TESTDATA

pytestmark = pytest.mark.anyio

PHOTO = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()
#: names under an existing session that break the upload-name rule
BAD_NAMES = [
    "../x.jpg",
    "../../thumbnails/victim/x.jpg",
    ".hidden.jpg",
    "a/b.jpg",
    "<script>alert(1)</script>.jpg",
    "a" * 300 + ".jpg",
    "x..jpg",
    "",
]


class ReadCountingStore(InMemoryObjectStore):
    """The in-memory store, counting every read of an object's bytes (a sniff or a download)."""

    def __init__(self) -> None:
        super().__init__("media")
        self.read: list[str] = []

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        self.read.append(key)
        return await super().get_range(key, start, length)

    async def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        self.read.append(key)
        async for chunk in super().stream(key, chunk_size):
            yield chunk


@dataclasses.dataclass
class Bucket:
    """A session that exists, media_process and the api's consumer; and what a worker does with one
    receive of a message (handle it, or give it up at once when no retry can help)."""

    log: InMemoryEventLog
    store: ReadCountingStore
    consumers: Consumers
    sid: str

    async def put(self, key: str, data: bytes = PHOTO) -> str:
        """An attacker's object under ``key`` (straight into the bucket): its announcement's body."""
        await self.store.put(key, data, "image/jpeg")
        info = await self.store.head(key)
        return self.consumers.object_created_body(key, info.size, info.etag)

    async def deliver(self, processor: Processor, body: str) -> list[Event[Any]]:
        try:
            return await processor.process(body)
        except Exception as exc:
            if not gives_up(exc, 1):
                raise
            return await processor.give_up(
                body, error=exc, message_id="m", receive_count=1, queue="q", dead_letter_queue="d"
            )

    async def counters(self) -> tuple[int, int, int, int, int]:
        k = await self.log.counters(self.sid)
        return (k.expected, k.processed, k.rejected, k.duplicate, k.pending)

    def derived(self) -> list[str]:
        """Every object outside ``uploads/``: what processing would have written."""
        return [k for k in self.store.objects if not k.startswith(UPLOADS + "/")]


@pytest.fixture
async def bucket(tmp_path: Path) -> Bucket:
    log, store = InMemoryEventLog(), ReadCountingStore()
    b = Bucket(log, store, Consumers(log, store, Settings(), tmp_root=str(tmp_path)), str(uuid.uuid4()))
    await log.commit(
        [
            session_created(b.sid),
            make_event(
                c.TriageInitializedData(job_id="j", expected=1), source="shoebox/api", session_id=b.sid
            ),
        ]
    )
    return b


@pytest.mark.parametrize("name", BAD_NAMES, ids=lambda n: n[:30] or "empty")
async def test_a_key_breaking_the_name_rule_is_refused_deleted_and_recorded_in_its_session(
    bucket: Bucket, name: str
) -> None:
    key = f"uploads/{bucket.sid}/{name}"
    body = await bucket.put(key)
    assert await bucket.deliver(bucket.consumers.api, body) == []  # never pending
    [refused] = await bucket.deliver(bucket.consumers.media, body)
    assert isinstance(refused, c.FileRejected) and refused.sessionid == bucket.sid
    assert refused.data.code == "invalid_name" and refused.data.file.key == key
    assert refused.data.file.name == name and "deleted, not processed" in refused.data.message
    assert key not in bucket.store.objects  # deleted ...
    assert (
        bucket.store.read == [] and bucket.derived() == []
    )  # ... unread: no sniff, no download, no thumbnail
    # counted nowhere: the saga still waits for its one expected file; the session lists no such file
    assert await bucket.counters() == (1, 0, 0, 0, 0)
    assert await bucket.log.query_views(session_pk(bucket.sid), "FILE#") == []
    assert await bucket.deliver(bucket.consumers.media, body) == []  # a redelivery: on record already


async def test_a_key_naming_no_session_is_deleted_and_given_up_to_the_system_stream(bucket: Bucket) -> None:
    for key in ("uploads/x.jpg", "uploads//x.jpg", f"uploads/{bucket.sid}"):
        body = await bucket.put(key)
        assert await bucket.deliver(bucket.consumers.api, body) == []
        [failed] = await bucket.deliver(bucket.consumers.media, body)
        assert isinstance(failed, c.MessageFailed) and failed.sessionid == SYSTEM_STREAM
        assert failed.data.error_type == "NotAnUpload" and key in failed.data.error
        assert key not in bucket.store.objects
    assert bucket.store.read == [] and bucket.derived() == []
    assert await bucket.counters() == (1, 0, 0, 0, 0)


async def test_a_session_id_the_api_never_makes_is_a_session_that_does_not_exist(bucket: Bucket) -> None:
    """Not a UUID (the API's ids are): refused like an unknown session, without reading its META."""
    for sid in ("SESSION#x", "..", bucket.sid.upper()):
        key = f"uploads/{sid}/x.jpg"
        [failed] = await bucket.deliver(bucket.consumers.media, await bucket.put(key))
        assert isinstance(failed, c.MessageFailed) and failed.sessionid == SYSTEM_STREAM
        assert failed.data.error_type == "UnknownSession" and key not in bucket.store.objects
    assert bucket.store.read == [] and bucket.derived() == []


async def test_refusals_leave_the_sessions_own_uploads_decided_as_before(bucket: Bucket) -> None:
    """A refused key next to a real upload: the upload is processed and counted; the refusal is not."""
    await bucket.deliver(bucket.consumers.media, await bucket.put(f"uploads/{bucket.sid}/../a.jpg"))
    [processed] = await bucket.deliver(
        bucket.consumers.media, await bucket.put(f"uploads/{bucket.sid}/a.jpg")
    )
    assert isinstance(processed, c.FileProcessed)
    assert processed.data.keys.thumbnail == f"thumbnails/{bucket.sid}/a.jpg.jpg"
    assert await bucket.counters() == (1, 1, 0, 0, 0)
    types = [type(e).type_name() for e in await bucket.log.read_all(bucket.sid)]
    assert types[-2:] == ["shoebox.media.file.rejected.v2", "shoebox.media.file.processed.v1"]


def test_only_keys_the_api_issues_are_uploads() -> None:
    sid = str(uuid.uuid4())
    assert upload_of(f"uploads/{sid}/IMG_1 (2).JPG") == (sid, "IMG_1 (2).JPG")
    for name in BAD_NAMES:
        assert upload_of(f"uploads/{sid}/{name}") is None, name
    assert upload_of("uploads/not-a-session/a.jpg") is None
    assert upload_of(f"thumbnails/{sid}/a.jpg") is None


def test_a_derived_key_cannot_leave_its_prefix() -> None:
    sid = str(uuid.uuid4())
    for prefix in (THUMBNAILS, CONVERTED, PREVIEWS):
        assert derived_key(prefix, sid, "IMG_1.HEIC", ".jpg") == f"{prefix}/{sid}/IMG_1.HEIC.jpg"
    refused = [
        (THUMBNAILS, sid, "../x", ".jpg"),
        (THUMBNAILS, sid, "a/b", ".jpg"),
        (THUMBNAILS, sid, "", ".jpg"),
        (THUMBNAILS, "..", "x", ".jpg"),
        (THUMBNAILS, f"{sid}/..", "x", ".jpg"),
        (THUMBNAILS, sid, "x", "/../../y.jpg"),
        (UPLOADS, sid, "x", ".jpg"),  # never written into the uploads prefix: it would be processed
        ("../thumbnails", sid, "x", ".jpg"),
    ]
    for parts in refused:
        with pytest.raises(UnsafeKey):
            derived_key(*parts)
