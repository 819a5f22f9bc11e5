"""The enhancement job's projections (``projections.py`` imports this module, which registers them).

The JOB view counts each item's ending once: every ending event takes the item's ``ENDED#<job>#<key>``
claim (``require_absent``) in the commit that adds to the counter, like a decision takes ``DECIDED#``. A
retried or redelivered ending, or a cancel racing a result, finds the claim taken (``ClaimTaken``: its
handler decides again and sees the item ended), so ``done + failed + cancelled + skipped`` never exceeds
the items and the saga's "every item ended" is exact. An item's status is written only by its ending (and
``queued`` only when absent), so a late phase or request event never takes an ended item back.
"""

from __future__ import annotations

from typing import Any

from shared.events import catalogue as c
from shared.events import enhancement as en
from shared.events import video as vi
from shared.events.codec import CATALOGUE
from shared.events.envelope import Event
from shared.runtime.projections import ended_key, enhanced_item_key, feedback_turn_key, job_key, projects
from shared.runtime.read_models import ItemStatus
from shared.runtime.views import Value, ViewUpdate

#: the JOB view's counter of each ending
COUNTER_OF: dict[ItemStatus, str] = {
    "enhanced": "done",
    "failed": "failed",
    "cancelled": "cancelled",
    "skipped": "skipped",
}
ENDING_COUNTERS = tuple(COUNTER_OF.values())


def _job(e: Event[Any], job_id: str, fields: dict[str, Value], *, first: bool) -> ViewUpdate:
    """The JOB item: ``fields`` set (``first``: only where absent, as a chunk does), its counters at 0."""
    absent: dict[str, Value] = {**{f: 0 for f in ENDING_COUNTERS}, "created_at": e.time.isoformat()}
    if first:
        return ViewUpdate(key=job_key(e.sessionid, job_id), set_if_absent={**absent, **fields})
    return ViewUpdate(key=job_key(e.sessionid, job_id), set=fields, set_if_absent=absent)


def ending(
    e: Event[Any], job_id: str, key: str, status: ItemStatus, item: dict[str, Value]
) -> list[ViewUpdate]:
    """An item's one ending: its claim, its counter, its ITEM# status and details."""
    sid = e.sessionid
    return [
        ViewUpdate(key=ended_key(sid, job_id, key), set={"status": status}, require_absent=True),
        ViewUpdate(key=job_key(sid, job_id), add={COUNTER_OF[status]: 1}),
        ViewUpdate(key=enhanced_item_key(sid, job_id, key), set={"status": status, **item}),
    ]


@projects(en.EnhancementInitialized)
def _initialized(e: en.EnhancementInitialized) -> list[ViewUpdate]:
    d = e.data
    fields: dict[str, Value] = {
        "kind": "enhancement",
        "status": "processing",
        "total": d.total,
        "photos": d.photos,
        "videos": d.videos,
        "selection_job_id": d.selection_job_id,
    }
    return [_job(e, d.job_id, fields, first=False)]


@projects(c.EnhancementRequested)
def _requested(e: c.EnhancementRequested) -> list[ViewUpdate]:
    """A chunk of keys: the job as a v1 request (one chunk, no ``initialized``) made it; where
    ``enhancement.initialized`` came first, nothing changes."""
    d = e.data
    total = d.total if d.total is not None else len(d.keys)
    fields: dict[str, Value] = {"kind": "enhancement", "status": "processing", "total": total}
    return [_job(e, d.job_id, fields, first=True)]


@projects(c.PhotoEnhanceRequested)
@projects(c.VideoEnhanceRequested)
def _item_requested(e: c.PhotoEnhanceRequested | c.VideoEnhanceRequested) -> list[ViewUpdate]:
    d = e.data
    kind = "photo" if isinstance(e, c.PhotoEnhanceRequested) else "video"
    return [
        ViewUpdate(
            key=enhanced_item_key(e.sessionid, d.job_id, d.key),
            set={"kind": kind, "index": d.index},
            set_if_absent={"status": "queued"},
        )
    ]


@projects(c.PhotoEnhancePhase)
def _phase(e: c.PhotoEnhancePhase) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=enhanced_item_key(e.sessionid, d.job_id, d.key),
            set={"phase": d.phase, "phase_summary": d.summary, "phase_output_key": d.output_key},
        )
    ]


@projects(vi.VideoEnhancePhase)
def _video_phase(e: vi.VideoEnhancePhase) -> list[ViewUpdate]:
    """A video's phase and how far it is (a feedback pass's phases show on the item as well)."""
    d = e.data
    return [
        ViewUpdate(
            key=enhanced_item_key(e.sessionid, d.job_id, d.key),
            set={"phase": d.phase, "phase_summary": d.summary, "phase_percent": d.percent},
        )
    ]


@projects(c.PhotoEnhanced)
@projects(c.VideoEnhanced)
def _enhanced(e: c.PhotoEnhanced | c.VideoEnhanced) -> list[ViewUpdate]:
    d = e.data
    item: dict[str, Value] = {
        "enhanced_key": d.enhanced_key,
        "thumbnail": d.thumbnail_key,
        "changes": d.changes,
    }
    # the item's history starts with the enhancement itself (revision 0): a feedback pass's result
    # replaces the item's changes, its history keeps every turn's
    first: dict[str, Value] = {"revision": 0, "status": "done", "changes": d.changes}
    turn = ViewUpdate(key=feedback_turn_key(e.sessionid, d.job_id, d.key, 0), set=first)
    return [*ending(e, d.job_id, d.key, "enhanced", item), turn]


@projects(c.PhotoEnhanceFailed)
@projects(c.VideoEnhanceFailedV1)
def _failed(e: c.PhotoEnhanceFailed | c.VideoEnhanceFailedV1) -> list[ViewUpdate]:
    d = e.data
    return ending(e, d.job_id, d.key, "failed", {"code": d.code, "message": d.message})


@projects(vi.VideoEnhanceFailed)
def _video_failed(e: vi.VideoEnhanceFailed) -> list[ViewUpdate]:
    d = e.data
    fields: dict[str, Value] = {"code": d.code, "message": d.message}
    if d.duration_s is not None:
        fields["duration_s"] = d.duration_s
    if d.limit_s is not None:
        fields["limit_s"] = d.limit_s
    return ending(e, d.job_id, d.key, "failed", fields)


@projects(en.ItemCancelled)
def _cancelled(e: en.ItemCancelled) -> list[ViewUpdate]:
    return ending(e, e.data.job_id, e.data.key, "cancelled", {})


@projects(en.ItemSkipped)
def _skipped(e: en.ItemSkipped) -> list[ViewUpdate]:
    d = e.data
    return ending(e, d.job_id, d.key, "skipped", {"kind": d.kind, "message": d.reason, "index": d.index})


@projects(en.EnhancementCancelled)
def _cancel_requested(e: en.EnhancementCancelled) -> list[ViewUpdate]:
    return [ViewUpdate(key=job_key(e.sessionid, e.data.job_id), set={"cancel_requested": True})]


@projects(c.EnhancementFeedbackRequested)
def _feedback_requested(e: c.EnhancementFeedbackRequested) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(
            key=enhanced_item_key(e.sessionid, d.job_id, d.key),
            set={"feedback": d.feedback, "feedback_requested": d.revision},
        ),
        ViewUpdate(
            key=feedback_turn_key(e.sessionid, d.job_id, d.key, d.revision),
            set={"revision": d.revision, "feedback": d.feedback},
            set_if_absent={"status": "pending"},
        ),
    ]


@projects(en.FeedbackCompleted)
def _feedback_completed(e: en.FeedbackCompleted) -> list[ViewUpdate]:
    """The pass answered: its result replaces the item's when it worked; either way the revision it
    answers is what the client waits for (the item's version moves, and so does the session's)."""
    d = e.data
    fields: dict[str, Value] = {"feedback_completed": d.revision, "feedback_message": d.message}
    if d.ok:
        fields |= {"enhanced_key": d.enhanced_key, "thumbnail": d.thumbnail_key, "changes": d.changes}
    turn: dict[str, Value] = {
        "revision": d.revision,
        "status": "done" if d.ok else "failed",
        "changes": d.changes,
        "message": d.message,
    }
    return [
        ViewUpdate(key=enhanced_item_key(e.sessionid, d.job_id, d.key), set=fields),
        ViewUpdate(key=feedback_turn_key(e.sessionid, d.job_id, d.key, d.revision), set=turn),
    ]


@projects(en.EnhancementCompleted)
def _completed(e: en.EnhancementCompleted) -> list[ViewUpdate]:
    d = e.data
    return [
        ViewUpdate(key=job_key(e.sessionid, d.job_id), set={"status": d.status, "timed_out": d.timed_out})
    ]


@projects(c.EnhancementCompletedV1)
def _completed_v1(e: c.EnhancementCompletedV1) -> list[ViewUpdate]:
    """A v1 committed as such (an old writer) projects as the v2 it reads as."""
    upcast = CATALOGUE.upcast(e)
    assert isinstance(upcast, en.EnhancementCompleted)
    return _completed(upcast)
