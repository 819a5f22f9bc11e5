"""One contract, every object store: in memory and S3 (on the emulator). The in-process API tests upload
through the in-memory store's presigned URLs and multipart calls; this holds it to what S3 answers, so a
route tested in process behaves the same on S3 (parts assembled in order, S3's refusals, gone uploads)."""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from shared.runtime import storage
from shared.runtime.aws import Clients
from shared.runtime.storage import (
    MIN_PART_BYTES,
    InMemoryObjectStore,
    ObjectNotFound,
    ObjectStore,
    PartsRefused,
    S3ObjectStore,
    SizeRefused,
    UploadedPart,
    UploadNotFound,
)
from tests.support.stack import RunningStack

pytestmark = pytest.mark.anyio

#: what a client's PUT to a presigned URL does: (url, bytes, Content-Type) -> the answer's ETag header
Put = Callable[[str, bytes, str | None], Awaitable[str]]
#: what a client's GET of a presigned URL answers: url -> (bytes, Content-Type); ObjectNotFound on a 404
Get = Callable[[str], Awaitable[tuple[bytes, str]]]


@dataclasses.dataclass
class Store:
    store: ObjectStore
    put: Put
    get: Get
    #: a prefix of this test's own (outside uploads/: on the emulator nothing reacts to these objects)
    prefix: str = dataclasses.field(default_factory=lambda: f"contract/{uuid.uuid4()}")

    def key(self, name: str) -> str:
        return f"{self.prefix}/{name}"


@pytest.fixture(params=["memory", pytest.param("s3", marks=pytest.mark.stack)])
async def s(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if request.param == "memory":
        memory = InMemoryObjectStore("contract")

        async def put_in_memory(url: str, data: bytes, content_type: str | None) -> str:
            return memory.put_presigned(url, data)

        async def get_in_memory(url: str) -> tuple[bytes, str]:
            return memory.get_presigned(url)

        yield Store(memory, put_in_memory, get_in_memory)
        return
    stack: RunningStack = request.getfixturevalue("emulator_only")
    async with Clients(stack.settings) as clients, httpx.AsyncClient(timeout=60) as http:

        async def put_to_s3(url: str, data: bytes, content_type: str | None) -> str:
            headers = {"Content-Type": content_type} if content_type else {}
            r = await http.put(url, content=data, headers=headers)
            if r.status_code == 404:
                raise UploadNotFound(url)
            if r.status_code == 403:  # the signature (which covers the length) does not hold
                raise SizeRefused(r.text)
            assert r.status_code == 200, r.text
            return r.headers["etag"]

        async def get_from_s3(url: str) -> tuple[bytes, str]:
            r = await http.get(url)
            # no object: S3 answers 404, or 403 to a signer without s3:ListBucket; the emulator (moto)
            # re-checks a presigned URL's headers for a missing key and answers 403 SignatureDoesNotMatch
            if r.status_code == 404 or (r.status_code == 403 and "SignatureDoesNotMatch" in r.text):
                raise ObjectNotFound(url)
            assert r.status_code == 200, r.text
            return r.content, r.headers["content-type"]

        yield Store(S3ObjectStore(clients.s3, stack.settings.names.media_bucket), put_to_s3, get_from_s3)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(*parts: bytes) -> str:
    """S3's ETag of an object assembled from parts: the MD5 of the parts' MD5s, and how many."""
    return f"{md5(b''.join(hashlib.md5(p).digest() for p in parts))}-{len(parts)}"


async def start_parts(s: Store, key: str, *chunks: bytes) -> tuple[str, list[UploadedPart]]:
    """A multipart upload of ``key`` with ``chunks`` PUT to their presigned URLs, as a browser would."""
    upload_id = await s.store.create_multipart(key, "video/mp4")
    parts = []
    for n, chunk in enumerate(chunks, start=1):
        url = await s.store.presign_part(key, upload_id, n, 60, size=len(chunk))
        parts.append(UploadedPart(n, await s.put(url, chunk, None)))
    return upload_id, parts


async def test_objects_are_written_read_listed_and_deleted(s: Store) -> None:
    store = s.store
    await store.put(s.key("b.jpg"), b"bee", "image/jpeg")
    await store.put(s.key("a.jpg"), b"hello world", "image/jpeg")
    info = await store.head(s.key("a.jpg"))
    assert (info.size, info.etag, info.content_type) == (11, md5(b"hello world"), "image/jpeg")
    assert await store.get(s.key("a.jpg")) == b"hello world"
    assert await store.get_range(s.key("a.jpg"), 6, 5) == b"world"
    assert [o.key async for o in store.list(f"{s.prefix}/")] == [s.key("a.jpg"), s.key("b.jpg")]
    await store.delete(s.key("a.jpg"))
    await store.delete(s.key("a.jpg"))  # gone already: no error
    with pytest.raises(ObjectNotFound):
        await store.head(s.key("a.jpg"))
    with pytest.raises(ObjectNotFound):
        await store.get(s.key("a.jpg"))


async def test_many_keys_are_deleted_in_batches(s: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "DELETE_BATCH", 2)  # S3 takes 1000 a call: three calls here
    keys = [s.key(f"{i}.jpg") for i in range(5)]
    for k in keys:
        await s.store.put(k, b"x", "image/jpeg")
    await s.store.delete_many([*keys, s.key("never-there.jpg")])
    assert [o.key async for o in s.store.list(f"{s.prefix}/")] == []


async def test_a_presigned_put_stores_the_object_with_its_content_type(s: Store) -> None:
    key = s.key("IMG 1 (copy).jpg")
    photo = b"\xff\xd8\xff a photo"
    url = await s.store.presign_put(key, "image/jpeg", 60, size=len(photo))
    assert await s.put(url, photo, "image/jpeg") == f'"{md5(photo)}"'
    info = await s.store.head(key)
    assert (info.size, info.etag, info.content_type) == (len(photo), md5(photo), "image/jpeg")
    assert await s.store.get(key) == photo


async def test_a_presigned_get_reads_the_object_as_the_media_type_it_names(s: Store) -> None:
    """The page's ``<video>`` plays a clip from a presigned GET (it cannot send the bearer token): the
    bytes as stored, with the ``Content-Type`` the URL names; a key with no object is not served."""
    key = s.key("clip 1.mp4")
    await s.store.put(key, b"\x00\x00\x00\x18ftypmp42 a clip", "application/octet-stream")
    url = await s.store.presign_get(key, 60, media_type="video/mp4")
    assert await s.get(url) == (b"\x00\x00\x00\x18ftypmp42 a clip", "video/mp4")
    with pytest.raises(ObjectNotFound):
        await s.get(await s.store.presign_get(s.key("never.mp4"), 60, media_type="video/mp4"))


async def test_a_presigned_put_takes_only_the_length_it_was_signed_for(s: Store) -> None:
    """Issue 12, item 3: a ticket for 100 bytes took 8 MiB. The length is signed into the URL (on S3, a
    signed ``content-length`` header), so a body of any other length is refused, a part's as well."""
    key = s.key("small.jpg")
    url = await s.store.presign_put(key, "image/jpeg", 60, size=100)
    if isinstance(s.store, S3ObjectStore):
        signed = httpx.URL(url).params["X-Amz-SignedHeaders"].split(";")
        assert "content-length" in signed, signed
    for body in (b"x" * (8 << 20), b"x" * 99):
        with pytest.raises(SizeRefused):
            await s.put(url, body, "image/jpeg")
    with pytest.raises(ObjectNotFound):
        await s.store.head(key)
    upload_id = await s.store.create_multipart(key, "video/mp4")
    part_url = await s.store.presign_part(key, upload_id, 1, 60, size=MIN_PART_BYTES)
    with pytest.raises(SizeRefused):
        await s.put(part_url, b"x" * (MIN_PART_BYTES + 1), None)
    await s.store.abort_multipart(key, upload_id)
    assert await s.put(url, b"x" * 100, "image/jpeg")  # the declared length goes in


async def test_parts_are_assembled_in_order_and_the_upload_is_then_gone(s: Store) -> None:
    key = s.key("ride.mp4")
    first, last = b"a" * MIN_PART_BYTES, b"the end"
    upload_id, parts = await start_parts(s, key, first, last)
    assert [p.etag for p in parts] == [f'"{md5(first)}"', f'"{md5(last)}"']
    with pytest.raises(ObjectNotFound):
        await s.store.head(key)  # nothing until it is complete
    await s.store.complete_multipart(key, upload_id, parts)
    assert await s.store.get(key) == first + last
    info = await s.store.head(key)
    assert (info.etag, info.content_type) == (multipart_etag(first, last), "video/mp4")
    with pytest.raises(UploadNotFound):
        await s.store.complete_multipart(key, upload_id, parts)
    with pytest.raises(UploadNotFound):
        await s.store.abort_multipart(key, upload_id)


async def test_refused_completions_name_s3s_reason_and_leave_the_upload_open(s: Store) -> None:
    key = s.key("clip.mp4")
    first, last = b"a" * MIN_PART_BYTES, b"b" * 1024
    upload_id, parts = await start_parts(s, key, first, last)

    async def refused(listed: list[UploadedPart]) -> str:
        with pytest.raises(PartsRefused) as refusal:
            await s.store.complete_multipart(key, upload_id, listed)
        return refusal.value.code

    wrong_etag = UploadedPart(2, '"0123456789abcdef0123456789abcdef"')
    assert await refused([parts[0], wrong_etag]) == "InvalidPart"
    assert await refused([parts[0], UploadedPart(3, parts[1].etag)]) == "InvalidPart"  # never uploaded
    await s.store.complete_multipart(key, upload_id, parts)  # still there: completes
    assert await s.store.get(key) == first + last


async def test_a_part_but_the_last_under_the_minimum_is_refused(s: Store) -> None:
    key = s.key("short.mp4")
    upload_id, parts = await start_parts(s, key, b"a" * 1024, b"b" * 1024)
    with pytest.raises(PartsRefused) as refusal:
        await s.store.complete_multipart(key, upload_id, parts)
    assert refusal.value.code == "EntityTooSmall"
    await s.store.abort_multipart(key, upload_id)


async def test_an_aborted_upload_leaves_nothing_and_takes_no_more_calls(s: Store) -> None:
    key = s.key("abandoned.mp4")
    upload_id, parts = await start_parts(s, key, b"a" * MIN_PART_BYTES)
    await s.store.abort_multipart(key, upload_id)
    with pytest.raises(ObjectNotFound):
        await s.store.head(key)
    with pytest.raises(UploadNotFound):
        await s.store.complete_multipart(key, upload_id, parts)
    with pytest.raises(UploadNotFound):
        await s.store.abort_multipart(key, upload_id)
    with pytest.raises(UploadNotFound):  # a part PUT to it afterwards: S3's 404 NoSuchUpload
        await s.put(await s.store.presign_part(key, upload_id, 2, 60, size=4), b"late", None)


async def test_an_unknown_upload_id_is_not_found(s: Store) -> None:
    key = s.key("one.mp4")
    upload_id, parts = await start_parts(s, key, b"a")
    with pytest.raises(UploadNotFound):
        await s.store.complete_multipart(key, "no-such-upload", parts)
    with pytest.raises(UploadNotFound):
        await s.store.abort_multipart(key, "no-such-upload")
    await s.store.complete_multipart(key, upload_id, parts)
    assert await s.store.get(key) == b"a"


async def test_an_upload_id_answers_for_its_own_key_only(s: Store) -> None:
    """S3 ties an upload id to the key it was created for, and so does the emulator (moto 5.2.5 did not:
    ``deploy/local/moto_patches.py``): a part, a completion or an abort naming another key finds no
    upload, and the upload is left as it was."""
    key, other = s.key("mine.mp4"), s.key("theirs.mp4")
    upload_id, parts = await start_parts(s, key, b"a")
    with pytest.raises(UploadNotFound):
        await s.put(await s.store.presign_part(other, upload_id, 1, 60, size=14), b"someone else's", None)
    with pytest.raises(UploadNotFound):
        await s.store.complete_multipart(other, upload_id, parts)
    with pytest.raises(UploadNotFound):
        await s.store.abort_multipart(other, upload_id)
    for k in (key, other):
        with pytest.raises(ObjectNotFound):
            await s.store.head(k)
    await s.store.complete_multipart(key, upload_id, parts)
    assert await s.store.get(key) == b"a"
