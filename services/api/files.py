"""A session's files as the API shows them: one model and one builder for every route that lists them
(the session's status, the triage results), from a whole session or from what changed in it."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable

import msgspec

from services.api.access import Snapshot
from shared.runtime.read_models import FileView, PendingView

#: an upload that is in storage and whose bytes are not decided yet
PENDING = "pending"


class FileStatus(msgspec.Struct, frozen=True):
    key: str
    name: str
    #: pending (uploaded, not decided yet), processed, rejected or duplicate
    status: str
    kind: str | None = None
    media_type: str | None = None
    size: int | None = None
    sha256: str | None = None
    code: str | None = None
    message: str | None = None
    #: a duplicate's original: the key of the upload with the same bytes
    duplicate_of: str | None = None
    thumbnail: str | None = None
    #: GET it from this API (relative URL) once the thumbnail exists
    thumbnail_url: str | None = None
    captured_at: str | None = None
    #: deleted after triage (a confirmed discard) or by a cleanup
    deleted: bool = False


def thumbnail_url(session_id: str, name: str) -> str:
    return f"/v1/sessions/{session_id}/files/{urllib.parse.quote(name)}/thumbnail"


def file_statuses(
    session_id: str, items: Iterable[FileView], pending: Iterable[PendingView] = ()
) -> list[FileStatus]:
    """The files among read-model items, by name: an upload with a ``PENDING#`` item is ``pending`` (bytes
    not decided yet, or new bytes under a decided name), else its decision. An item with neither is left
    out: a file deleted before it was decided, or one the emulator (moto) shows half-written (it applies an
    update in place where a concurrent Query can see it, keys only; DynamoDB never shows that, and the next
    poll has the file). A deleted file has no thumbnail to offer any more."""
    waiting = {p.key: p for p in pending}
    out = [FileStatus(key=p.key, name=p.name, status=PENDING, size=p.size) for p in waiting.values()]
    for item in items:
        if item.status is None or item.name is None or item.key in waiting:
            continue
        url = thumbnail_url(session_id, item.name) if item.thumbnail and not item.deleted else None
        out.append(
            FileStatus(
                key=item.key,
                name=item.name,
                status=item.status,
                kind=item.kind,
                media_type=item.media_type,
                size=item.size,
                sha256=item.sha256,
                code=item.code,
                message=item.message,
                duplicate_of=item.duplicate_of,
                thumbnail=item.thumbnail,
                thumbnail_url=url,
                captured_at=item.captured_at,
                deleted=item.deleted,
            )
        )
    return sorted(out, key=lambda f: f.name)


def listed(session_id: str, snap: Snapshot) -> tuple[list[FileStatus], list[str]]:
    """A snapshot's files, and in a delta the keys it touched that are no longer listed (a pending upload
    deleted before it was decided): a client drops those."""
    files = file_statuses(session_id, snap.files, snap.pending)
    if snap.after is None:
        return files, []
    shown = {f.key for f in files}
    return files, sorted(snap.touched - shown)
