"""A session's files as the API shows them: one model and one builder for every route that lists them
(the session's status, the triage results)."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import Any

import msgspec


class FileStatus(msgspec.Struct, frozen=True):
    key: str
    name: str
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


def file_statuses(session_id: str, items: Iterable[dict[str, Any]]) -> list[FileStatus]:
    """The decided files among read-model items, by name. An item not written whole is left out: the
    emulator (moto) applies an update in place where a concurrent Query can see it half-written (keys
    only); DynamoDB never shows that, and the next poll has the file. A deleted file has no thumbnail to
    offer any more."""
    out = []
    for item in items:
        sk = str(item["sk"])
        if not sk.startswith("FILE#") or not isinstance(item.get("status"), str) or "name" not in item:
            continue
        deleted = item.get("deleted") is True
        url = thumbnail_url(session_id, str(item["name"])) if item.get("thumbnail") and not deleted else None
        out.append(
            msgspec.convert(
                {**item, "key": sk.removeprefix("FILE#"), "thumbnail_url": url, "deleted": deleted},
                FileStatus,
                strict=False,
            )
        )
    return sorted(out, key=lambda f: f.name)
