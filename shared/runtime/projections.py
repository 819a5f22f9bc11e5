"""Projections: how each event changes the read models the sagas and the API poll.

A projection is a pure function of one event. The log calls it for every event it appends and writes
the result in the same transaction; ``rebuild`` replays a stream through the same functions.

Read models (views table, ``pk = SESSION#<id>``):

==================  =================================================================================
``sk``              content
==================  =================================================================================
``META``            owner, trip context, created time
``COUNTERS``        expected, processed, rejected, duplicate, deleted, the current triage job, finalized,
                    version (+1 per event: the session's ETag)
``FILE#<key>``      one uploaded file: status (processed|rejected|duplicate|deleted), reason, keys
``JOB#<id>``        one job (triage, selection, enhancement): status, counts, result key
``HASH#<sha256>``   the first file with these bytes (duplicate detection)
==================  =================================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.events import catalogue as c
from shared.events.envelope import Event
from shared.runtime.views import ViewKey, ViewUpdate

COUNTER_FIELDS = ("expected", "processed", "rejected", "duplicate", "deleted")


def session_pk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def meta_key(session_id: str) -> ViewKey:
    return ViewKey(session_pk(session_id), "META")


def counters_key(session_id: str) -> ViewKey:
    return ViewKey(session_pk(session_id), "COUNTERS")


def file_key(session_id: str, key: str) -> ViewKey:
    return ViewKey(session_pk(session_id), f"FILE#{key}")


def content_key(session_id: str, sha256: str) -> ViewKey:
    """The first file of a session with these bytes."""
    return ViewKey(session_pk(session_id), f"HASH#{sha256}")


def job_key(session_id: str, job_id: str) -> ViewKey:
    return ViewKey(session_pk(session_id), f"JOB#{job_id}")


_Projection = Callable[[Any], list[ViewUpdate]]
_PROJECTIONS: dict[type[Event[Any]], _Projection] = {}


def _projects(cls: type[Event[Any]]) -> Callable[[_Projection], _Projection]:
    def register(fn: _Projection) -> _Projection:
        _PROJECTIONS[cls] = fn
        return fn

    return register


def view_updates(event: Event[Any]) -> list[ViewUpdate]:
    """The read-model changes one (current-version) event causes. Every event also moves the session's
    ``COUNTERS.version`` on, so a poller learns "nothing changed" from that one item (the API's ETag)."""
    fn = _PROJECTIONS.get(type(event))
    own = fn(event) if fn else []
    return [*own, ViewUpdate(key=counters_key(event.sessionid), add={"version": 1})]


def _seen(event: Event[Any]) -> dict[str, Any]:
    return {"updated_at": event.time.isoformat()}


@_projects(c.SessionCreatedV2)
def _session_created(e: c.SessionCreatedV2) -> list[ViewUpdate]:
    sid = e.sessionid
    return [
        ViewUpdate(
            key=meta_key(sid),
            set={"owner": e.data.owner, "context": e.data.trip.context, "timezone": e.data.trip.timezone},
            set_if_absent={"created_at": e.time.isoformat()},
        ),
        ViewUpdate(
            key=counters_key(sid), set_if_absent={**{f: 0 for f in COUNTER_FIELDS}, "finalized": False}
        ),
    ]


@_projects(c.TriageInitialized)
def _triage_initialized(e: c.TriageInitialized) -> list[ViewUpdate]:
    return [
        ViewUpdate(key=counters_key(e.sessionid), set={"expected": e.data.expected, "job_id": e.data.job_id}),
        ViewUpdate(
            key=job_key(e.sessionid, e.data.job_id),
            set={"kind": "triage", "status": "pending", "model": e.data.model},
            set_if_absent={"created_at": e.time.isoformat()},
        ),
    ]


@_projects(c.TriageExpectedChanged)
def _expected_changed(e: c.TriageExpectedChanged) -> list[ViewUpdate]:
    return [ViewUpdate(key=counters_key(e.sessionid), set={"expected": e.data.expected})]


@_projects(c.UploadFinalized)
def _upload_finalized(e: c.UploadFinalized) -> list[ViewUpdate]:
    return [
        ViewUpdate(
            key=counters_key(e.sessionid),
            add={"expected": -len(e.data.failed)},
            set={"finalized": True, "deadline": e.data.deadline.isoformat(), "upload_failed": e.data.failed},
        ),
        ViewUpdate(key=job_key(e.sessionid, e.data.job_id), set={"status": "processing"}),
    ]


#: every field a decided file's read model has; a decision sets them all (None where it has none), so a
#: replaced upload's thumbnail, reason or hash never outlives it
_FILE_FIELDS: dict[str, Any] = dict.fromkeys(
    (
        "kind",
        "media_type",
        "sha256",
        "thumbnail",
        "converted",
        "preview",
        "captured_at",
        "code",
        "message",
        "duplicate_of",
    )
)


def _file(e: Event[Any], ref: c.FileRef, status: str, **fields: Any) -> list[ViewUpdate]:
    """A decided upload: its read model, and the counters. An upload that replaced a decided one of the
    same key moves the key from the old decision's counter to the new one (counted once)."""
    add = {status: 1}
    released: list[ViewUpdate] = []
    if ref.replaces is not None:
        add[ref.replaces.status] = add.get(ref.replaces.status, 0) - 1
        if ref.replaces.sha256 is not None:  # its bytes are no longer in the session under this key
            released.append(ViewUpdate(key=content_key(e.sessionid, ref.replaces.sha256), delete=True))
    item = {
        **_FILE_FIELDS,
        **fields,
        "status": status,
        "event_id": e.id,
        "name": ref.name,
        "size": ref.size,
        "etag": ref.etag,
        "deleted": False,  # a write after a deletion is a live file again
        "deleted_reason": None,
    }
    return [
        ViewUpdate(key=counters_key(e.sessionid), add=add, set=_seen(e)),
        ViewUpdate(key=file_key(e.sessionid, ref.key), set=item),
        *released,
    ]


@_projects(c.FileProcessed)
def _file_processed(e: c.FileProcessed) -> list[ViewUpdate]:
    d = e.data
    # A claim: two uploads of the same bytes committing at once cannot both be "processed".
    first_of_its_bytes = ViewUpdate(
        key=content_key(e.sessionid, d.sha256), set={"key": d.file.key}, require_absent=True
    )
    return [
        first_of_its_bytes,
        *_file(
            e,
            d.file,
            "processed",
            kind=d.kind,
            media_type=d.media_type,
            sha256=d.sha256,
            thumbnail=d.keys.thumbnail,
            converted=d.keys.converted,
            preview=d.keys.preview,
            captured_at=d.metadata.captured_at.isoformat() if d.metadata.captured_at else None,
        ),
    ]


@_projects(c.FileRejected)
def _file_rejected(e: c.FileRejected) -> list[ViewUpdate]:
    d = e.data
    return _file(
        e,
        d.file,
        "rejected",
        code=d.code,
        message=d.message,
    )


@_projects(c.FileDuplicate)
def _file_duplicate(e: c.FileDuplicate) -> list[ViewUpdate]:
    d = e.data
    return _file(
        e,
        d.file,
        "duplicate",
        sha256=d.sha256,
        duplicate_of=d.duplicate_of,
    )


@_projects(c.FileDeleted)
def _file_deleted(e: c.FileDeleted) -> list[ViewUpdate]:
    return [
        ViewUpdate(key=counters_key(e.sessionid), add={"deleted": 1}),
        ViewUpdate(
            key=file_key(e.sessionid, e.data.key), set={"deleted": True, "deleted_reason": e.data.reason}
        ),
    ]


@_projects(c.TriageRequested)
def _triage_requested(e: c.TriageRequested) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=job_key(e.sessionid, d.job_id),
            set={
                "status": "analyzing",
                "attempt": d.attempt,
                "gaps": d.gaps,
                "gaps_count": d.gaps_count,
                "timed_out": d.timed_out,
            },
        )
    ]


@_projects(c.TriageCompleted)
def _triage_completed(e: c.TriageCompleted) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=job_key(e.sessionid, d.job_id),
            set={
                "status": "complete",
                "keep": d.keep,
                "discard": d.discard,
                "results_key": d.results_key,
                "provider": d.provider,
                "result_attempt": d.attempt,  # the saga of this attempt waits for exactly this
            },
        )
    ]


@_projects(c.TriageFailed)
@_projects(c.SelectionFailed)
def _job_failed(e: c.TriageFailed | c.SelectionFailed) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=job_key(e.sessionid, d.job_id),
            set={"status": "error", "code": d.code, "message": d.message, "result_attempt": d.attempt},
        )
    ]


@_projects(c.SelectionRequested)
def _selection_requested(e: c.SelectionRequested) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=job_key(e.sessionid, d.job_id),
            set={"kind": "selection", "status": "pending", "context": d.context, "model": d.model},
            set_if_absent={"created_at": e.time.isoformat()},
        )
    ]


@_projects(c.SelectionCompleted)
def _selection_completed(e: c.SelectionCompleted) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=job_key(e.sessionid, d.job_id),
            set={
                "status": "complete",
                "selected": d.selected,
                "excluded": d.excluded,
                "scenes": d.scenes,
                "results_key": d.results_key,
                "provider": d.provider,
            },
        )
    ]


@_projects(c.EnhancementRequested)
def _enhancement_requested(e: c.EnhancementRequested) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=job_key(e.sessionid, d.job_id),
            set={"kind": "enhancement", "status": "processing", "total": len(d.keys)},
            set_if_absent={"done": 0, "failed": 0, "created_at": e.time.isoformat()},
        )
    ]


@_projects(c.PhotoEnhanced)
@_projects(c.VideoEnhanced)
def _item_enhanced(e: c.PhotoEnhanced | c.VideoEnhanced) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(key=job_key(e.sessionid, d.job_id), add={"done": 1}),
        ViewUpdate(
            key=ViewKey(session_pk(e.sessionid), f"ITEM#{d.job_id}#{d.key}"),
            set={"status": "enhanced", "enhanced_key": d.enhanced_key, "thumbnail": d.thumbnail_key},
        ),
    ]


@_projects(c.PhotoEnhanceFailed)
@_projects(c.VideoEnhanceFailed)
def _item_failed(e: c.PhotoEnhanceFailed | c.VideoEnhanceFailed) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(key=job_key(e.sessionid, d.job_id), add={"failed": 1}),
        ViewUpdate(
            key=ViewKey(session_pk(e.sessionid), f"ITEM#{d.job_id}#{d.key}"),
            set={"status": "failed", "code": d.code, "message": d.message},
        ),
    ]


@_projects(c.EnhancementCompleted)
def _enhancement_completed(e: c.EnhancementCompleted) -> list[ViewUpdate]:
    d = e.data
    return [ViewUpdate(key=job_key(e.sessionid, d.job_id), set={"status": d.status})]
