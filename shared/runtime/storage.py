"""The object store every service is given: a small interface, S3 behind it, a dict in unit tests."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import msgspec

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client


class ObjectNotFound(KeyError):
    """No object under that key (deleted, or never uploaded)."""


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


class InMemoryObjectStore(ObjectStore):
    def __init__(self, bucket: str = "test") -> None:
        self.bucket = bucket
        self.objects: dict[str, tuple[bytes, str]] = {}

    def _get(self, key: str) -> bytes:
        try:
            return self.objects[key][0]
        except KeyError:
            raise ObjectNotFound(key) from None

    async def head(self, key: str) -> ObjectInfo:
        import hashlib

        data = self._get(key)
        return ObjectInfo(
            key=key,
            size=len(data),
            etag=hashlib.md5(data).hexdigest(),
            content_type=self.objects[key][1],
        )

    async def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._get(key)[start : start + length]

    async def stream(self, key: str, chunk_size: int = 1 << 20) -> AsyncIterator[bytes]:
        data = self._get(key)
        for i in range(0, len(data), chunk_size):
            yield data[i : i + chunk_size]

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        self.objects[key] = (data, content_type)

    async def list(self, prefix: str) -> AsyncIterator[ObjectInfo]:
        for key in sorted(k for k in self.objects if k.startswith(prefix)):
            yield await self.head(key)

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        self.objects[key] = (await anyio.Path(path).read_bytes(), content_type)

    async def delete(self, key: str) -> None:
        self.objects.pop(key, None)
