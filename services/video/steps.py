"""The video service's steps, shared by a first pass (``handlers``) and a feedback pass (``feedback``): its
dependencies, the result's keys, the phases committed live, the downloads (the original, and the 720p
preview for a model provider), the pipeline run with its failures sorted, and the result's upload.

No partial object is ever visible: the pipeline renders into a private work dir, and each result file is
stored with ONE ``PUT`` (``ObjectStore.put_file``), which S3 makes an object only once it is whole. The
keys are the same for the same request, so a retry after a worker died mid-render (or mid-upload) writes
the same objects again; nothing half-written is ever under them.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread
import msgspec

from services.video import pipeline
from services.video.analyse import ANALYSIS_PX
from services.video.model import Advice, VideoContext
from services.video.pipeline import OnPhase, RenderFailed, TooLong, Unreadable, VideoEnhanced
from services.video.provider import ProviderError, VideoProvider
from shared.events import catalogue as c
from shared.events import video as vi
from shared.runtime.enhancement_items import record_phase, trip_of
from shared.runtime.faults import ACTIVE, kill_mid_render
from shared.runtime.inbound import ENHANCED
from shared.runtime.log import EventLog
from shared.runtime.projections import file_key
from shared.runtime.read_models import FileView
from shared.runtime.storage import ObjectNotFound, ObjectStore, download_to

log = logging.getLogger("shoebox.video")

SOURCE = "shoebox/video"
MP4 = "video/mp4"
JPEG = "image/jpeg"
JSON = "application/json"
#: the provider that reads no pixels: it is not sent the preview (nor is the preview downloaded for it)
OFFLINE = "offline"


class EnhanceVideo(Protocol):
    """``pipeline.enhance_video``'s signature (a test may put a stand-in in ``Deps.enhance``)."""

    def __call__(
        self,
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
        analysis_px: int = ...,
    ) -> Awaitable[VideoEnhanced]: ...


class Deps(msgspec.Struct, frozen=True, kw_only=True):
    store: ObjectStore
    log: EventLog
    provider: VideoProvider
    #: the longest clip rendered (seconds; ``settings.video.max_duration_s``)
    max_duration_s: float
    #: the x264 preset of the render (``settings.video.preset``)
    preset: str = "veryfast"
    #: the long side of the frames the analysis measures (``settings.video.analysis_px``)
    analysis_px: int = ANALYSIS_PX
    #: where the work dirs go (None: the system's temporary folder)
    tmp_root: str | None = None
    #: the pipeline (tests put a stand-in here to fail it in a chosen way)
    enhance: EnhanceVideo = pipeline.enhance_video


class Failed(Exception):
    """The item cannot be enhanced, for a reason the person can read (``code``; ``too_long`` with its
    figures). Not retried: the same file fails the same way."""

    def __init__(
        self,
        code: vi.VideoFailureCode,
        message: str,
        *,
        duration_s: float | None = None,
        limit_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code: vi.VideoFailureCode = code
        self.message = message
        self.duration_s = duration_s
        self.limit_s = limit_s


class ResultKeys(msgspec.Struct, frozen=True):
    video: str
    thumbnail: str
    #: the provider's advice (``Advice`` as JSON): the next feedback pass's ``previous``
    advice: str


def result_keys(session_id: str, job_id: str, key: str, revision: int = 0) -> ResultKeys:
    """An item's result: ``enhanced/<session>/<job>/<name>/<stem>.mp4``, ``…/<stem>-thumb.jpg`` and
    ``…/<stem>.json`` (the advice); a feedback pass's ``…/<stem>-r<revision>.mp4`` and so on. A folder per
    upload name (names are unique in a session); the same inputs always give the same keys."""
    name = key.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] or name
    suffix = f"-r{revision}" if revision else ""
    base = f"{ENHANCED}/{session_id}/{job_id}/{name}/{stem}{suffix}"
    return ResultKeys(f"{base}.mp4", f"{base}-thumb.jpg", f"{base}.json")


def advice_key(enhanced_key: str) -> str:
    """Where the advice of the result stored under ``enhanced_key`` is (``result_keys``)."""
    return enhanced_key.removesuffix(".mp4") + ".json"


def duration_text(seconds: float) -> str:
    """``12 min 5 s``, ``45 s``, ``2.5 s``."""
    if seconds < 60:
        return f"{round(seconds, 1):g} s"
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s} s" if s else f"{m} min"


async def video_context(
    log: EventLog, session_id: str, key: str, history: tuple[tuple[str, str], ...] = ()
) -> VideoContext:
    """What a provider may know besides the pixels: the clip's name, the trip (the session's context),
    and the item's earlier feedback turns."""
    return VideoContext(name=key.rsplit("/", 1)[-1], trip=await trip_of(log, session_id), history=history)


class PhaseRecorder:
    """``enhance_video``'s ``on_phase``: commits each phase (and the render's progress) as
    ``video.enhance.phase`` at once, so the API and the page show it live. Ids derive from the request
    and the phase's place: a redelivered request's phases are refused as duplicates, not shown twice."""

    def __init__(self, event: c.VideoEnhanceRequested, deps: Deps) -> None:
        self.event = event
        self.deps = deps
        self.count = 0
        #: the processor's test-only faults, taken now: progress may hop here from ffmpeg's reader thread
        self.faults = ACTIVE.get()

    async def __call__(self, phase: vi.VideoPhase, percent: float | None, summary: str) -> None:
        d = self.event.data
        self.count += 1
        payload = vi.VideoEnhancePhaseData(
            job_id=d.job_id, key=d.key, phase=phase, summary=summary, percent=percent, revision=d.revision
        )
        await record_phase(self.deps.log, self.event, payload, source=SOURCE, count=self.count)
        if phase == "rendering":
            # test-only (``Faults.kill_mid_render``): a no-op unless switched on
            kill_mid_render(self.faults, percent)


async def download(store: ObjectStore, key: str, into: Path, name: str | None = None) -> Path:
    """The object at ``key`` as a file in ``into`` (streamed); ``ObjectNotFound`` when it is gone."""
    return await download_to(store, key, into / (name or key.rsplit("/", 1)[-1]))


async def preview_of(deps: Deps, session_id: str, key: str, into: Path) -> Path | None:
    """The clip's 720p preview (media_process's, ``FILE#`` view) on local disk for a model provider; None
    for the offline provider, or when there is none (the provider then works from the analysis alone)."""
    if deps.provider.name == OFFLINE:
        return None
    view = await deps.log.get_view(file_key(session_id, key), type=FileView)
    if view is None or view.preview is None:
        return None
    try:
        return await download(deps.store, view.preview, into, "preview.mp4")
    except ObjectNotFound:
        log.warning("the preview of %s is gone: the provider gets the analysis only", key)
        return None


async def run_pipeline(
    event: c.VideoEnhanceRequested,
    deps: Deps,
    keys: ResultKeys,
    *,
    context: VideoContext,
    sentence: str | None = None,
    previous: Advice | None = None,
) -> VideoEnhanced:
    """Download the original (and the preview), run the pipeline in a private work dir with its phases
    recorded live, and store the result under ``keys``. Raises ``Failed`` for what a retry cannot change
    (the original vanished, too long, unreadable, the provider gave up) and lets ``RenderFailed`` (ffmpeg's
    own failure) through, so the message is retried."""
    sid, d = event.sessionid, event.data
    workdir = Path(tempfile.mkdtemp(prefix="shoebox-video-", dir=deps.tmp_root))
    try:
        inputs = workdir / "in"
        await anyio.Path(inputs).mkdir()
        try:
            src = await download(deps.store, d.key, inputs)
        except ObjectNotFound:
            name = d.key.rsplit("/", 1)[-1]
            raise Failed("no_files", f"{name} is no longer in storage (deleted?)") from None
        preview = await preview_of(deps, sid, d.key, inputs)
        recorder = PhaseRecorder(event, deps)
        try:
            result = await deps.enhance(
                src,
                deps.provider,
                workdir=workdir,
                preview=preview,
                context=context,
                feedback=sentence,
                previous=previous,
                preset=deps.preset,
                max_duration_s=deps.max_duration_s,
                on_phase=recorder,
                analysis_px=deps.analysis_px,
            )
        except TooLong as exc:
            raise Failed(
                "too_long",
                f"The clip is {duration_text(exc.duration_s)} long; the longest clip enhanced is "
                f"{duration_text(exc.limit_s)}.",
                duration_s=exc.duration_s,
                limit_s=exc.limit_s,
            ) from exc
        except Unreadable as exc:
            raise Failed("unreadable", str(exc) or "The clip cannot be read.") from exc
        except ProviderError as exc:
            # the provider retried within its own budget: a redelivery would spend it again
            raise Failed("provider_error", f"The {deps.provider.name} provider failed: {exc}") from exc
        except RenderFailed:
            log.warning("the render of %s failed; the message will be retried", d.key)
            raise
        await recorder("uploading", None, "storing the enhanced clip")
        await store_result(deps, keys, result)
        return result
    finally:
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(workdir, ignore_errors=True))


async def store_result(deps: Deps, keys: ResultKeys, result: VideoEnhanced) -> None:
    """The clip, its thumbnail and the advice under ``keys``, each one whole ``PUT`` (the video first: a
    result is read from its thumbnail's and video's keys only once the item's ending says so)."""
    await deps.store.put_file(keys.video, result.video, MP4)
    await deps.store.put_file(keys.thumbnail, result.thumbnail, JPEG)
    await deps.store.put(keys.advice, msgspec.json.encode(result.advice), JSON)


async def previous_advice(deps: Deps, enhanced_key: str) -> Advice | None:
    """The advice stored beside a result (None when it is gone or unreadable: the pass starts afresh)."""
    try:
        raw = await deps.store.get(advice_key(enhanced_key))
        return msgspec.json.decode(raw, type=Advice)
    except (ObjectNotFound, msgspec.DecodeError, msgspec.ValidationError):
        log.warning("no advice beside %s: the feedback pass starts from the analysis", enhanced_key)
        return None
