"""The typed read models: one msgspec Struct per kind of item in the views table.

A field's name is the DynamoDB attribute's name, and its type is what that attribute holds (``int`` an
``N``, ``str`` an ``S``, ``bool`` a ``BOOL``, ``None`` a ``NULL``): the triage saga
(``deploy/sagas/triage.asl.json``) reads some of these attributes raw (``$.Item.processed.N``), and
``tests/contracts/test_saga_views.py`` holds the two together.

``EventLog.get_view`` / ``query_views`` decode stored items straight into these types, so a reader never
checks a field again. A stored item that does not match its type (written by older projections, or
edited by hand) is a ``ViewShapeError``: the read models of that session are rebuilt from its log
(``shoebox rebuild-views SESSION``), the event-sourced way to change a read model's shape.

Which Struct a stored item is follows from its key (``projections.view_type``). Items are written by
``ViewUpdate``s, field by field, so a field an item may not have yet has a default; the defaults are what
readers take an absent attribute to mean.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import msgspec

from shared.events.catalogue import MediaKind

#: a decided upload's status; ``c.Replaced.status`` has the same three
FileDecision = Literal["processed", "rejected", "duplicate"]
JobKind = Literal["triage", "selection", "enhancement"]
#: triage and selection: pending -> processing (finalized) -> analyzing -> complete | error;
#: enhancement: processing -> done | partial | failed | cancelled (``enhancement.completed`` v2)
JobStatus = Literal[
    "pending", "processing", "analyzing", "complete", "error", "done", "partial", "failed", "cancelled"
]
#: an enhancement item: queued (its request fanned out; "running" once it has a phase), then one ending
ItemStatus = Literal["queued", "enhanced", "failed", "cancelled", "skipped"]


#: the partition of the relay's checkpoints in the views table (no session's)
RELAY_PK = "RELAY"


class ViewShapeError(Exception):
    """A stored read-model item does not match its Struct: rebuild the session's read models."""


class ViewItem(msgspec.Struct, frozen=True, kw_only=True):
    """Every read-model item: its key, and its ``version``: the sequence number of the last event that
    wrote it (0 for an item written before items carried one). Commits to a session land in sequence order
    (``log.py``), so a reader that has seen a session at version N has seen every write up to N; a handler
    that read an item commits only if it is still at the version it read (``views.ViewExpectation``)."""

    pk: str
    sk: str
    version: int = 0


class MetaView(ViewItem, frozen=True, kw_only=True):
    """``META``: who owns the session, and its trip."""

    owner: str
    context: str = ""
    timezone: str | None = None
    created_at: str = ""


class CountersView(ViewItem, frozen=True, kw_only=True):
    """``COUNTERS``: the session's fan-in counters (the triage saga polls them) and its ``version``."""

    expected: int = 0
    processed: int = 0
    rejected: int = 0
    duplicate: int = 0
    deleted: int = 0
    #: uploads in storage not decided yet: the number of ``PENDING#`` items (counted at commit)
    pending: int = 0
    #: (``version``, on every item) here: the sequence number of the session's last event, so it moves on
    #: with every event: the ETag of anything derived from its read models, and the API's delta cursor
    finalized: bool = False
    #: the session's triage job (one per session)
    job_id: str | None = None
    #: the triage's overall deadline (ISO 8601), from finalize
    deadline: str | None = None
    #: names of the files the client could not upload (finalize)
    upload_failed: list[str] = []
    #: the time of the last decided file's event (ISO 8601)
    updated_at: str | None = None


class FileView(ViewItem, frozen=True, kw_only=True):
    """``FILE#<key>``: one uploaded file. A decision writes every field (None where it has none), so
    nothing of a replaced upload outlives it; a deletion writes only ``deleted`` and its reason, so a
    file deleted before it was decided has no status."""

    status: FileDecision | None = None
    event_id: str | None = None
    name: str | None = None
    size: int | None = None
    etag: str | None = None
    kind: MediaKind | None = None
    media_type: str | None = None
    sha256: str | None = None
    thumbnail: str | None = None
    converted: str | None = None
    preview: str | None = None
    captured_at: str | None = None
    #: a rejection's code and sentence
    code: str | None = None
    message: str | None = None
    #: a duplicate's original: the key of the upload with the same bytes
    duplicate_of: str | None = None
    deleted: bool = False
    deleted_reason: str | None = None

    @property
    def key(self) -> str:
        """The upload's object key."""
        return self.sk.removeprefix("FILE#")


class PendingView(ViewItem, frozen=True, kw_only=True):
    """``PENDING#<key>``: an upload that landed in storage and whose bytes have no decision yet (written on
    ``upload.received``, removed by the decision, ``media.file.unchanged`` or a deletion). Its key's
    ``FILE#`` item, if any, is the decision of the key's earlier bytes."""

    name: str
    size: int
    etag: str
    received_at: str

    @property
    def key(self) -> str:
        """The upload's object key."""
        return self.sk.removeprefix("PENDING#")


class JobView(ViewItem, frozen=True, kw_only=True):
    """``JOB#<id>``: one job (triage, selection, enhancement); each kind sets the fields it has."""

    kind: JobKind | None = None
    status: JobStatus | None = None
    model: str | None = None
    created_at: str | None = None
    #: triage: the attempt the saga last requested (a job not requested yet is at its first)
    attempt: int = 1
    gaps: list[str] = []
    gaps_count: int = 0
    timed_out: bool = False
    #: triage and selection: the attempt the result (complete or error) is for; the saga waits for it
    result_attempt: int | None = None
    keep: int | None = None
    discard: int | None = None
    results_key: str | None = None
    provider: str | None = None
    code: str | None = None
    message: str | None = None
    #: selection
    context: str | None = None
    selected: int | None = None
    excluded: int | None = None
    scenes: int | None = None
    #: selection: as asked (None = "all"), the triage job its saga waits for, and the person's edited
    #: picks (``selection.picks.edited``): what is enhanced later when set, else ``results_key``
    count: int | None = None
    triage_job_id: str | None = None
    picks_key: str | None = None
    picks_revision: int = 0
    #: enhancement: items by kind, and each ending counted once (``ENDED#`` claims); the person's
    #: cancel; the selection the items came from
    total: int | None = None
    photos: int | None = None
    videos: int | None = None
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    skipped: int = 0
    cancel_requested: bool = False
    selection_job_id: str | None = None


class ContentClaim(ViewItem, frozen=True, kw_only=True):
    """``HASH#<sha256>``: the first processed file of the session with these bytes."""

    key: str


class DecisionClaim(ViewItem, frozen=True, kw_only=True):
    """``DECIDED#<key>@<etag>``: the upload of ``key`` with these bytes is decided. Every decision takes it
    (``require_absent``), so two deliveries of one write, or two writes of the same bytes, committing at
    once cannot both count; a replacement and a deletion release it."""

    key: str
    etag: str


class EnhancedItemView(ViewItem, frozen=True, kw_only=True):
    """``ITEM#<job>#<key>``: one file of an enhancement job: its status (set by its one ending), its
    latest phase, its result (the latest feedback pass's once one completed), and its feedback
    revisions: requested (the API's count) and completed (the pass that answered last)."""

    status: ItemStatus | None = None
    kind: MediaKind | None = None
    index: int | None = None
    phase: str | None = None
    phase_summary: str | None = None
    phase_output_key: str | None = None
    #: how far a video's phase is (0..100)
    phase_percent: float | None = None
    enhanced_key: str | None = None
    thumbnail: str | None = None
    changes: list[str] = []
    code: str | None = None
    message: str | None = None
    #: a video refused as ``too_long``: its duration and the limit (seconds)
    duration_s: float | None = None
    limit_s: float | None = None
    feedback: str | None = None
    feedback_requested: int = 0
    feedback_completed: int = 0
    feedback_message: str | None = None


class FeedbackTurnView(ViewItem, frozen=True, kw_only=True):
    """``FEEDBACK#<job>#<key>#<revision>``: one turn of an enhanced item's history. Revision 0 is the
    enhancement itself; each later one a feedback pass: its sentence once asked, its outcome once done."""

    revision: int
    feedback: str | None = None
    #: pending (asked, not answered yet) | done | failed
    status: str = "pending"
    changes: list[str] = []
    #: what the provider said (what it did, what it did not understand), or the pass's error
    message: str = ""


class ItemEndClaim(ViewItem, frozen=True, kw_only=True):
    """``ENDED#<job>#<key>``: the item's one ending (``require_absent``): a retried, redelivered or
    racing second ending cannot commit, so the JOB's counters count each item once."""

    status: ItemStatus


#: the views table's TTL attribute (Terraform's ``modules/storage``): DynamoDB deletes an item after that time
TTL_ATTRIBUTE = "expires_at"
#: how long a ``MULTIPART#`` item outlives its upload's start: twice the bucket's abort of stale uploads
MULTIPART_VIEW_TTL_S = 2 * 24 * 3600


class MultipartView(ViewItem, frozen=True, kw_only=True):
    """``MULTIPART#<upload id>``: an S3 multipart upload the API started in this session, and the key it is
    for. The complete and abort routes act on an upload id only when the caller's session has this item
    for it, with that key: an id of another session, or another key, is 404. The item is ephemeral: S3 aborts
    a multipart upload a day after it starts (the bucket's lifecycle), so the item expires after
    ``MULTIPART_VIEW_TTL_S`` (``expires_at``, epoch seconds: the views table's TTL attribute on AWS)."""

    key: str
    name: str
    size: int
    started_at: str
    expires_at: int | None = None


class RelayCheckpoint(ViewItem, frozen=True, kw_only=True):
    """``pk = RELAY``, ``sk = <shard id>``: how far the relay has published a stream shard."""

    sequence: str


V = TypeVar("V", bound=ViewItem)


def decode(item: Mapping[str, Any], type: type[V]) -> V:
    """A stored item (plain values, as ``attributes.from_item`` gives them) as its Struct;
    ``ViewShapeError`` when it does not match. Attributes the Struct does not know are ignored (a newer
    writer's)."""
    try:
        return msgspec.convert(item, type)
    except msgspec.ValidationError as exc:
        pk = str(item.get("pk"))
        # the command to run, with the session's id when the item is a session's (``SESSION#<id>``)
        session = pk.removeprefix("SESSION#") if pk.startswith("SESSION#") else "SESSION"
        raise ViewShapeError(
            f"read model {pk} {item.get('sk')} is not a {type.__name__} ({exc}); "
            f"rebuild the session's read models from its log: shoebox rebuild-views {session}"
        ) from None


def fields(view: ViewItem) -> dict[str, Any]:
    """A view's attributes without its key: what a projection sets to write the item whole."""
    out: dict[str, Any] = msgspec.to_builtins(view)
    del out["pk"], out["sk"]
    return out
