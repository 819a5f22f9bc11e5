"""The report's entries: one per file of the folder, from what the job decided itself (a duplicate set aside,
an upload refused or cut off) and what the API says (each uploaded file's status), with the metadata of the
file's ``processed`` event and its thumbnail downloaded next to the report.

Phases still to come (triage, selection, enhancement) fill their fields of the entries here.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Container, Mapping, Sequence
from pathlib import Path

import anyio
import msgspec

from shoebox_cli import report
from shoebox_cli.client import ApiClient, ApiError, FileStatus
from shoebox_cli.inputs import InputFile
from shoebox_cli.report import Camera, FileEntry, Gps, Metadata, Reason
from shoebox_cli.state import Uploaded

log = logging.getLogger("shoebox.cli")

THUMBNAILS_DIR = "thumbnails"


@dataclasses.dataclass
class LocalResult:
    """A file's result decided on this side: a duplicate, an upload the API refused, an upload that failed."""

    status: report.Status
    reason: Reason


# ---------------------------------------------------------------------- event payloads the report reads
class _GeoView(msgspec.Struct, frozen=True):
    lat: float
    lon: float
    altitude_m: float | None = None


class MetadataView(msgspec.Struct, frozen=True):
    """The part of a ``processed`` event's metadata the report shows."""

    captured_at: str | None = None
    gps: _GeoView | None = None
    make: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None


class _FileRefView(msgspec.Struct, frozen=True):
    key: str


class _ProcessedView(msgspec.Struct, frozen=True):
    file: _FileRefView
    metadata: MetadataView = MetadataView()


async def event_metadata(client: ApiClient, session_id: str) -> dict[str, MetadataView]:
    """What each processed file's event says about it (the status view carries only part of it)."""
    found: dict[str, MetadataView] = {}
    with anyio.move_on_after(30):
        try:
            async for event in client.all_events(session_id):
                if not event.type.startswith("shoebox.media.file.processed."):
                    continue
                try:
                    view = msgspec.convert(event.data, _ProcessedView, strict=False)
                except msgspec.ValidationError:
                    continue
                found[view.file.key] = view.metadata
        except ApiError as exc:
            log.warning("could not read the session's events for metadata: %s", exc)
    return found


async def download_thumbnails(
    client: ApiClient, server: Mapping[str, FileStatus], mine: Container[str], out: Path, concurrency: int
) -> dict[str, str]:
    """key -> thumbnail path relative to ``out``, for the processed files of ``mine`` whose status offers a
    thumbnail URL; at most ``concurrency`` downloads at a time."""
    wanted = {
        k: s.thumbnail_url
        for k, s in server.items()
        if s.thumbnail_url and k in mine and s.status == "processed"
    }
    got: dict[str, str] = {}
    if not wanted:
        return got
    folder = out / THUMBNAILS_DIR
    await anyio.Path(folder).mkdir(parents=True, exist_ok=True)
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def one(key: str, url: str) -> None:
        async with limiter:
            suffix = Path(url.split("?")[0]).suffix or ".jpg"
            rel = f"{THUMBNAILS_DIR}/{Path(key).name}{'' if key.endswith(suffix) else suffix}"
            try:
                await client.download(url, out / rel)
            except ApiError as exc:
                log.warning("thumbnail of %s: %s", key, exc)
                return
            got[key] = rel

    async with anyio.create_task_group() as tg:
        for key, url in wanted.items():
            assert url is not None
            tg.start_soon(one, key, url)
    return got


def report_entries(
    files: Sequence[InputFile],
    *,
    duplicates: Mapping[str, str],
    shas: Mapping[str, str],
    uploads: Mapping[str, Uploaded],
    local: Mapping[str, LocalResult],
    server: Mapping[str, FileStatus],
    key_to_path: Mapping[str, str],
    metadata: Mapping[str, MetadataView],
    thumbnails: Mapping[str, str],
) -> list[FileEntry]:
    """One entry per file, in the folder's order. ``duplicates``: path -> the earlier path with the same
    bytes; ``uploads``: path -> what was uploaded (the state file); ``local``: results decided here;
    ``server``: key -> the API's status; ``key_to_path``: this job's uploaded keys."""
    by_path: dict[str, FileEntry] = {}
    for f in files:
        if f.path in duplicates:
            continue  # after its original, whose kind and metadata it shares
        up = uploads.get(f.path)
        key = up.key if up is not None else None
        status_view = server.get(key) if key else None
        here = local.get(f.path)
        status: report.Status
        reason: Reason | None = None
        if here is not None:
            status, reason = here.status, here.reason
        elif status_view is not None and status_view.status == "processed":
            status = "processed"
        elif status_view is not None and status_view.status == "rejected":
            status, reason = (
                "rejected",
                Reason(code=status_view.code or "rejected", message=status_view.message or ""),
            )
        elif status_view is not None and status_view.status == "duplicate":
            of = key_to_path.get(status_view.duplicate_of or "", status_view.duplicate_of or "?")
            status, reason = "duplicate", Reason(code="duplicate", message=f"same bytes as {of}")
        elif status_view is not None and status_view.status == "pending":
            status, reason = (
                "pending",
                Reason(
                    code="not_decided",
                    message="uploaded and in storage, but not decided before the job ended",
                ),
            )
        elif key is not None:
            status, reason = (
                "missing",
                Reason(code="no_result", message="uploaded, but no result arrived before the job ended"),
            )
        else:
            status, reason = (
                "missing",
                Reason(code="not_uploaded", message="the job ended before it was uploaded"),
            )
        kind: report.Kind | None = None
        if status_view is not None and status in ("processed", "duplicate"):
            kind = (
                "photo" if status_view.kind == "photo" else "video" if status_view.kind == "video" else None
            )
        by_path[f.path] = FileEntry(
            path=f.path,
            status=status,
            reason=reason,
            kind=kind,
            metadata=_metadata_of(status_view, metadata.get(key or ""))
            if status == "processed"
            else Metadata.empty(),
            thumbnail=thumbnails.get(key or ""),
            triage=None,
            selected=None,
            enhanced=None,
            key=key,
            size=f.size,
            sha256=shas[f.path],
            media_type=status_view.media_type if status_view is not None else None,
        )
    for f in files:
        if f.path in duplicates:
            original = by_path[duplicates[f.path]]
            decided = local[f.path]
            by_path[f.path] = msgspec.structs.replace(
                original,
                path=f.path,
                status=decided.status,
                reason=decided.reason,
                thumbnail=None,
                key=None,
                size=f.size,
                triage=None,
                selected=None,
                enhanced=None,
            )
    return [by_path[f.path] for f in files]


def _metadata_of(status: FileStatus | None, event: MetadataView | None) -> Metadata:
    ev = event or MetadataView()
    camera = Camera(make=ev.make, model=ev.model) if (ev.make or ev.model) else None
    gps = Gps(lat=ev.gps.lat, lon=ev.gps.lon, altitude_m=ev.gps.altitude_m) if ev.gps else None
    return Metadata(
        captured_at=(status.captured_at if status else None) or ev.captured_at,
        camera=camera,
        gps=gps,
        width=ev.width,
        height=ev.height,
        duration_s=ev.duration_s,
    )
