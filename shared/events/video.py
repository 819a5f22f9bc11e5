"""The video enhancement's events beside the v1 ones in ``catalogue``: a phase with its progress
(``video.enhance.phase``) and ``video.enhance.failed`` v2, whose codes add what only a video can be refused
for (``too_long``, with the clip's duration and the limit) and a file ffmpeg cannot read (``unreadable``).

``catalogue.VideoEnhanceFailedV1`` is upcast to v2 (every v1 code is a v2 code). Like every item ending,
v2 takes the item's ``ENDED#<job>#<key>`` claim (``shared/runtime/enhancement_projections.py``).
"""

from __future__ import annotations

from typing import Any, Literal

from .catalogue import FailureCode
from .envelope import Event, Payload

#: why a video item failed: every job failure code, plus a clip longer than the configured maximum
#: (``too_long``: not rendered, ``duration_s`` and ``limit_s`` say by how much) and a file ffmpeg cannot
#: read (``unreadable``: the message is ffmpeg's reason)
VideoFailureCode = FailureCode | Literal["too_long", "unreadable"]

#: a video item's phases: the analysis (one decode of the clip), the render (ffmpeg, with its progress),
#: and the upload of the result
VideoPhase = Literal["analysing", "rendering", "uploading"]


class VideoEnhancePhaseData(Payload, frozen=True, kw_only=True):
    """A video item's phase, recorded as it starts and (while rendering) as it progresses."""

    job_id: str
    key: str
    phase: VideoPhase
    summary: str = ""
    #: how far the phase is, 0..100 (None: not measured, e.g. at its start)
    percent: float | None = None
    #: the feedback request this pass answers (None: the first pass)
    revision: int | None = None


class VideoEnhancePhase(Event[VideoEnhancePhaseData], tag="shoebox.video.enhance.phase.v1", frozen=True):
    pass


class VideoEnhanceFailedV2Data(Payload, frozen=True, kw_only=True):
    """v2: the video codes, and for ``too_long`` the figures."""

    job_id: str
    key: str
    code: VideoFailureCode
    message: str
    #: the clip's duration (seconds), when it was measured
    duration_s: float | None = None
    #: the longest clip the service renders (seconds), for ``too_long``
    limit_s: float | None = None


class VideoEnhanceFailed(Event[VideoEnhanceFailedV2Data], tag="shoebox.video.enhance.failed.v2", frozen=True):
    """The current version (``catalogue.VideoEnhanceFailedV1`` is upcast to it)."""


#: this module's event classes, registered in ``codec.CATALOGUE`` after ``catalogue.ALL_EVENTS``
EVENTS: tuple[type[Event[Any]], ...] = (VideoEnhancePhase, VideoEnhanceFailed)
