"""One video: validated, described, thumbnailed, measured and given a small preview.

``process_video`` runs ffprobe once and ffmpeg twice (thumbnail; preview and signals from one decode), each
through ``shared.runtime.ffmpeg``: file protocol and the sniffed containers' demuxers only, a time limit, no
stdin.
In order:

1. **Checks without decoding**: size (``empty``, ``too_large``), the first bytes must sniff as a video
   container (``unsupported_type``), and for MP4/MOV (ISO base media) a walk of the box headers: a sample
   entry ``encv``/``enca``/... or a ``pssh`` box means DRM or Common Encryption (``encrypted``); a top-level
   box that runs past the end of the file means the file was cut short (``truncated``). The walk reads box
   headers and the ``moov`` box only, never the media data. (ffprobe 5.1 shows the decrypted codec tag,
   ``avc1``, for an ``encv`` track and flags only the ``pssh`` as stream side data, so the boxes are read
   here.)
2. **ffprobe**: a file it cannot read is ``truncated`` when its MP4 index (``moov``) is missing, else
   ``undecodable``; a file with no video track (audio only, cover art) is ``unsupported_type``; encryption
   side data on any stream is ``encrypted`` (how WebM/Matroska encryption shows); then ``too_many_pixels``
   and ``too_long`` from the header. The metadata comes from the same JSON.
3. **Thumbnail**: the frame at 1 s (the first frame of a clip shorter than 1.2 s, or when nothing comes out
   at 1 s), upright (ffmpeg applies the display matrix), fit into a ``thumbnail_px`` square without
   upscaling, JPEG ``-q:v 3``. If no frame decodes the file is ``truncated`` (ffmpeg found the sample
   table pointing past the end: "partial file") or ``undecodable``.
4. **Preview** for the AI steps: H.264 (libx264 veryfast CRF 28, yuv420p, ``+faststart``), AAC 96 kbit/s
   when there is audio, upright, short side at most ``preview_max_height`` and never upscaled (both sides
   even), at most 30 fps, metadata stripped, written to ``workdir/preview.mp4``. If it fails the result has
   ``preview=None`` and a warning is logged; it is not a rejection.
5. **Signals** from ``signalstats`` on frames scaled to 160 px wide and converted to full range (0..255),
   sampled every 0.5 s (less often in a long clip: at most ``_SIGNAL_SAMPLES``) by a second branch of the
   preview's decode, which costs ~10 % of the preview. Without a preview, the key frames are sampled on
   their own (only key frames are decoded), and if the clip has fewer than ``_MIN_KEYFRAME_SAMPLES`` of
   them, every frame is decoded and sampled as above.

   - ``luma_mean``: the mean over the samples of the frame's mean luma, 0 (black) .. 1 (white).
   - ``luma_spread``: the mean over the samples of the frame's 10th-to-90th percentile luma range
     (``YHIGH - YLOW``), 0..1: how much tonal contrast a typical frame has.
   - ``near_uniform``: at least half the samples are blank: their 10-90 % range is under
     ``_UNIFORM_RANGE`` (a flat wall, a white-out) or their 90th percentile is under ``_BLACK_LEVEL``
     (lens cap, pocket).

   (The constants named here are :mod:`.preview`'s.)

A rejected file raises ``Rejected(code, sentence)``: a tool that fails or overruns its time limit on this
file rejects it with a sentence that says so. ``ToolError`` (``shared.runtime.ffmpeg``: a missing ffmpeg, a
command line it refuses, an unwritable work dir) is a fault of this side, not the file's, and is raised as
is so the message is retried. Every file written goes into ``workdir``; on return only ``preview.mp4`` is
left there (nothing on rejection).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from services.media_process.model import Limits, Rejected, VideoResult
from services.media_process.sniff import HEAD_BYTES, sniff
from services.media_process.video.boxes import BoxScan, is_isobmff, scan_isobmff
from services.media_process.video.preview import PREVIEW_NAME, make_preview, measure_signals
from services.media_process.video.probe import probe_video
from services.media_process.video.reasons import ENCRYPTED, NOT_A_VIDEO, TRUNCATED
from services.media_process.video.thumbnail import THUMBNAIL_NAME, make_thumbnail

log = logging.getLogger("shoebox.media_process.video")  # one logger for the whole video pipeline


def process_video(path: Path, media_type: str, limits: Limits, workdir: Path) -> VideoResult:
    """Validate, describe, thumbnail, measure and preview one video.

    Raises ``Rejected`` when the file is refused, ``ToolError`` (``shared.runtime.ffmpeg``) when
    ffmpeg/ffprobe cannot be run or cannot write to ``workdir``, and ``OSError`` when ``path`` cannot be read.
    """
    started = time.monotonic()
    try:
        result = _process(path, media_type, limits, workdir)
    except Rejected:
        for name in (THUMBNAIL_NAME, PREVIEW_NAME):
            (workdir / name).unlink(missing_ok=True)
        raise
    log.info(
        "video processed in %.2f s: %s %s, preview %s",
        time.monotonic() - started,
        result.metadata.codec,
        f"{result.metadata.width}x{result.metadata.height}",
        "made" if result.preview else "none",
    )
    return result


def _process(path: Path, media_type: str, limits: Limits, workdir: Path) -> VideoResult:
    limits.check_size("video", path.stat().st_size)
    with path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    sniffed = sniff(head)
    if sniffed is None or sniffed.kind != "video":
        raise Rejected("unsupported_type", NOT_A_VIDEO)

    scan = scan_isobmff(path) if is_isobmff(head) else BoxScan()
    if scan.encrypted:
        raise Rejected("encrypted", ENCRYPTED)
    if scan.truncated:
        raise Rejected("truncated", TRUNCATED)

    probed = probe_video(path, limits, scan)
    stream = probed.stream
    limits.check_pixels("video", stream.width, stream.height)
    if probed.duration_s is not None and probed.duration_s > limits.max_video_duration_s:
        raise Rejected(
            "too_long",
            f"The video is {_duration_text(probed.duration_s)} long; Shoebox takes videos up to "
            f"{_duration_text(limits.max_video_duration_s)}.",
        )

    thumbnail = make_thumbnail(path, probed, limits, workdir)
    preview, frames = make_preview(path, probed, limits, workdir)
    signals = measure_signals(path, probed, limits, frames)
    return VideoResult(
        media_type=media_type,
        metadata=probed.metadata,
        signals=signals,
        thumbnail=thumbnail,
        preview=preview,
    )


def _duration_text(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
