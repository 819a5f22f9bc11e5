"""Projections: how each event changes the read models the sagas and the API poll.

A projection is a pure function of one event. The log calls it for every event it appends and writes
the result in the same transaction; ``rebuild`` replays a stream through the same functions.

Read models (views table, ``pk = SESSION#<id>``):

==========================  =============================================================================
``sk``                      content
==========================  =============================================================================
``META``                    owner, trip context, created time
``COUNTERS``                expected, processed, rejected, duplicate, deleted, pending (the number of
                            PENDING# items), the current triage job, finalized, version (the last
                            event's sequence: the session's ETag)
``FILE#<key>``              one uploaded file: status (processed|rejected|duplicate), deleted, reason, keys
``PENDING#<key>``           an upload in storage whose bytes are not decided yet (name, size, ETag)
``JOB#<id>``                one job (triage, selection, enhancement): status, counts, result key
``HASH#<sha256>``           the first file with these bytes (duplicate detection)
``DECIDED#<key>@<etag>``    the decided upload of a file (one decision per write of its bytes)
``ITEM#<job>#<key>``        one file of an enhancement job: status, phase, result, feedback revisions
``ENDED#<job>#<key>``       the claim of that item's one ending (``enhancement_projections.py``)
``MULTIPART#<upload id>``   a multipart upload the API started: the key it is for (complete/abort check it)
==========================  =============================================================================

Every item written also gets ``version``: the sequence number of the event that wrote it last (commits
land in sequence order, ``log.py``), so "what changed after version N" is what the events after N wrote.

Each kind of item is a Struct in ``read_models.py`` (``view_type`` maps a key to it): a whole FILE# item
is built as a ``FileView``; the other projections set single fields, and
``tests/contracts/test_projection_properties.py`` checks every field any event makes them write against
the Struct (``check``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import msgspec

from shared.events import catalogue as c
from shared.events import selection_edits as se
from shared.events.envelope import Event
from shared.runtime.read_models import (
    MULTIPART_VIEW_TTL_S,
    RELAY_PK,
    ContentClaim,
    CountersView,
    DecisionClaim,
    EnhancedItemView,
    FeedbackTurnView,
    FileView,
    ItemEndClaim,
    JobView,
    MetaView,
    MultipartView,
    PendingView,
    RelayCheckpoint,
    ViewItem,
    ViewShapeError,
    fields,
)
from shared.runtime.views import Condition, Value, ViewKey, ViewUpdate, apply, merge, stamped, version_of

COUNTER_FIELDS = ("expected", "processed", "rejected", "duplicate", "deleted")


def session_pk(session_id: str) -> str:
    return f"SESSION#{session_id}"


def counters_in_order(first: int) -> Condition:
    """The condition a commit holds on a session's COUNTERS: its ``version`` (the last committed sequence)
    is below ``first``, the commit's first sequence there, so commits land in sequence order."""
    return "attribute_not_exists(#xv) OR #xv < :xfirst", {"#xv": "version"}, {":xfirst": first}


def meta_key(session_id: str) -> ViewKey:
    return ViewKey(session_pk(session_id), "META")


def counters_key(session_id: str) -> ViewKey:
    return ViewKey(session_pk(session_id), "COUNTERS")


def file_key(session_id: str, key: str) -> ViewKey:
    return ViewKey(session_pk(session_id), f"FILE#{key}")


def pending_key(session_id: str, key: str) -> ViewKey:
    """An upload of ``key`` that is in storage and not decided yet."""
    return ViewKey(session_pk(session_id), f"PENDING#{key}")


def content_key(session_id: str, sha256: str) -> ViewKey:
    """The first file of a session with these bytes."""
    return ViewKey(session_pk(session_id), f"HASH#{sha256}")


def decision_key(session_id: str, key: str, etag: str) -> ViewKey:
    """The claim of the decided upload of ``key`` with the bytes ``etag``."""
    return ViewKey(session_pk(session_id), f"DECIDED#{key}@{etag}")


def job_key(session_id: str, job_id: str) -> ViewKey:
    return ViewKey(session_pk(session_id), f"JOB#{job_id}")


def enhanced_item_key(session_id: str, job_id: str, key: str) -> ViewKey:
    return ViewKey(session_pk(session_id), f"ITEM#{job_id}#{key}")


def ended_key(session_id: str, job_id: str, key: str) -> ViewKey:
    """The claim of an enhancement item's one ending."""
    return ViewKey(session_pk(session_id), f"ENDED#{job_id}#{key}")


def feedback_turn_key(session_id: str, job_id: str, key: str, revision: int) -> ViewKey:
    """One turn of an enhanced item's history (0: the enhancement, then each feedback pass)."""
    return ViewKey(session_pk(session_id), f"FEEDBACK#{job_id}#{key}#{revision:05d}")


def multipart_key(session_id: str, upload_id: str) -> ViewKey:
    """The multipart upload ``upload_id`` the API started in this session (none: not this session's)."""
    return ViewKey(session_pk(session_id), f"MULTIPART#{upload_id}")


_EXACT: dict[str, type[ViewItem]] = {"META": MetaView, "COUNTERS": CountersView}
_PREFIXED: tuple[tuple[str, type[ViewItem]], ...] = (
    ("FILE#", FileView),
    ("PENDING#", PendingView),
    ("JOB#", JobView),
    ("HASH#", ContentClaim),
    ("DECIDED#", DecisionClaim),
    ("ITEM#", EnhancedItemView),
    ("ENDED#", ItemEndClaim),
    ("FEEDBACK#", FeedbackTurnView),
    ("MULTIPART#", MultipartView),
)


def view_type(key: ViewKey) -> type[ViewItem]:
    """The Struct of the read-model item at ``key``."""
    if key.pk == RELAY_PK:
        return RelayCheckpoint
    if key.sk in _EXACT:
        return _EXACT[key.sk]
    for prefix, cls in _PREFIXED:
        if key.sk.startswith(prefix):
            return cls
    raise ViewShapeError(f"no read model is kept at {key}")


def check(update: ViewUpdate) -> None:
    """Raise ``ViewShapeError`` unless ``update`` writes only fields its item's Struct declares, with values
    of their types (an added number into a number). Not called on commit (a projection bug must not stop
    the log): the property tests call it on what every event's projection writes."""
    if update.delete:
        return
    cls = view_type(update.key)
    declared = {f.name: f.type for f in msgspec.structs.fields(cls) if f.name not in ("pk", "sk")}
    written: dict[str, Any] = {**update.set_if_absent, **update.set, **update.add}
    unknown = sorted(set(written) - set(declared))
    if unknown:
        raise ViewShapeError(f"{update.key}: {cls.__name__} has no field {unknown}")
    for name, value in written.items():
        try:
            msgspec.convert(value, declared[name])
        except msgspec.ValidationError as exc:
            raise ViewShapeError(
                f"{update.key}: {cls.__name__}.{name} cannot hold {value!r}: {exc}"
            ) from None


_Projection = Callable[[Any], list[ViewUpdate]]
_PROJECTIONS: dict[type[Event[Any]], _Projection] = {}


def _projects(cls: type[Event[Any]]) -> Callable[[_Projection], _Projection]:
    def register(fn: _Projection) -> _Projection:
        _PROJECTIONS[cls] = fn
        return fn

    return register


def projects(cls: type[Event[Any]]) -> Callable[[_Projection], _Projection]:
    """Register a projection of ``cls`` defined in another module (decorator)."""
    return _projects(cls)


def view_updates(event: Event[Any]) -> list[ViewUpdate]:
    """The read-model changes one (current-version) event causes, each item stamped with the event's
    sequence (``version``). Every event also moves the session's ``COUNTERS.version`` on to its sequence,
    so a poller learns "nothing changed" from that one item (the API's ETag)."""
    fn = _PROJECTIONS.get(type(event))
    pk = session_pk(event.sessionid)
    own = [stamped(u, event.sequence) if u.key.pk == pk else u for u in (fn(event) if fn else [])]
    return [*own, ViewUpdate(key=counters_key(event.sessionid), set={"version": event.sequence})]


def is_pending(key: ViewKey) -> bool:
    """Whether ``key`` is a ``PENDING#`` item (its number is ``COUNTERS.pending``)."""
    return key.sk.startswith("PENDING#")


def pending_counted(
    updates: Sequence[ViewUpdate], before: Mapping[ViewKey, Mapping[str, Value] | None]
) -> tuple[list[ViewUpdate], dict[ViewKey, int]]:
    """``updates`` with ``COUNTERS.pending`` kept equal to the number of ``PENDING#`` items: +1 for each
    one they create, -1 for each one they delete, given the items as they are ``before``; and the versions
    of those items as read (the log reads them at commit and expects them unchanged: a decision cannot know
    whether the api recorded its upload as pending yet, so the count cannot come from the events alone)."""
    read = {k: version_of(item) for k, item in before.items()}
    change: dict[str, int] = {}
    for u in updates:
        if is_pending(u.key):
            there = before.get(u.key) is not None
            step = -1 if u.delete and there else 1 if not u.delete and not there else 0
            change[u.key.pk] = change.get(u.key.pk, 0) + step
    counted = [ViewUpdate(key=ViewKey(pk, "COUNTERS"), add={"pending": n}) for pk, n in change.items() if n]
    return (merge([*updates, *counted]) if counted else list(updates)), read


def fold(events: Iterable[Event[Any]]) -> dict[ViewKey, dict[str, Value]]:
    """Every read-model item a stream's events make, folded in memory, in order (a later SET wins over
    an earlier one, as it did live): what ``EventLog.rebuild_views`` writes."""
    views: dict[ViewKey, dict[str, Value]] = {}
    for e in events:
        updates = merge(view_updates(e))
        counted, _ = pending_counted(updates, {u.key: views.get(u.key) for u in updates if is_pending(u.key)})
        for u in counted:
            item = apply(views.get(u.key), u)
            if item is None:
                views.pop(u.key, None)
            else:
                views[u.key] = item
    return views


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
    """Finalize changes the counters only. It may come after the verdicts (the triage starts at init, so
    every file can be decided and judged before the client says it is done): a job status written here
    would take a complete job back to an earlier one, and the saga, waiting for "complete", would time out.
    The API shows a pending job of a finalized session as "processing" instead."""
    return [
        ViewUpdate(
            key=counters_key(e.sessionid),
            add={"expected": -len(e.data.failed)},
            set={"finalized": True, "deadline": e.data.deadline.isoformat(), "upload_failed": e.data.failed},
        ),
    ]


def _file(e: Event[Any], ref: c.FileRef, item: FileView) -> list[ViewUpdate]:
    """A decided upload: its read model, its claim, and the counters. The FILE# item is written whole
    (every ``FileView`` field, None where the decision has none), so a replaced upload's thumbnail, reason
    or hash never outlives it, and a write after a deletion is a live file again. The claim on the key's
    bytes (``DECIDED#<key>@<etag>``, ``require_absent``) makes one decision per write of them: of two
    deliveries committing at once, the second finds it taken, and the handler, run again, finds the file
    decided. An upload that replaced a decided one of the same key moves the key from the old decision's
    counter to the new one (counted once) and releases the old upload's claims, unless a deletion came
    between and released them already."""
    assert item.status is not None
    sid = e.sessionid
    add: dict[str, int] = {item.status: 1}
    released: list[ViewUpdate] = []
    if ref.follows_deletion:
        add["deleted"] = -1  # the file is live again
    if ref.replaces is not None:
        add[ref.replaces.status] = add.get(ref.replaces.status, 0) - 1
    if ref.replaces is not None and not ref.follows_deletion:
        # (the same bytes written again keep their claims: the new decision takes them once more)
        if ref.replaces.etag != ref.etag:
            released.append(ViewUpdate(key=decision_key(sid, ref.key, ref.replaces.etag), delete=True))
        if ref.replaces.sha256 not in (None, item.sha256):  # its bytes are no longer in the session here
            released.append(ViewUpdate(key=content_key(sid, ref.replaces.sha256), delete=True))
    claim = ViewUpdate(
        key=decision_key(sid, ref.key, ref.etag), set={"key": ref.key, "etag": ref.etag}, require_absent=True
    )
    return [
        ViewUpdate(key=counters_key(sid), add=add, set=_seen(e)),
        ViewUpdate(key=file_key(sid, ref.key), set=fields(item)),
        ViewUpdate(key=pending_key(sid, ref.key), delete=True),  # decided: no longer pending
        claim,
        *released,
    ]


@_projects(c.FileProcessed)
def _file_processed(e: c.FileProcessed) -> list[ViewUpdate]:
    d = e.data
    key = file_key(e.sessionid, d.file.key)
    # A claim: two uploads of the same bytes committing at once cannot both be "processed".
    first_of_its_bytes = ViewUpdate(
        key=content_key(e.sessionid, d.sha256), set={"key": d.file.key}, require_absent=True
    )
    item = FileView(
        pk=key.pk,
        sk=key.sk,
        status="processed",
        event_id=e.id,
        name=d.file.name,
        size=d.file.size,
        etag=d.file.etag,
        kind=d.kind,
        media_type=d.media_type,
        sha256=d.sha256,
        thumbnail=d.keys.thumbnail,
        converted=d.keys.converted,
        preview=d.keys.preview,
        captured_at=d.metadata.captured_at.isoformat() if d.metadata.captured_at else None,
    )
    return [first_of_its_bytes, *_file(e, d.file, item)]


@_projects(c.FileRejected)
def _file_rejected(e: c.FileRejected) -> list[ViewUpdate]:
    """A rejected file, counted as any decision; a refused key (``c.REFUSED_CODES``: an object that is not
    one of the session's files, deleted) is in the log only: no file, no claim, no counter, so whatever
    lands under a session's uploads cannot move what the saga compares with ``expected``."""
    d = e.data
    if d.code in c.REFUSED_CODES:
        return []
    key = file_key(e.sessionid, d.file.key)
    item = FileView(
        pk=key.pk,
        sk=key.sk,
        status="rejected",
        event_id=e.id,
        name=d.file.name,
        size=d.file.size,
        etag=d.file.etag,
        code=d.code,
        message=d.message,
    )
    return _file(e, d.file, item)


@_projects(c.FileDuplicate)
def _file_duplicate(e: c.FileDuplicate) -> list[ViewUpdate]:
    d = e.data
    key = file_key(e.sessionid, d.file.key)
    item = FileView(
        pk=key.pk,
        sk=key.sk,
        status="duplicate",
        event_id=e.id,
        name=d.file.name,
        size=d.file.size,
        etag=d.file.etag,
        sha256=d.sha256,
        duplicate_of=d.duplicate_of,
    )
    return _file(e, d.file, item)


@_projects(c.FileDeleted)
def _file_deleted(e: c.FileDeleted) -> list[ViewUpdate]:
    """A deleted file keeps its decision (counted under it, and as deleted); the claims of the upload it
    held are released, so its bytes uploaded again are decided again."""
    d = e.data
    released = []
    if d.etag is not None:
        released.append(ViewUpdate(key=decision_key(e.sessionid, d.key, d.etag), delete=True))
    if d.sha256 is not None:
        released.append(ViewUpdate(key=content_key(e.sessionid, d.sha256), delete=True))
    return [
        ViewUpdate(key=counters_key(e.sessionid), add={"deleted": 1}),
        ViewUpdate(key=file_key(e.sessionid, d.key), set={"deleted": True, "deleted_reason": d.reason}),
        ViewUpdate(key=pending_key(e.sessionid, d.key), delete=True),  # gone: nothing to decide
        *released,
    ]


@_projects(c.UploadReceived)
def _upload_received(e: c.UploadReceived) -> list[ViewUpdate]:
    """The upload is pending. The api records it only when the key has no decision for these bytes (it
    read the key's items and commits only if they are as it read them), so a pending never hides a
    decision; a decision, ``media.file.unchanged`` or a deletion removes it."""
    d = e.data
    key = pending_key(e.sessionid, d.key)
    item = PendingView(
        pk=key.pk, sk=key.sk, name=d.name, size=d.size, etag=d.etag, received_at=e.time.isoformat()
    )
    return [ViewUpdate(key=key, set=fields(item))]


@_projects(c.MultipartStarted)
def _multipart_started(e: c.MultipartStarted) -> list[ViewUpdate]:
    d = e.data
    key = multipart_key(e.sessionid, d.upload_id)
    item = MultipartView(
        pk=key.pk,
        sk=key.sk,
        key=d.key,
        name=d.name,
        size=d.size,
        started_at=e.time.isoformat(),
        # from the event's time, so a rebuild of the views gives the same expiry
        expires_at=int(e.time.timestamp()) + MULTIPART_VIEW_TTL_S,
    )
    return [ViewUpdate(key=key, set=fields(item))]


@_projects(c.FileUnchanged)
def _file_unchanged(e: c.FileUnchanged) -> list[ViewUpdate]:
    """The key's decision now covers this upload (the same bytes under another ETag): no counter moves;
    the claim moves from the upload it replaces to this one (one decision per write of the bytes)."""
    d, sid = e.data, e.sessionid
    moved = []
    if d.file.replaces is not None and d.file.replaces.etag != d.file.etag:
        moved.append(ViewUpdate(key=decision_key(sid, d.file.key, d.file.replaces.etag), delete=True))
    return [
        ViewUpdate(key=file_key(sid, d.file.key), set={"etag": d.file.etag, "size": d.file.size}),
        ViewUpdate(key=pending_key(sid, d.file.key), delete=True),
        ViewUpdate(
            key=decision_key(sid, d.file.key, d.file.etag),
            set={"key": d.file.key, "etag": d.file.etag},
            require_absent=True,
        ),
        *moved,
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


def _selection_job(e: Event[Any], job_id: str, fields: dict[str, Any]) -> list[ViewUpdate]:
    """A selection's JOB view: ``fields`` set, its creation time the first event's."""
    return [
        ViewUpdate(
            key=job_key(e.sessionid, job_id),
            set={"kind": "selection", **fields},
            set_if_absent={"created_at": e.time.isoformat()},
        )
    ]


@_projects(c.SelectionRequested)
def _selection_requested(e: c.SelectionRequested) -> list[ViewUpdate]:
    d = e.data
    fields = {"status": "analyzing", "context": d.context, "model": d.model, "attempt": d.attempt}
    return _selection_job(e, d.job_id, fields)


@_projects(se.SelectionInitialized)
def _selection_initialized(e: se.SelectionInitialized) -> list[ViewUpdate]:
    d = e.data
    fields = {
        "status": "pending",
        "context": d.context,
        "model": d.model,
        "count": d.count,
        "triage_job_id": d.triage_job_id,
    }
    return _selection_job(e, d.job_id, fields)


@_projects(se.SelectionPicksEdited)
def _selection_picks_edited(e: se.SelectionPicksEdited) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=job_key(e.sessionid, d.job_id),
            set={"picks_key": d.picks_key, "picks_revision": d.revision},
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
                "result_attempt": d.attempt,  # the saga of this attempt waits for exactly this
            },
        )
    ]


# the enhancement job's projections register themselves here (this module is near its size limit); the
# import is last because that module uses this one's key functions and ``projects``
from shared.runtime import enhancement_projections as enhancement_projections  # noqa: E402
