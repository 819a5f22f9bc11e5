"""The enhancement job's events beside the v1 ones in ``catalogue``: the job created by the API, the item
endings that are not the pipeline's (cancelled, skipped), the feedback pass's completion, and
``enhancement.completed`` v2.

They live here, not in ``catalogue`` (which stays under the module size limit); ``codec.CATALOGUE``
registers ``EVENTS`` beside ``catalogue.ALL_EVENTS`` and they follow the same versioning rules.

Every event that ends an item (``photo|video.enhanced``, ``photo|video.enhance.failed``,
``enhancement.item.cancelled``, ``enhancement.item.skipped``) takes the item's ``ENDED#<job>#<key>`` claim
(``shared/runtime/enhancement_projections.py``): one ending per item, whoever records it, so a retried or
redelivered ending, or a cancel racing a result, never counts an item twice.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .catalogue import MediaKind
from .envelope import Event, Payload

#: keys per ``enhancement.requested`` chunk: its fan-out is one commit (one DynamoDB transaction of at most
#: 100 items): per key its event, the event's id guard, its ITEM# and, for a skipped video, its ENDED# claim
#: (4 x 24 = 96), plus the JOB, the session's COUNTERS, the message's tracking record and the session check
CHUNK_KEYS = 24

#: how a job ended (``enhancement.completed`` v2): every item enhanced (skipped ones aside); some; none;
#: or the person cancelled it
EnhancementStatus = Literal["done", "partial", "failed", "cancelled"]


class EnhancementInitializedData(Payload, frozen=True, kw_only=True):
    """``POST /v1/sessions/{id}/enhancements``: the job exists, with its items counted. Its keys follow in
    ``enhancement.requested`` chunks (``first_index`` places each), never thousands inline in one event."""

    job_id: str
    total: int
    photos: int
    videos: int
    selection_job_id: str | None = None  # the selection whose picks these are, when asked that way
    chunks: int = 1


class EnhancementInitialized(
    Event[EnhancementInitializedData], tag="shoebox.enhancement.initialized.v1", frozen=True
):
    pass


class EnhancementCancelledData(Payload, frozen=True, kw_only=True):
    """``DELETE …/enhancements/{job}``: no item of the job starts any more; the ones not started end
    ``enhancement.item.cancelled``, the running ones finish."""

    job_id: str


class EnhancementCancelled(
    Event[EnhancementCancelledData], tag="shoebox.enhancement.cancelled.v1", frozen=True
):
    pass


class ItemCancelledData(Payload, frozen=True, kw_only=True):
    """An item that never started, of a cancelled job."""

    job_id: str
    key: str


class ItemCancelled(Event[ItemCancelledData], tag="shoebox.enhancement.item.cancelled.v1", frozen=True):
    pass


class ItemSkippedData(Payload, frozen=True, kw_only=True):
    """An item no deployed service enhances (a video while the video service is not deployed): it ends at
    once, so the job never waits for it."""

    job_id: str
    key: str
    kind: MediaKind
    reason: str
    index: int | None = None  # the item's place in the job (where the fan-out knew it)


class ItemSkipped(Event[ItemSkippedData], tag="shoebox.enhancement.item.skipped.v1", frozen=True):
    pass


class FeedbackCompletedData(Payload, frozen=True, kw_only=True):
    """A feedback pass ended: the item's result is the pass's (when ``ok``). ``revision`` is the
    ``enhancement.feedback.requested`` it answers: the client sees its request answered when the item's
    ``feedback_completed`` reaches the revision it was given."""

    job_id: str
    key: str
    revision: int
    ok: bool
    enhanced_key: str | None = None
    thumbnail_key: str | None = None
    changes: list[str] = msgspec.field(default_factory=list)
    #: what the pass did not understand, or its error
    message: str = ""


class FeedbackCompleted(
    Event[FeedbackCompletedData], tag="shoebox.enhancement.feedback.completed.v1", frozen=True
):
    pass


class EnhancementCompletedV2Data(Payload, frozen=True, kw_only=True):
    """v2: ``failed`` and ``cancelled`` statuses, and every count (``EnhancementCompletedV1`` is upcast:
    its items were done or failed)."""

    job_id: str
    status: EnhancementStatus
    total: int
    done: int
    failed: int
    cancelled: int = 0
    skipped: int = 0
    #: the saga's deadline passed with items unfinished (they count in none of the above)
    timed_out: bool = False


class EnhancementCompleted(
    Event[EnhancementCompletedV2Data], tag="shoebox.enhancement.completed.v2", frozen=True
):
    """The current version (``catalogue.EnhancementCompleted`` v1 is upcast to it)."""


def completion_status(
    *, total: int, done: int, failed: int, cancelled: int, skipped: int, cancel_requested: bool
) -> EnhancementStatus:
    """How a job ended: ``cancelled`` when the person cancelled it; ``done`` when every item that could
    be enhanced was (skipped items are not failures); ``failed`` when none was; else ``partial``."""
    if cancel_requested:
        return "cancelled"
    if done == total - skipped:
        return "done"
    return "failed" if done == 0 else "partial"


#: this module's event classes, registered in ``codec.CATALOGUE`` after ``catalogue.ALL_EVENTS``
EVENTS: tuple[type[Event[Any]], ...] = (
    EnhancementInitialized,
    EnhancementCancelled,
    ItemCancelled,
    ItemSkipped,
    FeedbackCompleted,
    EnhancementCompleted,
)
