"""All of an enhancement job's enhanced files as one zip: ``GET …/enhancements/{job}/archive``.

The zip is streamed as it is made, never held whole: the standard library's ``zipfile`` writes to an
unseekable sink (each entry's sizes and CRC then follow it in a data descriptor, as the format allows for
streams), each file is copied into its entry from the store's ``stream`` a megabyte at a time, and what
the sink holds is sent after every chunk. So the API holds about one chunk however large the job. JPEGs
and MP4s are stored, not deflated: they are compressed already, and deflating them costs CPU for nothing.

Why ``zipfile`` and no library: it has written to unseekable streams since Python 3.5 and does exactly
this; the streaming-zip packages on PyPI (``stream-zip``, ``zipstream-ng``) add a dependency for the
same result.

The entries are named as ``…/items/{name}/file`` names its download (``<stem>-enhanced.jpg``, a video's
``<stem>-enhanced.mp4``; a second file of the same name gets ``-2``, ``-3``, …), in the job's order. An
item whose enhanced file vanished from storage before the zip starts is left out (the others still
come); the files are looked at with
``head`` first, so the route answers 404 when none is there (a job with nothing enhanced yet) instead of
an empty zip. Owner-only, like every session route (404 for another caller's session).
"""

from __future__ import annotations

import zipfile
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Stream

from services.api.access import CallerDep, event_log, job_of, object_store, owned_meta
from services.api.item_media import download_name
from shared.runtime.projections import session_pk
from shared.runtime.read_models import EnhancedItemView
from shared.runtime.storage import ObjectNotFound, ObjectStore

#: how much of a file is read from the store (and sent) at a time
CHUNK = 1 << 20


class Entry(msgspec.Struct, frozen=True):
    """One file of the zip: its name in the zip, where it is stored, and its size."""

    name: str
    key: str
    size: int


class Sink:
    """What ``zipfile`` writes to: unseekable (no ``tell``/``seek``), so it streams; ``take`` empties it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: ``take`` hands the bytes on."""

    def close(self) -> None:
        """Nothing to close: the response ends the stream."""

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


def entry_name(name: str, enhanced_key: str, taken: set[str]) -> str:
    """``DSCN0010.jpg`` -> ``DSCN0010-enhanced.jpg`` (a video's ``-enhanced.mp4``), as the file route
    names its download (``item_media.download_name``); a name already in ``taken`` (two uploads of one
    stem, ``a.jpg`` and ``a.heic``) gets ``-2``, ``-3``, …"""
    first = download_name(name, enhanced_key)
    stem, _, suffix = first.rpartition(".")
    candidate, n = first, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{stem}-{n}.{suffix}"
    taken.add(candidate.lower())
    return candidate


async def archive_entries(store: ObjectStore, items: list[EnhancedItemView], job_id: str) -> list[Entry]:
    """The job's enhanced files that are in storage, in the job's order, with their names in the zip."""
    taken: set[str] = set()
    out: list[Entry] = []
    for item in sorted(items, key=lambda i: (i.index is None, i.index or 0, i.sk)):
        if item.enhanced_key is None:
            continue
        try:
            info = await store.head(item.enhanced_key)
        except ObjectNotFound:
            continue  # vanished: the others still come
        name = item.sk.removeprefix(f"ITEM#{job_id}#").rsplit("/", 1)[-1]
        out.append(Entry(entry_name(name, item.enhanced_key, taken), item.enhanced_key, info.size))
    return out


async def zip_stream(store: ObjectStore, entries: list[Entry]) -> AsyncIterator[bytes]:
    """The zip of ``entries`` as it is written: each file stored (not deflated), chunk by chunk."""
    sink = Sink()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as zf:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name)
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = entry.size  # so zipfile picks ZIP64 when a file needs it
            with zf.open(info, mode="w") as out:
                async for chunk in store.stream(entry.key, CHUNK):
                    out.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()  # the central directory, written on close


@get("/v1/sessions/{session_id:str}/enhancements/{job_id:str}/archive", media_type="application/zip")
async def enhancement_archive(
    session_id: FromPath[str], job_id: FromPath[str], state: State, caller: CallerDep
) -> Stream:
    """Every enhanced file of the job as one zip (``<stem>-enhanced.jpg`` / ``.mp4`` entries, stored),
    streamed; 404 while the job has no enhanced file."""
    await owned_meta(state, session_id, caller)
    log_ = event_log(state)
    await job_of(log_, session_id, job_id, "enhancement")
    items = await log_.query_views(session_pk(session_id), f"ITEM#{job_id}#", type=EnhancedItemView)
    store = object_store(state)
    entries = await archive_entries(store, items, job_id)
    if not entries:
        raise NotFoundException(detail=f"no enhanced file in enhancement {job_id} yet")
    headers: dict[str, Any] = {
        "Cache-Control": "private, no-cache",
        "Content-Disposition": f'attachment; filename="{job_id}-enhanced.zip"',
    }
    return Stream(zip_stream(store, entries), media_type="application/zip", headers=headers)


ROUTES = [enhancement_archive]
