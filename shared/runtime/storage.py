"""The object store every service is given: a small interface, S3 behind it, a dict in unit tests.

Besides reading and writing objects, it hands out presigned URLs (a client uploads straight to the store,
in one PUT or in parts, and reads an object straight from it: a browser's ``<video>`` plays a clip from a
presigned GET, since it cannot send the API's bearer token) and assembles or drops multipart uploads.
``InMemoryObjectStore`` follows S3's rules for those (part sizes, ETags, unknown uploads), so the API's
upload routes are tested without S3; ``tests/unit/test_store_contract.py`` holds both to the same
behaviour.
"""

from __future__ import annotations

import abc
import hashlib
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

MiB = 1024 * 1024
#: S3's smallest part (every part of a multipart upload but the last)
MIN_PART_BYTES = 5 * MiB
#: S3's limit on the keys one DeleteObjects call takes
DELETE_BATCH = 1000
#: S3's refusals of a CompleteMultipartUpload that are the client's doing
REFUSED_COMPLETIONS = frozenset(
    {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML", "InvalidRequest"}
)


class ObjectNotFound(KeyError):
    """No object under that key (deleted, or never uploaded)."""


class UploadNotFound(KeyError):
    """No multipart upload with that id for that key: never started, completed or aborted."""


class SizeRefused(ValueError):
    """A PUT to a presigned URL with a body of another length than the one signed (S3: 403)."""


class PartsRefused(Exception):
    """The store refused to assemble the parts, for the client's reason: ``code`` is S3's (``InvalidPart``:
    a part missing or its ETag wrong, ``InvalidPartOrder``, ``EntityTooSmall``: a part but the last under
    5 MiB ...), ``message`` its explanation."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class UploadedPart(msgspec.Struct, frozen=True):
    """One part of a multipart upload, as its PUT answered: its number and its ETag."""

    part_number: int
    etag: str


class ObjectInfo(msgspec.Struct, frozen=True):
    key: str
    size: int
    etag: str
    content_type: str | None = None


class ObjectStore(abc.ABC):
    bucket: str

    @abc.abstractmethod
    async def head(self, key: str) -> ObjectInfo: ...

    @abc.abstractmethod
    async def get_range(self, key: str, start: int, length: int) -> bytes: ...

    @abc.abstractmethod
    def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]: ...

    async def get(self, key: str) -> bytes:
        """A small object whole (a thumbnail, a results document)."""
        return b"".join([chunk async for chunk in self.stream(key)])

    @abc.abstractmethod
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    @abc.abstractmethod
    def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        """Every object under ``prefix``, all pages."""

    @abc.abstractmethod
    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Upload a local file without holding it in memory."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...

    async def delete_many(self, keys: Sequence[str]) -> None:
        """Delete every key of ``keys`` (those already gone are no error)."""
        for key in keys:
            await self.delete(key)

    @abc.abstractmethod
    async def presign_put(self, key: str, content_type: str, expires_in_s: int, *, size: int) -> str:
        """A URL that takes one ``PUT`` of the object's ``size`` bytes (with this ``Content-Type``) for a
        while. The length is signed: a body of another length is refused."""

    @abc.abstractmethod
    async def presign_get(self, key: str, expires_in_s: int, *, media_type: str) -> str:
        """A URL that reads the object (``GET``, ranges too) for ``expires_in_s`` seconds, answered with
        ``Content-Type: media_type`` whatever the object was stored with. Signing is local: a key with no
        object gets a URL that answers 404."""

    @abc.abstractmethod
    async def create_multipart(self, key: str, content_type: str) -> str:
        """Start a multipart upload of ``key``; returns its upload id."""

    @abc.abstractmethod
    async def presign_part(
        self, key: str, upload_id: str, part_number: int, expires_in_s: int, *, size: int
    ) -> str:
        """A URL that takes one ``PUT`` of part ``part_number``'s ``size`` bytes (the length is signed);
        its answer's ``ETag`` names it."""

    @abc.abstractmethod
    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        """Assemble the parts (in order) into the object. Raises ``UploadNotFound`` or ``PartsRefused``."""

    @abc.abstractmethod
    async def abort_multipart(self, key: str, upload_id: str) -> None:
        """Drop the upload and its parts. Raises ``UploadNotFound``."""


def _s3_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class S3ObjectStore(ObjectStore):
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    async def head(self, key: str) -> ObjectInfo:
        try:
            r = await self.s3.head_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise ObjectNotFound(key) from None
            raise
        return ObjectInfo(
            key=key, size=r["ContentLength"], etag=r["ETag"].strip('"'), content_type=r.get("ContentType")
        )

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            r = await self.s3.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + length - 1}"
            )
        except self.s3.exceptions.NoSuchKey:
            raise ObjectNotFound(key) from None
        except self.s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise
        async with r["Body"] as body:
            return await body.read()

    async def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        try:
            r = await self.s3.get_object(Bucket=self.bucket, Key=key)
        except self.s3.exceptions.NoSuchKey:
            raise ObjectNotFound(key) from None
        async with r["Body"] as body:
            while chunk := await body.read(chunk_size):
                yield chunk

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        paginator = self.s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for o in page.get("Contents", []):
                yield ObjectInfo(key=o["Key"], size=o["Size"], etag=o["ETag"].strip('"'))

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        with path.open("rb") as f:  # botocore streams a file object in chunks
            await self.s3.put_object(Bucket=self.bucket, Key=key, Body=f, ContentType=content_type)

    async def delete(self, key: str) -> None:
        await self.s3.delete_object(Bucket=self.bucket, Key=key)

    async def delete_many(self, keys: Sequence[str]) -> None:
        for i in range(0, len(keys), DELETE_BATCH):
            batch = keys[i : i + DELETE_BATCH]
            await self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True}
            )

    async def presign_put(self, key: str, content_type: str, expires_in_s: int, *, size: int) -> str:
        # ContentLength is a signed header of the URL (X-Amz-SignedHeaders=content-length;...): S3, and
        # the embedded emulator's signature check, refuse a body of any other length
        return await self.s3.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size},
            ExpiresIn=expires_in_s,
        )

    async def presign_get(self, key: str, expires_in_s: int, *, media_type: str) -> str:
        return await self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentType": media_type},
            ExpiresIn=expires_in_s,
        )

    async def create_multipart(self, key: str, content_type: str) -> str:
        created = await self.s3.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        return created["UploadId"]

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, expires_in_s: int, *, size: int
    ) -> str:
        params = {"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": part_number}
        return await self.s3.generate_presigned_url(
            "upload_part", Params={**params, "ContentLength": size}, ExpiresIn=expires_in_s
        )

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        try:
            # S3 answers NoSuchUpload to both; the emulator (moto) fails a completion of an unknown upload
            # with a 500 (a KeyError), so the upload is looked up first: one cheap call per file
            await self.s3.list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id, MaxParts=1)
            await self.s3.complete_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": p.part_number, "ETag": p.etag} for p in parts]},
            )
        except ClientError as exc:
            code = _s3_code(exc)
            if code == "NoSuchUpload":
                raise UploadNotFound(upload_id) from None
            if code in REFUSED_COMPLETIONS:
                message = str(exc.response.get("Error", {}).get("Message", "")) or code
                raise PartsRefused(code, message) from None
            raise

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        try:
            await self.s3.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except ClientError as exc:
            if _s3_code(exc) == "NoSuchUpload":
                raise UploadNotFound(upload_id) from None
            raise


class _Multipart(msgspec.Struct):
    key: str
    content_type: str
    #: part number -> (bytes, ETag as its PUT answered it: quoted)
    parts: dict[int, tuple[bytes, str]] = msgspec.field(default_factory=dict)


#: the scheme of the in-memory store's presigned URLs
MEMORY_SCHEME = "memory"


def _quoted_md5(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


class InMemoryObjectStore(ObjectStore):
    """The store in a dict. Its presigned URLs (``memory://<bucket>/<key>?...``) are taken by
    ``put_presigned``, which stands for the client's PUT; multipart uploads follow S3's rules."""

    def __init__(self, bucket: str = "test") -> None:
        self.bucket = bucket
        self.objects: dict[str, tuple[bytes, str]] = {}
        #: multipart uploads neither completed nor aborted, by upload id
        self.uploads: dict[str, _Multipart] = {}
        #: the ETags of objects assembled from parts (S3's ``<md5 of the parts' md5s>-<parts>``); an
        #: object written whole has the MD5 of its bytes
        self.multipart_etags: dict[str, str] = {}

    def _get(self, key: str) -> bytes:
        try:
            return self.objects[key][0]
        except KeyError:
            raise ObjectNotFound(key) from None

    async def head(self, key: str) -> ObjectInfo:
        data = self._get(key)
        return ObjectInfo(
            key=key,
            size=len(data),
            etag=self.multipart_etags.get(key) or hashlib.md5(data).hexdigest(),
            content_type=self.objects[key][1],
        )

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._get(key)[start : start + length]

    async def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        data = self._get(key)
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self._write(key, data, content_type)

    def _write(self, key: str, data: bytes, content_type: str, *, multipart_etag: str | None = None) -> None:
        self.objects[key] = (data, content_type)
        if multipart_etag is None:
            self.multipart_etags.pop(key, None)
        else:
            self.multipart_etags[key] = multipart_etag

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        for key in sorted(k for k in self.objects if k.startswith(prefix)):
            yield await self.head(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        self._write(key, await anyio.Path(path).read_bytes(), content_type)

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)
        self.multipart_etags.pop(key, None)

    def _url(self, key: str, query: dict[str, str]) -> str:
        path = urllib.parse.quote(key)
        return f"{MEMORY_SCHEME}://{self.bucket}/{path}?{urllib.parse.urlencode(query)}"

    async def presign_put(self, key: str, content_type: str, expires_in_s: int, *, size: int) -> str:
        return self._url(key, {"content-type": content_type, "expires": str(expires_in_s), "size": str(size)})

    async def presign_get(self, key: str, expires_in_s: int, *, media_type: str) -> str:
        return self._url(key, {"response-content-type": media_type, "expires": str(expires_in_s)})

    def get_presigned(self, url: str) -> tuple[bytes, str]:
        """What a client's GET of a URL this store presigned answers: the object's bytes and the
        ``Content-Type`` the URL names. Raises ``ObjectNotFound`` (S3: 404)."""
        u = urllib.parse.urlsplit(url)
        if u.scheme != MEMORY_SCHEME or u.netloc != self.bucket:
            raise ValueError(f"not a URL of this store: {url}")
        query = dict(urllib.parse.parse_qsl(u.query))
        return self._get(urllib.parse.unquote(u.path.removeprefix("/"))), query["response-content-type"]

    async def create_multipart(self, key: str, content_type: str) -> str:
        upload_id = uuid.uuid4().hex
        self.uploads[upload_id] = _Multipart(key=key, content_type=content_type)
        return upload_id

    async def presign_part(
        self, key: str, upload_id: str, part_number: int, expires_in_s: int, *, size: int
    ) -> str:
        query = {"uploadId": upload_id, "partNumber": str(part_number), "expires": str(expires_in_s)}
        return self._url(key, {**query, "size": str(size)})

    def put_presigned(self, url: str, data: bytes) -> str:
        """What a client's PUT to a URL this store presigned does: store the object (or the part); returns
        the answer's ``ETag`` header. Raises ``UploadNotFound`` for a part of an upload that is gone, and
        ``SizeRefused`` for a body whose length is not the one signed (as S3 refuses it)."""
        u = urllib.parse.urlsplit(url)
        if u.scheme != MEMORY_SCHEME or u.netloc != self.bucket:
            raise ValueError(f"not a URL of this store: {url}")
        key = urllib.parse.unquote(u.path.removeprefix("/"))
        query = dict(urllib.parse.parse_qsl(u.query))
        if int(query["size"]) != len(data):
            raise SizeRefused(f"the URL takes {query['size']} bytes, not {len(data)}")
        etag = _quoted_md5(data)
        if "uploadId" not in query:
            self._write(key, data, query.get("content-type", "application/octet-stream"))
            return etag
        upload = self.uploads.get(query["uploadId"])
        if upload is None or upload.key != key:
            raise UploadNotFound(query["uploadId"])
        upload.parts[int(query["partNumber"])] = (data, etag)
        return etag

    def _upload(self, key: str, upload_id: str) -> _Multipart:
        upload = self.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise UploadNotFound(upload_id)
        return upload

    async def complete_multipart(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> None:
        upload = self._upload(key, upload_id)
        numbers = [p.part_number for p in parts]
        if not parts or numbers != sorted(set(numbers)):
            raise PartsRefused("InvalidPartOrder", "the parts must be listed in ascending order, each once")
        chunks = []
        for i, p in enumerate(parts):
            stored = upload.parts.get(p.part_number)
            if stored is None or stored[1].strip('"') != p.etag.strip('"'):
                raise PartsRefused("InvalidPart", f"part {p.part_number} was not uploaded with that ETag")
            if i < len(parts) - 1 and len(stored[0]) < MIN_PART_BYTES:
                raise PartsRefused("EntityTooSmall", f"part {p.part_number} is smaller than 5 MiB")
            chunks.append(stored[0])
        digests = b"".join(hashlib.md5(chunk).digest() for chunk in chunks)
        etag = f"{hashlib.md5(digests).hexdigest()}-{len(chunks)}"
        self._write(key, b"".join(chunks), upload.content_type, multipart_etag=etag)
        del self.uploads[upload_id]

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self._upload(key, upload_id)
        del self.uploads[upload_id]


async def download_to(store: ObjectStore, key: str, local: Path) -> Path:
    """The object at ``key`` streamed into the file ``local`` (never whole in memory); ``ObjectNotFound``
    when it is gone."""
    async with await anyio.open_file(local, "wb") as f:
        async for chunk in store.stream(key):
            await f.write(chunk)
    return local
