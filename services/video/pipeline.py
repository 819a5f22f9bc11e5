"""The video pipeline as a library: ``enhance_video`` analyses a clip, asks the provider what to change,
and renders the result (see docs/video.md).

Order: phase ``analysing`` -> ffprobe -> the duration limit (``TooLong``: nothing is decoded) -> the one
analysis decode -> ``provider.recommend`` -> phase ``rendering`` with its percentage (about every 10 %) ->
the render and the result's thumbnail. The blocking ffmpeg work runs in worker threads
(``anyio.to_thread``); the render's progress hops back to the event loop with ``anyio.from_thread``.

Failures: ``TooLong`` (not rendered: ``too_long`` with the figures), ``Unreadable`` (the file's fault, with
its reason: not retried), ``RenderFailed`` (ffmpeg's own failure, a deadline, a tool fault: retried),
``ProviderError`` (from the provider, as it is).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.from_thread
import anyio.to_thread
import msgspec

from services.video import analyse as analysis_step
from services.video import render as render_step
from services.video.analyse import AnalysisFailed, Clip, Unreadable
from services.video.model import Advice, VideoAnalysis, VideoContext
from services.video.provider import ProviderError, VideoProvider
from shared.events.video import VideoPhase
from shared.runtime.ffmpeg import ToolError

__all__ = [
    "OnPhase",
    "ProviderError",
    "RenderFailed",
    "TooLong",
    "Unreadable",
    "VideoEnhanced",
    "enhance_video",
]

log = logging.getLogger("shoebox.video")
T = TypeVar("T")

#: the longest ffprobe may take on the header
PROBE_TIMEOUT_S = 30.0
#: deadlines per ffmpeg run: a fixed part plus this many wall seconds per second of clip (the analysis
#: runs at ~4x real time at 720p, the render at ~1.7x on 2 cores: these leave room for a loaded machine)
ANALYSIS_BASE_S = 60.0
ANALYSIS_PER_S = 1.0
RENDER_BASE_S = 120.0
RENDER_PER_S = 4.0
#: progress is reported when it has moved at least this many percent
PROGRESS_STEP = 10.0
#: file names in the work dir
VIDEO_NAME = "enhanced.mp4"
THUMBNAIL_NAME = "enhanced-thumb.jpg"

OnPhase = Callable[[VideoPhase, float | None, str], Awaitable[None]]
"""(phase, percent 0..100 or None, summary): awaited as the pipeline moves on."""


class TooLong(Exception):
    """The clip is longer than the configured maximum: not rendered."""

    def __init__(self, duration_s: float, limit_s: float) -> None:
        super().__init__(f"The video is {duration_s:.0f} s long; videos up to {limit_s:.0f} s are enhanced.")
        self.duration_s = duration_s
        self.limit_s = limit_s


class RenderFailed(Exception):
    """ffmpeg failed on a readable file (or overran its deadline): the message should be retried."""


class VideoEnhanced(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one pass."""

    #: the rendered MP4 (H.264 + AAC when the source had audio, faststart) in the work dir
    video: Path
    #: a JPEG of the result, 400 px long side
    thumbnail: Path
    analysis: VideoAnalysis
    #: what the provider recommended (the next feedback pass's ``previous``)
    advice: Advice
    #: the edits as a person reads them ("eq brightness=+0.06 contrast=1.10", "trim 1.20-9.80 s")
    filters: tuple[str, ...]
    #: of the result
    duration_s: float


async def enhance_video(
    src: Path,
    provider: VideoProvider,
    *,
    workdir: Path,
    preview: Path | None,
    context: VideoContext,
    feedback: str | None = None,
    previous: Advice | None = None,
    preset: str = "veryfast",
    max_duration_s: float,
    on_phase: OnPhase | None = None,
    analysis_px: int = analysis_step.ANALYSIS_PX,
) -> VideoEnhanced:
    """Analyse, recommend and render one clip into ``workdir`` (see the module docstring)."""

    async def phase(name: VideoPhase, percent: float | None, summary: str) -> None:
        if on_phase is not None:
            await on_phase(name, percent, summary)

    started = time.monotonic()
    await phase("analysing", None, "measuring exposure, colour, noise and shake")
    clip = await _tool(analysis_step.probe_clip, src, PROBE_TIMEOUT_S)
    if clip.duration_s > max_duration_s:
        raise TooLong(round(clip.duration_s, 3), max_duration_s)
    analysis = await _tool(
        _measure, src, clip, workdir, ANALYSIS_BASE_S + ANALYSIS_PER_S * clip.duration_s, analysis_px
    )
    analysed = time.monotonic()
    advice = await provider.recommend(
        analysis, preview=preview, context=context, feedback=feedback, previous=previous
    )
    recs = advice.recommendations
    filters = render_step.describe(recs, clip)
    summary = ", ".join(filters) or "no changes: re-encoded as it is"
    await phase("rendering", 0.0, summary)

    last = [0.0]

    def progress(fraction: float) -> None:
        # in ffmpeg's reader thread: hop to the event loop only every PROGRESS_STEP percent
        percent = round(min(100.0, fraction * 100), 1)
        if percent - last[0] >= PROGRESS_STEP and percent < 100:
            last[0] = percent
            anyio.from_thread.run(phase, "rendering", percent, summary)

    out, thumb = workdir / VIDEO_NAME, workdir / THUMBNAIL_NAME
    timeout = RENDER_BASE_S + RENDER_PER_S * clip.duration_s
    await _tool(_render, src, clip, advice, out, thumb, preset, timeout, progress)
    trim = render_step.trim_of(recs, clip)
    duration = trim.length_s if trim.length_s is not None else clip.duration_s - trim.start_s
    log.info(
        "video enhanced: %.1f s clip, analysis %.2f s, render %.2f s: %s",
        clip.duration_s,
        analysed - started,
        time.monotonic() - analysed,
        summary,
    )
    return VideoEnhanced(
        video=out,
        thumbnail=thumb,
        analysis=analysis,
        advice=advice,
        filters=filters,
        duration_s=round(duration, 3),
    )


def _measure(src: Path, clip: Clip, workdir: Path, timeout_s: float, size_px: int) -> VideoAnalysis:
    return analysis_step.measure(src, clip, workdir=workdir, timeout_s=timeout_s, size_px=size_px)


def _render(
    src: Path,
    clip: Clip,
    advice: Advice,
    out: Path,
    thumb: Path,
    preset: str,
    timeout_s: float,
    progress: Callable[[float], None],
) -> None:
    render_step.render(
        src,
        clip,
        advice.recommendations,
        out=out,
        thumbnail=thumb,
        preset=preset,
        timeout_s=timeout_s,
        on_progress=progress,
    )


async def _tool(fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args)`` in a worker thread, its faults as this module's exceptions (``Unreadable`` as is)."""
    try:
        return await anyio.to_thread.run_sync(fn, *args)
    except (AnalysisFailed, render_step.RenderError, ToolError) as exc:
        raise RenderFailed(str(exc)) from exc
