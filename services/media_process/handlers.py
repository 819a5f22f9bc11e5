"""media_process handlers: every uploaded file is validated and measured the moment it lands.

This first cut validates by content (sniffed type, empty files), hashes the bytes and recognises a
re-upload of the same bytes in a session. Decoding, metadata, thumbnails and signals follow (issue 4).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from services.media_process.sniff import HEAD_BYTES, sniff
from shared.events import catalogue as c
from shared.events.inbound import ObjectCreated, session_of
from shared.events.log import EventLog
from shared.events.projections import session_pk
from shared.events.runtime import Output
from shared.events.views import ViewKey
from shared.storage import ObjectNotFound, ObjectStore


class Deps(msgspec.Struct, frozen=True):
    store: ObjectStore
    log: EventLog


def content_key(session_id: str, sha256: str) -> ViewKey:
    return ViewKey(session_pk(session_id), f"HASH#{sha256}")


async def handle_object_created(event: ObjectCreated, deps: Deps) -> Sequence[Output]:
    where = session_of(event.key)
    if where is None:
        return []
    session_id, name = where
    try:
        info = await deps.store.head(event.key)
    except ObjectNotFound:
        return []  # deleted before we got to it (a cleanup): nothing to decide
    ref = c.FileRef(bucket=event.bucket, key=event.key, name=name, size=info.size, etag=info.etag)
    if info.size == 0:
        return [c.FileRejectedData(file=ref, code="empty", message=f"{name} is empty (0 bytes).")]
    head = await deps.store.get_range(event.key, 0, HEAD_BYTES)
    kind = sniff(head)
    if kind is None:
        return [
            c.FileRejectedData(
                file=ref,
                code="unsupported_type",
                message=f"{name} is not a photo or video format Shoebox reads (its content is not JPEG, PNG, "
                "WebP, HEIC/HEIF, AVIF, TIFF, GIF, MP4, MOV or another video container).",
            )
        ]
    digest = hashlib.sha256()
    async for chunk in deps.store.stream(event.key):
        digest.update(chunk)
    sha = digest.hexdigest()
    first = await deps.log.get_view(content_key(session_id, sha))
    if first is not None and first.get("key") != event.key:
        return [c.FileDuplicateData(file=ref, sha256=sha, duplicate_of=str(first["key"]))]
    return [c.FileProcessedData(file=ref, kind=kind.kind, media_type=kind.media_type, sha256=sha)]


def on_give_up(event: object, error: BaseException) -> Sequence[Output]:
    """A file whose processing failed on every attempt is rejected, so no saga waits for it."""
    if not isinstance(event, ObjectCreated) or session_of(event.key) is None:
        return []
    _, name = session_of(event.key) or ("", "")
    ref = c.FileRef(
        bucket=event.bucket,
        key=event.key,
        name=name,
        size=event.detail.object.size,
        etag=event.detail.object.tag,
    )
    return [
        c.FileRejectedData(
            file=ref,
            code="processing_failed",
            message=f"{name} could not be processed ({type(error).__name__}); "
            "it was set aside for an operator to look at.",
        )
    ]
