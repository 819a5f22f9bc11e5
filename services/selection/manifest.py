"""The session's processed files as the log recorded them: what triage and selection both start from.

One read-model query (which files are processed and not deleted) and one read of the log (each file's latest
``media.file.processed``, and the latest completed triage). Triage and selection used to read it each their
own way, with a ``ManifestError`` apiece.
"""

from __future__ import annotations

import msgspec

from services.selection.providers import TriageItem
from shared.events import catalogue as c
from shared.runtime.log import EventLog
from shared.runtime.projections import session_pk
from shared.runtime.read_models import FileView

FILE_PREFIX = "FILE#"


class ManifestError(Exception):
    """The read model and the event log disagree about a processed file (retried; a bug if it persists)."""


class Processed(msgspec.Struct, frozen=True, kw_only=True):
    #: upload key → its latest ``media.file.processed`` data
    files: dict[str, c.FileProcessedData]
    #: the latest completed triage, None if none completed
    triage: c.TriageCompletedData | None


async def processed_files(event_log: EventLog, session_id: str) -> Processed:
    """Every processed (and not deleted) file of the session with what media_process recorded of it."""
    views = await event_log.query_views(session_pk(session_id), FILE_PREFIX, type=FileView)
    keys = {v.key for v in views if v.status == "processed" and not v.deleted}
    latest: dict[str, c.FileProcessedData] = {}
    triage: c.TriageCompletedData | None = None
    for event in await event_log.read_all(session_id):  # in sequence order: the last one wins
        if isinstance(event, c.FileProcessed) and event.data.file.key in keys:
            latest[event.data.file.key] = event.data
        elif isinstance(event, c.TriageCompleted):
            triage = event.data
    missing = sorted(keys - set(latest))
    if missing:
        raise ManifestError(
            f"no media.file.processed event for {len(missing)} processed file(s): {missing[:5]}"
        )
    return Processed(files=latest, triage=triage)


def provider_items(processed: Processed) -> list[TriageItem]:
    """The files as a provider sees them (never the originals: their thumbnails and previews), in file-name
    order; selection adds each one's triage verdict."""
    items = [
        TriageItem(
            key=key,
            name=d.file.name,
            kind=d.kind,
            media_type=d.media_type,
            metadata=d.metadata,
            photo=d.photo,
            video=d.video,
            thumbnail=d.keys.thumbnail,
            preview=d.keys.preview,
        )
        for key, d in processed.files.items()
    ]
    return sorted(items, key=lambda i: (i.name, i.key))
