"""The preview for the AI steps and the luma signals, sampled from the same decode (see the pipeline's
docstring, :mod:`.pipeline`, steps 4 and 5)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec

from services.media_process import values
from services.media_process.model import Limits, Rejected
from services.media_process.video.probe import Probed
from services.media_process.video.reasons import UNDECODABLE
from services.media_process.video.thumbnail import square_pixels
from shared.events import catalogue as c
from shared.runtime import ffmpeg as tools

log = logging.getLogger("shoebox.media_process.video")  # one logger for the whole video pipeline

PREVIEW_NAME = "preview.mp4"
PREVIEW_CODEC = "libx264"
_PREVIEW_MAX_FPS = 30

_SIGNAL_WIDTH = 160
_SIGNAL_SAMPLES = 40
_MIN_KEYFRAME_SAMPLES = 4
_SIGNAL_FPS = 2.0
#: a frame whose 10th..90th percentile luma range is below this (of 0..1) is flat
_UNIFORM_RANGE = 0.06
#: a frame whose 90th percentile luma is below this is black
_BLACK_LEVEL = 0.08


class _Frame(msgspec.Struct, frozen=True):
    mean: float  # YAVG, 0..1
    low: float  # YLOW, 10th percentile
    high: float  # YHIGH, 90th percentile


#: wall seconds of preview encoding allowed per second of video: 1080p measured at ~0.3x real time on
#: 2 cores (docs/benchmarks.md); 1.0x leaves room for 4K/HEVC and a loaded machine
PREVIEW_REAL_TIME_FACTOR = 1.0


#: the preview must finish inside media_process's handler timeout (900 s, Lambda's limit) with room for
#: the download, probe, thumbnail and upload
PREVIEW_MAX_S = 780.0


def preview_deadline_s(probed: Probed, limits: Limits) -> float:
    """The preview's time limit grows with the clip, so a long clip still gets one (up to PREVIEW_MAX_S:
    beyond that the file is processed without a preview)."""
    wanted = max(limits.ffmpeg_timeout_s, (probed.duration_s or 0.0) * PREVIEW_REAL_TIME_FACTOR)
    return min(wanted, PREVIEW_MAX_S)


def make_preview(
    path: Path, probed: Probed, limits: Limits, workdir: Path
) -> tuple[Path | None, list[_Frame]]:
    """The preview MP4 (None if ffmpeg failed) and the luma samples taken from the same decode."""
    out = workdir / PREVIEW_NAME
    out.unlink(missing_ok=True)
    run = tools.run_ffmpeg(_preview_node(path, probed, limits, out), preview_deadline_s(probed, limits))
    if run.ok and out.is_file() and out.stat().st_size > 0:
        log.debug("preview made in %.2f s", run.elapsed_s)
        return out, parse_signalstats(run.stdout.decode(errors="replace"))
    out.unlink(missing_ok=True)
    log.warning("no preview for this video (it is processed without one): %s", run.describe())
    return None, []


def _preview_node(path: Path, probed: Probed, limits: Limits, out: Path) -> Any:
    """Two outputs from one decode: the preview, and sampled frames through signalstats to stdout."""
    source = tools.safe_input(path, autorotate=1)
    decoded = square_pixels(source[str(probed.stream.index)], probed).split()
    cap = limits.preview_max_height
    # short side at most `cap`, never upscaled, both sides even; the long side follows the aspect (-2)
    preview = (
        decoded[0]
        .filter(
            "scale",
            f"if(gte(iw,ih),-2,min({cap},trunc(iw/2)*2))",
            f"if(gte(iw,ih),min({cap},trunc(ih/2)*2),-2)",
        )
        .filter("setsar", 1)
    )
    streams = [preview]
    audio: dict[str, Any] = {}
    if probed.has_audio:
        streams.append(source["a:0?"])
        audio = {"acodec": "aac", "audio_bitrate": "96k"}
    encoded = ffmpeg.output(
        *streams,
        str(out),
        vcodec=PREVIEW_CODEC,
        preset="veryfast",
        crf=28,
        pix_fmt="yuv420p",
        fpsmax=_PREVIEW_MAX_FPS,
        movflags="+faststart",
        map_metadata=-1,
        map_chapters=-1,
        max_muxing_queue_size=1024,
        sn=None,
        dn=None,
        f="mp4",
        **audio,
    )
    sampled = _luma_chain(decoded[1], probed)
    return ffmpeg.merge_outputs(encoded, ffmpeg.output(sampled, "-", f="null", an=None, sn=None, dn=None))


def measure_signals(path: Path, probed: Probed, limits: Limits, frames: list[_Frame]) -> c.VideoSignals:
    """Luma statistics (see the module docstring) over ``frames``, the preview run's samples.

    Without them (no preview) the key frames are sampled on their own, and when the clip has too few key
    frames every frame is decoded and sampled.
    """
    if not frames:
        frames = _sample_luma(path, probed, limits, keyframes_only=True)
        if len(frames) < _MIN_KEYFRAME_SAMPLES:
            frames = _sample_luma(path, probed, limits, keyframes_only=False) or frames
    if not frames:
        raise Rejected("undecodable", UNDECODABLE)
    blank = sum(1 for f in frames if f.high - f.low < _UNIFORM_RANGE or f.high < _BLACK_LEVEL)
    return c.VideoSignals(
        luma_mean=round(sum(f.mean for f in frames) / len(frames), 4),
        luma_spread=round(sum(f.high - f.low for f in frames) / len(frames), 4),
        near_uniform=blank * 2 >= len(frames),
        duration_s=round(probed.duration_s or 0.0, 3),
    )


def _sample_gap(probed: Probed) -> float:
    """Seconds between samples: 0.5, or more so a long clip gives at most _SIGNAL_SAMPLES."""
    return max(1 / _SIGNAL_FPS, (probed.duration_s or 0.0) / _SIGNAL_SAMPLES)


def _luma_chain(stream: Any, probed: Probed) -> Any:
    """The first frame and then one every ``_sample_gap`` seconds, 160 px wide, full range 8-bit, with
    signalstats printed per frame to stdout. (``select`` rather than ``fps``: it keeps the only frame of a
    very short clip and never repeats frames of a slow one.)"""
    gap = _sample_gap(probed)
    return (
        stream.filter("select", f"isnan(prev_selected_t)+gte(t-prev_selected_t,{gap:.3f})")
        .filter("scale", _SIGNAL_WIDTH, -2, out_range="full")
        .filter("format", "yuvj420p")
        .filter("signalstats")
        .filter("metadata", "print", file="-")
    )


def _sample_luma(path: Path, probed: Probed, limits: Limits, *, keyframes_only: bool) -> list[_Frame]:
    options: dict[str, Any] = {"skip_frame": "nokey"} if keyframes_only else {}
    stream = tools.safe_input(path, autorotate=1, **options)[str(probed.stream.index)]
    node = ffmpeg.output(_luma_chain(stream, probed), "-", f="null", an=None, sn=None, dn=None)
    run = tools.run_ffmpeg(node, limits.ffmpeg_timeout_s)
    if not run.ok:
        run.raise_for_invocation()
        log.info("luma sampling (%s) failed: %s", "key frames" if keyframes_only else "all", run.describe())
    return parse_signalstats(run.stdout.decode(errors="replace"))


def parse_signalstats(text: str) -> list[_Frame]:
    """Per-frame YAVG/YLOW/YHIGH from ``metadata=print`` output, scaled to 0..1 (8-bit full range)."""
    frames: list[_Frame] = []
    stats: dict[str, float] = {}

    def flush() -> None:
        if {"YAVG", "YLOW", "YHIGH"} <= stats.keys():
            frames.append(_Frame(stats["YAVG"] / 255, stats["YLOW"] / 255, stats["YHIGH"] / 255))
        stats.clear()

    for line in text.splitlines():
        if line.startswith("frame:"):
            flush()
        elif line.startswith("lavfi.signalstats."):
            key, _, value = line[len("lavfi.signalstats.") :].partition("=")
            number = values.number(value)
            if number is not None:
                stats[key] = number
    flush()
    return frames
