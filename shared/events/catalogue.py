"""Every event type of the product, each with an explicit version.

Rules: a published version never changes incompatibly. New optional fields get defaults; a removed,
renamed or retyped field, a new enum value or a changed meaning is a new version (a new class ``...V2``)
plus an upcaster from the old one, registered in ``codec.py``. ``tests/contracts`` fails when a published
schema is broken (the committed files in ``schemas/`` against the code, through the compatibility checker).
Large data never rides in an event: S3 keys and small summaries only (every event < 64 KB).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from .envelope import Event, Payload

MediaKind = Literal["photo", "video"]

#: Why media_process refused a file (``media.file.rejected`` v1). Stable strings other teams can match on.
RejectCodeV1 = Literal[
    "empty",  # zero bytes
    "unsupported_type",  # the content is not a photo or video format we read (sniffed, not by name)
    "truncated",  # the file ends before its data does
    "undecodable",  # the decoder failed on the pixels or the stream
    "encrypted",  # DRM/CENC-protected media
    "too_many_pixels",  # header dimensions above the pixel limit (decompression-bomb guard)
    "too_large",  # bytes above the size limit
    "too_long",  # video duration above the limit
    "processing_failed",  # the service gave up after its retries; the message is in the DLQ
]

#: ``media.file.rejected`` v2: v1's codes and ``invalid_name``: an object under the session's uploads whose
#: key is not one the API issues (``uploads/<session>/<plain name>``). It was deleted, never processed, and
#: is not one of the session's files: no counter counts it (``REFUSED_CODES``).
RejectCode = Literal[
    "empty",
    "unsupported_type",
    "truncated",
    "undecodable",
    "encrypted",
    "too_many_pixels",
    "too_large",
    "too_long",
    "processing_failed",
    "invalid_name",
]
#: rejections of objects that are not the session's files: recorded in its log, counted nowhere
REFUSED_CODES: frozenset[str] = frozenset({"invalid_name"})

#: why an original was deleted: a triage's discard the user confirmed, or the session's cleanup
DeletionReason = Literal["confirmed", "cleanup"]

FailureCode = Literal["timed_out", "no_files", "provider_error", "invalid_request", "internal_error"]


# --------------------------------------------------------------------------- shared value types
class Replaced(msgspec.Struct, frozen=True, kw_only=True):
    """An earlier upload under the same key, already decided, that new bytes replaced: the session's
    counters count the key once, as the newest upload was decided."""

    etag: str
    status: Literal["processed", "rejected", "duplicate"]
    #: the replaced upload's content hash when it was processed: its duplicate-detection claim is released
    sha256: str | None = None


class FileRef(msgspec.Struct, frozen=True, kw_only=True):
    """One uploaded original: where it is and which upload of it this is."""

    bucket: str
    key: str
    name: str  # the file name as uploaded (the key's last part)
    size: int
    etag: str
    #: set when this upload replaced a decided one of the same key (same name, other bytes, or any bytes
    #: after the file was deleted)
    replaces: Replaced | None = None
    #: the key's file had been deleted (a confirmed discard, a cleanup) when these bytes came: the file is
    #: live again and the session's deleted count goes down by one; the deletion released the claims of
    #: what it deleted, so ``replaces`` then moves the count only
    follows_deletion: bool = False


class GeoPoint(msgspec.Struct, frozen=True, kw_only=True):
    lat: float
    lon: float
    altitude_m: float | None = None


class MediaMetadata(msgspec.Struct, frozen=True, kw_only=True):
    """What the file says about itself. Every field is optional: cameras disagree."""

    captured_at: dt.datetime | None = None  # aware when the file carries an offset, else naive local time
    utc_offset: str | None = None  # "+09:00" when known
    gps: GeoPoint | None = None
    make: str | None = None
    model: str | None = None
    lens: str | None = None
    orientation: int | None = None  # EXIF 1..8 as stored; width/height below are as displayed
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    codec: str | None = None
    fps: float | None = None
    rotation: int | None = None  # video display rotation in degrees


class PhotoSignals(msgspec.Struct, frozen=True, kw_only=True):
    sharpness: float  # var(Laplacian of luma) / (var(luma) + 25) at ~1000 px: contrast-normalised
    exposure_mean: float  # 0..1 mean luma
    shadows_clipped: float  # fraction of pixels at the black end
    highlights_clipped: float  # fraction of pixels at the white end
    colour_cast: float  # distance of the mean chroma from neutral
    phash: str  # 64-bit perceptual hash, 16 hex digits
    # issue 13 (optional: None in files measured before; the offline triage then judges without them)
    luma_p1: float | None = None  # 0..1: 1st percentile of luma, the darkest detail
    luma_p99: float | None = None  # 0..1: 99th percentile of luma, the brightest detail
    luma_std: float | None = None  # 0..1: standard deviation of luma (the contrast an edit can stretch)
    noise: float | None = None  # 0..1: estimated standard deviation of the pixel noise in luma
    structure: float | None = None  # 0..1: share of the luma's spread left in 32 x 32 block means


class VideoSignals(msgspec.Struct, frozen=True, kw_only=True):
    luma_mean: float
    luma_spread: float
    near_uniform: bool  # black or near-uniform frames (pocket footage)
    duration_s: float


class DerivedKeys(msgspec.Struct, frozen=True, kw_only=True):
    thumbnail: str | None = None  # 400 px JPEG, upright, sRGB
    converted: str | None = None  # web/AI-friendly copy (HEIC -> JPEG, downscaled) when one was needed
    preview: str | None = None  # compressed video preview for the AI steps


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    verdict: Literal["keep", "discard"]
    reason: str
    confidence: float


# --------------------------------------------------------------------------- session and uploads
class SessionCreatedV1Data(Payload, frozen=True, kw_only=True):
    """v1: the trip context as one free-text string (as the reference system had it)."""

    owner: str
    context: str


class SessionCreatedV1(Event[SessionCreatedV1Data], tag="shoebox.session.created.v1", frozen=True):
    pass


class Trip(msgspec.Struct, frozen=True, kw_only=True):
    context: str  # free text: "Weekend in Kyoto"
    timezone: str | None = None  # IANA name, to read capture times that carry no offset


class SessionCreatedV2Data(Payload, frozen=True, kw_only=True):
    """v2: the trip is a structure (context plus the trip's time zone)."""

    owner: str
    trip: Trip


class SessionCreatedV2(Event[SessionCreatedV2Data], tag="shoebox.session.created.v2", frozen=True):
    pass


class TriageInitializedData(Payload, frozen=True, kw_only=True):
    job_id: str
    expected: int
    model: str | None = None


class TriageInitialized(Event[TriageInitializedData], tag="shoebox.triage.initialized.v1", frozen=True):
    pass


class TriageExpectedChangedData(Payload, frozen=True, kw_only=True):
    job_id: str
    expected: int
    previous: int


class TriageExpectedChanged(
    Event[TriageExpectedChangedData], tag="shoebox.triage.expected.changed.v1", frozen=True
):
    pass


class UploadFinalizedData(Payload, frozen=True, kw_only=True):
    job_id: str
    uploaded: int
    failed: list[str] = msgspec.field(
        default_factory=list
    )  # names the client could not upload: subtracted from the expected count here
    deadline: dt.datetime  # the triage saga's overall deadline starts here


class UploadFinalized(Event[UploadFinalizedData], tag="shoebox.upload.finalized.v1", frozen=True):
    pass


class UploadReceivedData(Payload, frozen=True, kw_only=True):
    """An upload landed in storage and has no decision for its bytes yet: the file is ``pending`` until
    media_process decides it (the api records it from S3's announcement, whether media_process runs or
    not)."""

    key: str
    name: str  # the file name as uploaded (the key's last part)
    size: int
    etag: str


class UploadReceived(Event[UploadReceivedData], tag="shoebox.upload.received.v1", frozen=True):
    pass


class MultipartStartedData(Payload, frozen=True, kw_only=True):
    """The API started an S3 multipart upload for this session: the upload id belongs to this session and
    this key, and the API completes or aborts it for nothing else."""

    upload_id: str
    key: str
    name: str  # the file name as uploaded (the key's last part)
    size: int


class MultipartStarted(Event[MultipartStartedData], tag="shoebox.upload.multipart.started.v1", frozen=True):
    pass


# --------------------------------------------------------------------------- media_process
class FileProcessedData(Payload, frozen=True, kw_only=True):
    file: FileRef
    kind: MediaKind
    media_type: str  # sniffed from the content, e.g. "image/jpeg"
    sha256: str
    metadata: MediaMetadata = MediaMetadata()
    keys: DerivedKeys = DerivedKeys()
    photo: PhotoSignals | None = None
    video: VideoSignals | None = None


class FileProcessed(Event[FileProcessedData], tag="shoebox.media.file.processed.v1", frozen=True):
    pass


class FileRejectedV1Data(Payload, frozen=True, kw_only=True):
    file: FileRef
    code: RejectCodeV1
    message: str  # a sentence a person understands


class FileRejectedV1(Event[FileRejectedV1Data], tag="shoebox.media.file.rejected.v1", frozen=True):
    pass


class FileRejectedData(Payload, frozen=True, kw_only=True):
    """v2: the codes of v1 and ``invalid_name`` (a refused key, counted nowhere: ``REFUSED_CODES``)."""

    file: FileRef
    code: RejectCode
    message: str  # a sentence a person understands


class FileRejected(Event[FileRejectedData], tag="shoebox.media.file.rejected.v2", frozen=True):
    """The current version (``FileRejectedV1`` is upcast to it)."""


class FileDuplicateData(Payload, frozen=True, kw_only=True):
    file: FileRef
    sha256: str
    duplicate_of: str  # key of the first file with the same bytes in this session


class FileDuplicate(Event[FileDuplicateData], tag="shoebox.media.file.duplicate.v1", frozen=True):
    pass


class FileUnchangedData(Payload, frozen=True, kw_only=True):
    """An upload whose bytes are those its key was already processed from, under another ETag (the same
    file sent again as a multipart upload, say): the decision stands and now covers this upload."""

    file: FileRef
    sha256: str


class FileUnchanged(Event[FileUnchangedData], tag="shoebox.media.file.unchanged.v1", frozen=True):
    pass


class FileDeletedData(Payload, frozen=True, kw_only=True):
    key: str
    reason: DeletionReason
    #: the ETag of the decided upload deleted (None: not decided yet, or an event from before it was
    #: carried): its decision claim is released, so the same bytes uploaded again are decided again
    etag: str | None = None
    #: the deleted upload's content hash when it was processed: its duplicate-detection claim is released
    sha256: str | None = None


class FileDeleted(Event[FileDeletedData], tag="shoebox.media.file.deleted.v1", frozen=True):
    pass


# --------------------------------------------------------------------------- triage
class TriageRequestedData(Payload, frozen=True, kw_only=True):
    job_id: str
    attempt: int
    expected: int
    processed: int
    rejected: int
    duplicate: int
    gaps: list[str] = msgspec.field(
        default_factory=list
    )  # names of expected files that never arrived or never finished (first 100)
    gaps_count: int = 0
    timed_out: bool = False


class TriageRequested(Event[TriageRequestedData], tag="shoebox.triage.requested.v1", frozen=True):
    pass


class TriageCompletedData(Payload, frozen=True, kw_only=True):
    job_id: str
    attempt: int
    keep: int
    discard: int
    results_key: str  # S3 JSON with every verdict (verdicts can exceed an event's 64 KB)
    provider: str


class TriageCompleted(Event[TriageCompletedData], tag="shoebox.triage.completed.v1", frozen=True):
    pass


class JobFailedData(Payload, frozen=True, kw_only=True):
    job_id: str
    code: FailureCode
    message: str
    attempt: int = 1


class TriageFailedData(JobFailedData, frozen=True, kw_only=True):
    pass


class TriageFailed(Event[TriageFailedData], tag="shoebox.triage.failed.v1", frozen=True):
    pass


class TriageConfirmedData(Payload, frozen=True, kw_only=True):
    job_id: str
    delete_keys: list[str]


class TriageConfirmed(Event[TriageConfirmedData], tag="shoebox.triage.confirmed.v1", frozen=True):
    pass


# --------------------------------------------------------------------------- selection
class SelectionRequestedData(Payload, frozen=True, kw_only=True):
    job_id: str
    context: str
    count: int | None = None  # how many picks (>= 1); None = "all" (every item triage kept, ranked)
    model: str | None = None
    attempt: int = 1  # the saga's attempt: each writes its own results file


class SelectionRequested(Event[SelectionRequestedData], tag="shoebox.selection.requested.v1", frozen=True):
    pass


class SelectionCompletedData(Payload, frozen=True, kw_only=True):
    job_id: str
    selected: int
    excluded: int
    scenes: int
    results_key: str  # S3 JSON, a ``SelectionResults`` (picks, exclusions, scenes)
    provider: str
    attempt: int = 1  # the request's attempt this result is for


class SelectionCompleted(Event[SelectionCompletedData], tag="shoebox.selection.completed.v1", frozen=True):
    pass


class SelectionFailedData(JobFailedData, frozen=True, kw_only=True):
    pass


class SelectionFailed(Event[SelectionFailedData], tag="shoebox.selection.failed.v1", frozen=True):
    pass


# --------------------------------------------------------------------------- enhancement
class EnhancementRequestedData(Payload, frozen=True, kw_only=True):
    """One chunk of a job's keys (the API records a job as ``enhancement.initialized`` plus chunks, so no
    event carries thousands of keys); a v1 event without ``total`` is a whole job in one chunk."""

    job_id: str
    keys: list[str]
    first_index: int = 0  # the job-wide index of ``keys[0]``
    total: int | None = None  # the job's item count (None: ``len(keys)``)
    videos: list[str] = msgspec.field(default_factory=list)  # which of ``keys`` are videos


class EnhancementRequested(
    Event[EnhancementRequestedData], tag="shoebox.enhancement.requested.v1", frozen=True
):
    pass


class ItemEnhanceRequestedData(Payload, frozen=True, kw_only=True):
    """One item to enhance; with ``feedback``, another pass from the item's current result as the
    person's sentence asks (``revision``: the ``enhancement.feedback.requested`` it answers)."""

    job_id: str
    key: str
    index: int
    feedback: str | None = None
    revision: int | None = None


class PhotoEnhanceRequestedData(ItemEnhanceRequestedData, frozen=True, kw_only=True):
    pass


class PhotoEnhanceRequested(
    Event[PhotoEnhanceRequestedData], tag="shoebox.photo.enhance.requested.v1", frozen=True
):
    pass


class VideoEnhanceRequestedData(ItemEnhanceRequestedData, frozen=True, kw_only=True):
    pass


class VideoEnhanceRequested(
    Event[VideoEnhanceRequestedData], tag="shoebox.video.enhance.requested.v1", frozen=True
):
    pass


class PhotoEnhancePhaseData(Payload, frozen=True, kw_only=True):
    job_id: str
    key: str
    phase: Literal["creative_edit", "analysis", "surgical_edit"]
    summary: str
    output_key: str | None = None


class PhotoEnhancePhase(Event[PhotoEnhancePhaseData], tag="shoebox.photo.enhance.phase.v1", frozen=True):
    pass


class ItemEnhancedData(Payload, frozen=True, kw_only=True):
    job_id: str
    key: str
    enhanced_key: str
    thumbnail_key: str | None = None
    changes: list[str] = msgspec.field(default_factory=list)


class PhotoEnhancedData(ItemEnhancedData, frozen=True, kw_only=True):
    pass


class PhotoEnhanced(Event[PhotoEnhancedData], tag="shoebox.photo.enhanced.v1", frozen=True):
    pass


class VideoEnhancedData(ItemEnhancedData, frozen=True, kw_only=True):
    pass


class VideoEnhanced(Event[VideoEnhancedData], tag="shoebox.video.enhanced.v1", frozen=True):
    pass


class ItemEnhanceFailedData(Payload, frozen=True, kw_only=True):
    job_id: str
    key: str
    code: FailureCode
    message: str


class PhotoEnhanceFailedData(ItemEnhanceFailedData, frozen=True, kw_only=True):
    pass


class PhotoEnhanceFailed(Event[PhotoEnhanceFailedData], tag="shoebox.photo.enhance.failed.v1", frozen=True):
    pass


class VideoEnhanceFailedData(ItemEnhanceFailedData, frozen=True, kw_only=True):
    pass


class VideoEnhanceFailedV1(Event[VideoEnhanceFailedData], tag="shoebox.video.enhance.failed.v1", frozen=True):
    """Superseded by ``video.VideoEnhanceFailed`` (v2), which it is upcast to."""


class EnhancementFeedbackRequestedData(Payload, frozen=True, kw_only=True):
    job_id: str
    key: str
    feedback: str
    revision: int = 1  # the item's feedback requests so far, this one included


class EnhancementFeedbackRequested(
    Event[EnhancementFeedbackRequestedData], tag="shoebox.enhancement.feedback.requested.v1", frozen=True
):
    pass


class EnhancementCompletedData(Payload, frozen=True, kw_only=True):
    job_id: str
    status: Literal["done", "partial"]
    done: int
    failed: int


class EnhancementCompletedV1(
    Event[EnhancementCompletedData], tag="shoebox.enhancement.completed.v1", frozen=True
):
    """Superseded by ``enhancement.EnhancementCompleted`` (v2), which it is upcast to."""


# --------------------------------------------------------------------------- runtime
class MessageFailedData(Payload, frozen=True, kw_only=True):
    """A message exhausted its receives and went to its service's dead-letter queue."""

    service: str
    queue: str  # the queue it failed on
    dead_letter_queue: str  # where it is now
    message_id: str
    receive_count: int
    event_id: str | None = None  # when the message carried a Shoebox event
    event_type: str | None = None
    error_type: str
    error: str


class MessageFailed(Event[MessageFailedData], tag="shoebox.message.failed.v1", frozen=True):
    pass


#: Every event class ever published, oldest versions included. Order is the catalogue's order.
ALL_EVENTS: tuple[type[Event[Any]], ...] = (
    SessionCreatedV1,
    SessionCreatedV2,
    TriageInitialized,
    TriageExpectedChanged,
    UploadFinalized,
    FileProcessed,
    FileRejectedV1,
    FileRejected,
    FileDuplicate,
    FileDeleted,
    TriageRequested,
    TriageCompleted,
    TriageFailed,
    TriageConfirmed,
    SelectionRequested,
    SelectionCompleted,
    SelectionFailed,
    EnhancementRequested,
    PhotoEnhanceRequested,
    VideoEnhanceRequested,
    PhotoEnhancePhase,
    PhotoEnhanced,
    VideoEnhanced,
    PhotoEnhanceFailed,
    VideoEnhanceFailedV1,
    EnhancementFeedbackRequested,
    EnhancementCompletedV1,
    MessageFailed,
    UploadReceived,
    FileUnchanged,
    MultipartStarted,
)
