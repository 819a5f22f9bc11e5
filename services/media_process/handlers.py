"""media_process handlers: every uploaded file validated, converted, thumbnailed and measured the moment
it lands.

The handler owns the I/O (S3 in and out, a private temp dir always removed); the pipelines in
``photo/`` and ``video/`` packages are synchronous functions of a local file, run in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import anyio
import msgspec

from services.media_process.model import Limits, PhotoResult, Rejected, VideoResult
from services.media_process.sniff import HEAD_BYTES, Sniffed, sniff
from shared.events import catalogue as c
from shared.runtime.inbound import (
    CONVERTED,
    PREVIEWS,
    THUMBNAILS,
    UPLOADS,
    ObjectCreated,
    derived_key,
    is_session_id,
    upload_of,
)
from shared.runtime.log import EventLog, UnknownSession
from shared.runtime.projections import content_key, file_key, meta_key
from shared.runtime.read_models import ContentClaim, FileView, MetaView
from shared.runtime.service import Output, PoisonMessage
from shared.runtime.storage import ObjectNotFound, ObjectStore

log = logging.getLogger("shoebox.media_process")


class Deps(msgspec.Struct, frozen=True):
    store: ObjectStore
    log: EventLog
    limits: Limits = Limits()
    #: where private temp dirs are made (None: the system's); each file's dir is removed when it is done
    tmp_root: str | None = None


class NotAnUpload(PoisonMessage):
    """An object under ``uploads/`` whose key names no session: deleted, and given up (its
    ``message.failed`` goes to the system stream)."""


async def session_exists(log_: EventLog, session_id: str | None) -> bool:
    """Whether ``session_id`` is a session the API created (shaped like its ids, with its ``META``)."""
    return (
        session_id is not None
        and is_session_id(session_id)
        and await log_.get_view(meta_key(session_id), type=MetaView) is not None
    )


async def refuse(event: ObjectCreated, deps: Deps) -> Sequence[Output]:
    """An object under ``uploads/`` that is not an upload the API could have issued (``upload_of``) or is
    under a session that does not exist: deleted before any byte of it is read, and recorded: in its
    session's log as ``media.file.rejected`` ``invalid_name`` (counted nowhere) when the session exists;
    else raises ``UnknownSession`` or ``NotAnUpload``, which the runtime gives up at once, recording its
    ``message.failed`` on the system stream. A retry deletes nothing more and records the same."""
    key, sid = event.key, event.session_id
    # the key as announced and as decoded (S3 URL-encodes it; the emulator does not): whichever the object
    # is under goes. Neither can be a key the API issues: decoding a plain name gives a plain name.
    for k in dict.fromkeys((key, event.detail.object.key)):
        await deps.store.delete(k)
    if sid is None:
        raise NotAnUpload(f"{key!r} is not uploads/<session>/<name>: deleted, not processed")
    if not await session_exists(deps.log, sid):
        raise UnknownSession(f"session {sid} does not exist: {key!r} was deleted, not processed")
    name = key.split("/", 2)[2]
    log.warning("refused %r: not a key the API issues; deleted", key)
    o = event.detail.object
    ref = c.FileRef(bucket=event.bucket, key=key, name=name, size=o.size, etag=o.tag)
    message = (
        f"{name!r} is not a name Shoebox gives an upload (letters, digits, '.', '_', '-', '+', ' ', '(', ')'"
        ", starting with a letter or digit, without '..' or '/'): the object was deleted, not processed."
    )
    return [c.FileRejectedData(file=ref, code="invalid_name", message=message)]


async def handle_object_created(event: ObjectCreated, deps: Deps) -> Sequence[Output]:
    if not event.key.startswith(UPLOADS + "/"):
        return []  # not an upload (the bus rule sends none): nothing of ours to decide or to delete
    where = upload_of(event.key)
    if where is None or not await session_exists(deps.log, where[0]):
        return await refuse(event, deps)
    session_id, name = where
    try:
        info = await deps.store.head(event.key)
    except ObjectNotFound:
        return []  # deleted before we got to it (a cleanup): nothing to decide
    earlier = await deps.log.get_view(file_key(session_id, event.key), type=FileView)
    if decided_already(earlier, info.etag):
        # The same bytes written again (a client retrying its PUT), or their write announced again: S3
        # gives each write a new sequencer, so this is a new message, but not a new file.
        log.info("%s: these bytes are decided already; nothing new", name)
        return []
    ref = c.FileRef(
        bucket=event.bucket,
        key=event.key,
        name=name,
        size=info.size,
        etag=info.etag,
        replaces=replaced(earlier, info.etag),
        follows_deletion=earlier is not None and earlier.deleted,
    )

    def rejected(code: c.RejectCode, message: str) -> list[Output]:
        log.info("rejected %s: %s", name, code)
        return [c.FileRejectedData(file=ref, code=code, message=message)]

    if info.size == 0:
        return rejected("empty", f"{name} is empty (0 bytes).")  # nothing to sniff
    kind = sniff(await deps.store.get_range(event.key, 0, HEAD_BYTES))
    if kind is None:
        return rejected(
            "unsupported_type",
            f"{name} is not a photo or video format Shoebox reads (its content is not JPEG, PNG, WebP, "
            "HEIC/HEIF, AVIF, TIFF, GIF, MP4, MOV or another video container).",
        )
    try:
        deps.limits.check_size(kind.kind, info.size)  # before downloading a byte of it
    except Rejected as r:
        return rejected(r.code, f"{name}: {r.message}")

    workdir = Path(tempfile.mkdtemp(prefix="shoebox-media-", dir=deps.tmp_root))
    try:
        local = workdir / "original"
        digest = hashlib.sha256()
        async with await anyio.open_file(local, "wb") as f:
            async for chunk in deps.store.stream(event.key):
                digest.update(chunk)
                await f.write(chunk)
        sha = digest.hexdigest()
        first = await deps.log.get_view(content_key(session_id, sha), type=ContentClaim)
        if first is not None and first.key == event.key:
            # these bytes are what this key was processed from (uploaded again with another ETag, as a
            # multipart upload gives): the decision stands, and now covers this upload (no longer pending)
            log.info("%s: the same bytes as its processed upload; nothing new", name)
            live = earlier is not None and earlier.status is not None and not earlier.deleted
            return [c.FileUnchangedData(file=ref, sha256=sha)] if live else []
        if first is not None:
            return [c.FileDuplicateData(file=ref, sha256=sha, duplicate_of=first.key)]
        try:
            result = await _run_pipeline(local, kind, deps, workdir)
        except Rejected as r:
            return rejected(r.code, f"{name}: {r.message}")
        keys = await _store_outputs(result, session_id, name, deps)
        return [
            c.FileProcessedData(
                file=ref,
                kind=kind.kind,
                media_type=result.media_type,
                sha256=sha,
                metadata=result.metadata,
                keys=keys,
                photo=result.signals if isinstance(result, PhotoResult) else None,
                video=result.signals if isinstance(result, VideoResult) else None,
            )
        ]
    finally:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))


def decided_already(item: FileView | None, etag: str) -> bool:
    """Whether the file (its read model, ``item``) is live and decided for the bytes ``etag``."""
    return item is not None and item.status is not None and not item.deleted and item.etag == etag


def replaced(item: FileView | None, etag: str) -> c.Replaced | None:
    """The decided upload of the file (its read model, ``item``) that the bytes ``etag`` replace, if any:
    a re-upload under the same name with other content, or with any content once the file was deleted
    (it is counted under its decision until then)."""
    if item is None or item.status is None or item.etag is None:  # never decided (or only deleted)
        return None
    if item.etag == etag and not item.deleted:
        return None  # the same upload: nothing replaced (``decided_already``)
    return c.Replaced(
        etag=item.etag, status=item.status, sha256=item.sha256 if item.status == "processed" else None
    )


async def replaced_upload(log_: EventLog, session_id: str, key: str, etag: str) -> c.Replaced | None:
    """``replaced`` for the file's read model as the log holds it now."""
    return replaced(await log_.get_view(file_key(session_id, key), type=FileView), etag)


async def _run_pipeline(local: Path, kind: Sniffed, deps: Deps, workdir: Path) -> PhotoResult | VideoResult:
    """The file's pipeline in a worker thread. At most ``CONSUMER.concurrency`` run at once in a process:
    the Worker and the Lambda batch handler run no more messages than that at a time."""
    if kind.kind == "photo":
        from services.media_process.photo import process_photo

        def run_photo() -> PhotoResult:
            return process_photo(local, kind.media_type, deps.limits)

        return await anyio.to_thread.run_sync(run_photo)

    from services.media_process.video import process_video

    def run_video() -> VideoResult:
        return process_video(local, kind.media_type, deps.limits, workdir)

    return await anyio.to_thread.run_sync(run_video)


async def _store_outputs(
    result: PhotoResult | VideoResult, session_id: str, name: str, deps: Deps
) -> c.DerivedKeys:
    """Write the derived files. Keys depend only on the upload's name: a retry overwrites, never adds; each
    is built by ``inbound.derived_key``, which refuses any part that could take it out of its prefix."""
    thumbnail = derived_key(THUMBNAILS, session_id, name, ".jpg")
    await deps.store.put(thumbnail, result.thumbnail, "image/jpeg")
    converted = preview = None
    if isinstance(result, PhotoResult) and result.converted is not None:
        converted = derived_key(CONVERTED, session_id, name, ".jpg")
        await deps.store.put(converted, result.converted, "image/jpeg")
    if isinstance(result, VideoResult) and result.preview is not None:
        preview = derived_key(PREVIEWS, session_id, name, ".mp4")
        await deps.store.put_file(preview, result.preview, "video/mp4")
    return c.DerivedKeys(thumbnail=thumbnail, converted=converted, preview=preview)


def on_give_up(event: object, error: BaseException) -> Sequence[Output]:
    """A file whose processing failed on every attempt is rejected, so no saga waits for it."""
    if not isinstance(event, ObjectCreated):
        return []
    where = upload_of(event.key)
    if where is None:  # a refused key: its refusal is the record, it is no file of the session
        return []
    ref = c.FileRef(
        bucket=event.bucket,
        key=event.key,
        name=where[1],
        size=event.detail.object.size,
        etag=event.detail.object.tag,
    )
    return [
        c.FileRejectedData(
            file=ref,
            code="processing_failed",
            message=f"{where[1]} could not be processed ({type(error).__name__}); "
            "it was set aside for an operator to look at.",
        )
    ]


async def give_up_on_file(event: object, error: BaseException, *, deps: Deps) -> Sequence[Output]:
    """``on_give_up`` for the file as it is now, counted as any decision is: the handler decided on the
    object under the key (not on the write the message announced), so the rejection is of that object,
    naming what it replaces; nothing when the object is gone (deleted since) or decided already (another
    delivery of its bytes got through)."""
    outputs = on_give_up(event, error)
    if not outputs or not isinstance(event, ObjectCreated) or (where := upload_of(event.key)) is None:
        return outputs
    try:
        info = await deps.store.head(event.key)
    except ObjectNotFound:
        return []
    except Exception:  # the store failing may be why the handler failed: the failure is recorded anyway
        log.warning("giving up on %s without looking at its object", event.key, exc_info=True)
        return outputs
    earlier = await deps.log.get_view(file_key(where[0], event.key), type=FileView)
    if decided_already(earlier, info.etag):
        return []
    out: list[Output] = []
    for o in outputs:
        if isinstance(o, c.FileRejectedData):
            ref = msgspec.structs.replace(
                o.file,
                size=info.size,
                etag=info.etag,
                replaces=replaced(earlier, info.etag),
                follows_deletion=earlier is not None and earlier.deleted,
            )
            o = msgspec.structs.replace(o, file=ref)
        out.append(o)
    return out
