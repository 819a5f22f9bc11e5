"""media_process's handler in process, wired as on the stack and run by the consumer runtime on the in-memory
log and store (``tests.support.inproc``): each write decided once however often S3 announces it,
duplicates, replaced uploads, limits applied before a byte is downloaded, giving up, no temp files left.
What S3 and the bus do with the messages is the stack's to show (``tests/stack``)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from shared.events import catalogue as c
from shared.events.envelope import Event
from shared.runtime.config import MediaSettings, Settings
from shared.runtime.dead_letters import WorkerLost
from shared.runtime.log import InMemoryEventLog
from shared.runtime.projections import counters_key
from shared.runtime.read_models import CountersView
from shared.runtime.storage import InMemoryObjectStore, UploadedPart
from tests.support.events import session_created
from tests.support.inproc import Consumers
from tests.support.paths import TESTDATA

pytestmark = pytest.mark.anyio

PHOTO = (TESTDATA / "photos" / "gps" / "DSCN0010.jpg").read_bytes()
NOT_A_PHOTO = b"not a photo, after all\n"


class CountingStore(InMemoryObjectStore):
    """The in-memory store, counting the objects read whole (the handler's download)."""

    def __init__(self) -> None:
        super().__init__("media")
        self.streamed: list[str] = []

    async def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        self.streamed.append(key)
        async for chunk in super().stream(key, chunk_size):
            yield chunk


@dataclasses.dataclass
class Media:
    consumers: Consumers
    store: CountingStore
    log: InMemoryEventLog
    tmp: Path
    sid: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))

    def key(self, name: str) -> str:
        return f"uploads/{self.sid}/{name}"

    async def upload(self, name: str, data: bytes, content_type: str = "image/jpeg") -> list[Event[Any]]:
        """``name`` written (a new write of its key) and announced: media_process's decision."""
        await self.store.put(self.key(name), data, content_type)
        return await self.consumers.object_created(self.key(name))

    async def counters(self) -> tuple[int, int, int]:
        """(processed, rejected, duplicate)"""
        item = await self.log.get_view(counters_key(self.sid), type=CountersView)
        return (item.processed, item.rejected, item.duplicate) if item else (0, 0, 0)

    def decisions(self) -> list[str]:
        """The types of media_process's events in the log, in order."""
        types = [type(self.log.catalogue.decode(raw)).type_name() for raw in self.log.published]
        return [t for t in types if t.startswith("shoebox.media.file.")]


async def media(tmp_path: Path, **limits: Any) -> Media:
    """media_process on a log where its session exists (an upload under any other is refused)."""
    settings = Settings(media=MediaSettings(**limits))
    store, log = CountingStore(), InMemoryEventLog()
    it = Media(Consumers(log, store, settings, tmp_root=str(tmp_path)), store, log, tmp_path)
    await log.commit([session_created(it.sid)])
    log.published.clear()  # what media_process publishes, only
    return it


@pytest.fixture
async def m(tmp_path: Path) -> AsyncIterator[Media]:
    it = await media(tmp_path)
    yield it
    assert [p async for p in anyio.Path(tmp_path).iterdir()] == []  # every file's temp folder removed


async def test_a_photo_is_decided_once_however_often_its_write_is_announced(m: Media) -> None:
    await m.store.put(m.key("a.jpg"), PHOTO, "image/jpeg")
    info = await m.store.head(m.key("a.jpg"))
    body = m.consumers.object_created_body(m.key("a.jpg"), info.size, info.etag, "S1")
    [processed] = await m.consumers.media.process(body)
    assert isinstance(processed, c.FileProcessed)
    assert processed.source == "shoebox/media_process" and processed.sessionid == m.sid
    assert processed.data.file.key == m.key("a.jpg") and processed.data.kind == "photo"
    assert processed.data.keys.thumbnail == f"thumbnails/{m.sid}/a.jpg.jpg"
    assert m.store.objects[processed.data.keys.thumbnail][0][:3] == b"\xff\xd8\xff"

    # the same message delivered again, and another message announcing the same write: nothing new
    assert await m.consumers.media.process(body) == []
    assert await m.consumers.object_created(m.key("a.jpg"), sequencer="S1") == []
    assert await m.counters() == (1, 0, 0)
    assert len(m.store.streamed) == 1
    assert m.decisions() == ["shoebox.media.file.processed.v1"]


async def test_the_same_bytes_written_again_under_their_name_are_nothing_new(m: Media) -> None:
    """A multipart upload is announced twice by the emulator, with the ETag S3 gives parts; a client
    may also upload the same file again: the bytes are what the name was processed from. The decision
    stands and covers the new upload (``media.file.unchanged``: its ETag, so it is not pending); the same
    ETag again is nothing at all."""
    [processed] = await m.upload("ride.jpg", PHOTO)
    upload_id = await m.store.create_multipart(m.key("ride.jpg"), "image/jpeg")
    url = await m.store.presign_part(m.key("ride.jpg"), upload_id, 1, 60, size=len(PHOTO))
    part = UploadedPart(1, m.store.put_presigned(url, PHOTO))
    await m.store.complete_multipart(m.key("ride.jpg"), upload_id, [part])
    multipart_etag = (await m.store.head(m.key("ride.jpg"))).etag
    assert multipart_etag != processed.data.file.etag
    [unchanged] = await m.consumers.object_created(m.key("ride.jpg"))
    assert isinstance(unchanged, c.FileUnchanged) and unchanged.data.file.etag == multipart_etag
    assert await m.consumers.object_created(m.key("ride.jpg")) == []  # announced again: nothing new
    [back] = await m.upload("ride.jpg", PHOTO)  # one PUT again: the first upload's ETag
    assert isinstance(back, c.FileUnchanged) and back.data.file.etag == processed.data.file.etag
    assert await m.counters() == (1, 0, 0)
    assert m.decisions() == [
        "shoebox.media.file.processed.v1",
        "shoebox.media.file.unchanged.v1",
        "shoebox.media.file.unchanged.v1",
    ]


async def test_the_same_bytes_under_another_name_are_a_duplicate_of_the_first(m: Media) -> None:
    [first] = await m.upload("a.jpg", PHOTO)
    [dup] = await m.upload("b.jpg", PHOTO)
    assert isinstance(dup, c.FileDuplicate)
    assert dup.data.duplicate_of == m.key("a.jpg") and dup.data.sha256 == first.data.sha256
    assert not [k for k in m.store.objects if k.startswith(f"thumbnails/{m.sid}/b.jpg")]
    assert await m.counters() == (1, 0, 1)


async def test_a_replaced_upload_names_what_it_replaces_and_counts_once(m: Media) -> None:
    [first] = await m.upload("a.jpg", PHOTO)
    assert first.data.file.replaces is None

    [rejected] = await m.upload("a.jpg", NOT_A_PHOTO)  # the wrong file, same name
    assert isinstance(rejected, c.FileRejected) and rejected.data.code == "unsupported_type"
    assert rejected.data.file.replaces == c.Replaced(
        etag=first.data.file.etag, status="processed", sha256=first.data.sha256
    )
    assert await m.counters() == (0, 1, 0)

    [again] = await m.upload("a.jpg", PHOTO)  # the right one again: processed, not a duplicate of itself
    assert isinstance(again, c.FileProcessed)
    assert again.data.file.replaces == c.Replaced(etag=rejected.data.file.etag, status="rejected")
    assert await m.counters() == (1, 0, 0)


@pytest.mark.parametrize(
    ("limits", "name", "data", "code"),
    [
        ({"max_photo_bytes": 1000}, "big.jpg", PHOTO, "too_large"),
        ({}, "empty.jpg", b"", "empty"),
        ({}, "notes.jpg", NOT_A_PHOTO, "unsupported_type"),
    ],
    ids=["too_large", "empty", "unsupported_type"],
)
async def test_a_file_the_limits_refuse_is_rejected_before_it_is_downloaded(
    tmp_path: Path, limits: dict[str, Any], name: str, data: bytes, code: str
) -> None:
    m = await media(tmp_path, **limits)
    [rejected] = await m.upload(name, data)
    assert isinstance(rejected, c.FileRejected) and rejected.data.code == code
    assert rejected.data.message.startswith(name)
    assert m.store.streamed == []  # decided from its size and its first bytes alone
    assert await m.counters() == (0, 1, 0)


async def test_a_photo_of_too_many_pixels_is_rejected_from_its_header(tmp_path: Path) -> None:
    m = await media(tmp_path, max_pixels=1000)
    [rejected] = await m.upload("huge.jpg", PHOTO)
    assert isinstance(rejected, c.FileRejected) and rejected.data.code == "too_many_pixels"
    assert not [k for k in m.store.objects if k.startswith("thumbnails/")]


async def test_a_corrupt_photo_is_rejected_and_leaves_no_temp_files(m: Media) -> None:
    corrupt = (TESTDATA / "photos" / "broken" / "corrupted.jpg").read_bytes()
    [rejected] = await m.upload("corrupt.jpg", corrupt)
    assert isinstance(rejected, c.FileRejected) and rejected.data.code == "undecodable"


async def test_an_object_gone_before_it_is_handled_and_objects_outside_uploads_are_not_decided(
    m: Media,
) -> None:
    await m.store.put(m.key("gone.jpg"), PHOTO, "image/jpeg")
    info = await m.store.head(m.key("gone.jpg"))
    await m.store.delete(m.key("gone.jpg"))  # a cleanup got there first
    gone = m.consumers.object_created_body(m.key("gone.jpg"), info.size, info.etag)
    assert await m.consumers.media.process(gone) == []
    for key in (f"thumbnails/{m.sid}/x.jpg", f"elsewhere/uploads/{m.sid}/x.jpg"):
        await m.store.put(key, PHOTO, "image/jpeg")
        assert await m.consumers.object_created(key) == []
    assert m.log.published == [] and m.store.streamed == []


async def test_giving_up_on_a_file_rejects_it_so_no_saga_waits_for_it(m: Media) -> None:
    await m.store.put(m.key("a.jpg"), PHOTO, "image/jpeg")
    info = await m.store.head(m.key("a.jpg"))
    body = m.consumers.object_created_body(m.key("a.jpg"), info.size, info.etag)
    events = await m.consumers.media.give_up(
        body,
        error=TimeoutError("the pipeline took too long"),
        message_id="m-1",
        receive_count=5,
        queue="media-process",
        dead_letter_queue="media-process-dlq",
    )
    rejected, failed = events
    assert isinstance(rejected, c.FileRejected) and rejected.data.code == "processing_failed"
    assert rejected.data.file.key == m.key("a.jpg") and "TimeoutError" in rejected.data.message
    assert isinstance(failed, c.MessageFailed) and failed.data.receive_count == 5
    assert await m.counters() == (0, 1, 0)
    assert await m.consumers.media.process(body) == []  # a late redelivery changes nothing


async def test_a_give_up_decides_the_object_as_it_is_now_like_any_decision(m: Media) -> None:
    """The handler decides on the object under the key, so does a give-up: nothing when those bytes are
    decided already (another announcement got through) or the object is gone; a rejection that names the
    decision it replaces otherwise (the file counted once)."""
    args: dict[str, Any] = {
        "error": WorkerLost("every worker died"),
        "receive_count": 5,
        "queue": "media-process",
        "dead_letter_queue": "media-process-dlq",
    }
    [first] = await m.upload("a.jpg", PHOTO)
    info = await m.store.head(m.key("a.jpg"))
    late = m.consumers.object_created_body(m.key("a.jpg"), info.size, info.etag)  # another write's message
    [failed] = await m.consumers.media.give_up(late, message_id="m-1", **args)
    assert isinstance(failed, c.MessageFailed)  # and no rejection: a.jpg is decided for these bytes

    await m.store.put(m.key("a.jpg"), NOT_A_PHOTO, "text/plain")  # other bytes, whose worker dies
    info = await m.store.head(m.key("a.jpg"))
    body = m.consumers.object_created_body(m.key("a.jpg"), info.size, info.etag)
    rejected, _ = await m.consumers.media.give_up(body, message_id="m-2", **args)
    assert isinstance(rejected, c.FileRejected) and rejected.data.code == "processing_failed"
    assert rejected.data.file.replaces == c.Replaced(
        etag=first.data.file.etag, status="processed", sha256=first.data.sha256
    )
    assert await m.counters() == (0, 1, 0)

    await m.store.delete(m.key("a.jpg"))
    gone = m.consumers.object_created_body(m.key("a.jpg"), info.size, "an-older-write")
    [failed] = await m.consumers.media.give_up(gone, message_id="m-3", **args)
    assert isinstance(failed, c.MessageFailed)  # nothing under the key to decide
