"""The analysis of one clip: ffprobe for its shape, then ONE decode at a reduced size that measures
everything the recommendations need (see docs/video.md "Analysis").

The decode (``-autorotate``: frames upright) is scaled into a ``size_px`` box and split three ways:

- ``signalstats`` + ``blurdetect``, printed per sampled frame (every frame up to ``STATS_FPS`` a second,
  fewer in a long clip) to ``stats.txt``: luma mean and 10th/90th percentiles, saturation, chroma cast, and
  the per-frame black / pocket / blur verdicts the trim suggestion is made of;
- (from the full-size decode: downscaling averages noise away) a centre crop of each sampled frame, its
  absolute difference from its 3x3 median through ``signalstats`` into ``noise.txt``: its mean is the noise
  estimate (fine texture counts a little too; ``NOISE_SCALE`` turns it into a luma sigma);
- ``vidstabdetect`` on every frame into ``motion.trf``: the median of each frame's local motions is the
  frame's global shift, and ``shake`` is the mean change of that shift from one frame to the next
  (pixels at the analysis size): a steady pan moves a lot but changes little, a shaking hand changes it
  every frame.

Every call goes through ``shared.runtime.ffmpeg`` (file protocol, container whitelist, deadline). A file
that ffprobe cannot read, that is encrypted, that has no video track, or whose frames do not decode is
``Unreadable`` with a sentence that says why.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import statistics
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec

from services.video.model import VideoAnalysis
from shared.runtime import ffmpeg as tools

log = logging.getLogger("shoebox.video")

#: the long side of the analysis frames (pixels); the shake figure is in pixels at this size
ANALYSIS_PX = 320
#: frames measured per second of clip (at most), and at most this many in all
STATS_FPS = 10.0
MAX_STATS_SAMPLES = 3000
#: a frame whose 90th-percentile luma is below this (8-bit, limited range: 16 is black) is black
BLACK_HIGH = 28.0
#: a frame this dark and this flat (90th - 10th percentile) is a pocket / lens-cap shot
POCKET_MEAN = 45.0
POCKET_SPREAD = 14.0
#: blurdetect's figure above which a frame is too blurred to open or close a clip on
BLUR_LIMIT = 12.0
#: a start or end shorter than this is not worth trimming; a trim must leave at least MIN_KEEP_S
MIN_TRIM_S = 0.3
MIN_KEEP_S = 1.0
#: the noise is measured on a centre crop of this size at the source's own resolution; mean
#: |frame - median3x3(frame)| (8-bit levels) times NOISE_SCALE is the luma noise sigma (calibrated with
#: ffmpeg's ``noise`` filter on bikes.mp4: uniform +-10 (sigma 5.8) measures 3.4; clean clips 0.9-1.8)
NOISE_CROP_PX = 320
NOISE_SCALE = 1.7

STATS_NAME = "stats.txt"
NOISE_NAME = "noise.txt"
MOTION_NAME = "motion.trf"


class Unreadable(Exception):
    """ffmpeg/ffprobe cannot read the file: ``reason`` is a sentence for the person (not retried)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AnalysisFailed(Exception):
    """The analysis run failed on a file that probed fine (ffmpeg's own failure, a deadline): retried."""


class Clip(msgspec.Struct, frozen=True, kw_only=True):
    """What ffprobe says about a clip, reduced to what the analysis and the render need."""

    duration_s: float
    #: displayed (upright) size
    width: int
    height: int
    fps: float
    has_audio: bool
    #: clockwise degrees the container asks players to turn the stored frames
    rotation: int = 0
    #: the input index of the video stream and of the first audio stream (-1: none)
    video_index: int = 0
    audio_index: int = -1


def probe_clip(path: Path, timeout_s: float) -> Clip:
    """ffprobe the clip; ``Unreadable`` when it cannot be read or holds no video it can show."""
    run, data = tools.probe(path, timeout_s)
    if data is None:
        run.raise_for_invocation()
        if run.timed_out:
            raise Unreadable(f"Reading the video's header took longer than {timeout_s:g} s.")
        log.info("ffprobe refused %s: %s", path.name, run.describe())
        if "not on whitelist" in run.stderr:
            raise Unreadable(
                "The file is not a video container Shoebox reads (MP4, MOV, MKV, WebM, AVI, TS)."
            )
        raise Unreadable("The video's container is damaged, so the file cannot be read.")
    return describe(data)


def describe(data: Mapping[str, Any]) -> Clip:
    """``Clip`` from ffprobe's ``-show_format -show_streams`` JSON (``Unreadable`` when it is unusable)."""
    fmt = data.get("format") or {}
    streams = [s for s in data.get("streams") or [] if isinstance(s, dict)]
    if any(
        side.get("side_data_type") == "Encryption initialization data"
        for s in streams
        for side in s.get("side_data_list") or []
    ):
        raise Unreadable("The video is encrypted (DRM), so its frames cannot be read.")
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        raise Unreadable("The file has no video track.")
    main = next((s for s in videos if (s.get("disposition") or {}).get("default")), videos[0])
    width, height = _number(main.get("width")), _number(main.get("height"))
    if not width or not height:
        raise Unreadable("The video track does not say how large its frames are.")
    rotation = _rotation(main)
    w, h = (int(height), int(width)) if rotation in (90, 270) else (int(width), int(height))
    duration = _number(fmt.get("duration")) or _number(main.get("duration"))
    if not duration:
        raise Unreadable("The video does not say how long it is.")
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    return Clip(
        duration_s=duration,
        width=w,
        height=h,
        fps=_fps(main),
        has_audio=bool(audio),
        rotation=rotation,
        video_index=int(_number(main.get("index")) or 0),
        audio_index=int(_number(audio[0].get("index")) or 0) if audio else -1,
    )


def analyse(
    path: Path, *, timeout_s: float, size_px: int = ANALYSIS_PX, workdir: Path | None = None
) -> VideoAnalysis:
    """Probe and measure ``path`` (one decode). ``timeout_s`` bounds each ffmpeg/ffprobe run.

    Raises ``Unreadable`` (the file's fault, with its reason) or ``AnalysisFailed`` (retry)."""
    clip = probe_clip(path, timeout_s)
    if workdir is not None:
        return measure(path, clip, workdir=workdir, timeout_s=timeout_s, size_px=size_px)
    with tempfile.TemporaryDirectory(prefix="shoebox-analyse-") as tmp:
        return measure(path, clip, workdir=Path(tmp), timeout_s=timeout_s, size_px=size_px)


def measure(path: Path, clip: Clip, *, workdir: Path, timeout_s: float, size_px: int) -> VideoAnalysis:
    """The single analysis decode of a probed clip (see the module docstring); its work files go into
    ``workdir`` and are removed."""
    files = [workdir / STATS_NAME, workdir / NOISE_NAME, workdir / MOTION_NAME]
    for file in files:
        file.unlink(missing_ok=True)
    try:
        run = tools.run_ffmpeg(_analysis_node(path, clip, files, size_px), timeout_s)
        run.raise_for_invocation(outputs=files)
        frames = list(_stat_frames(_read(files[0])))
        if not frames:
            log.info("analysis decoded nothing: %s", run.describe())
            if run.timed_out:
                raise AnalysisFailed(run.describe())
            raise Unreadable("No frame of the video could be decoded.")
        if not run.ok:
            if run.timed_out:
                raise AnalysisFailed(run.describe())
            # some frames decoded, then the decoder gave up: the clip is damaged past that point
            raise Unreadable(
                f"The video is damaged: its frames stop decoding after {frames[-1].t:.1f} s "
                f"of {clip.duration_s:.1f} s."
            )
        noise = [n.mean for n in _stat_frames(_read(files[1]))]
        shifts = parse_motion(_read(files[2]))
    finally:
        for file in files:
            file.unlink(missing_ok=True)
    return summarise(clip, frames, noise, shifts, size_px)


def _analysis_node(path: Path, clip: Clip, files: list[Path], size_px: int) -> Any:
    decoded = tools.safe_input(path, autorotate=1)[str(clip.video_index)].split()
    small = (
        decoded[0]
        .filter(
            "scale",
            f"min({size_px},iw)",
            f"min({size_px},ih)",
            force_original_aspect_ratio="decrease",
            force_divisible_by=2,
        )
        .filter("format", "yuv420p")
    )
    branches = small.split()
    gap = max(1.0 / STATS_FPS, clip.duration_s / MAX_STATS_SAMPLES)
    every = f"isnan(prev_selected_t)+gte(t-prev_selected_t,{gap:.4f})"
    stats = (
        branches[0]
        .filter("select", every)
        .filter("signalstats")
        .filter("blurdetect", block_width=32, block_height=32)
        .filter("metadata", "print", file=str(files[0]))
    )
    # noise at the source's own scale (downscaling averages it away): a centre crop, not the whole frame
    crop = (
        decoded[1]
        .filter("select", every)
        .filter("crop", f"min(iw,{NOISE_CROP_PX})", f"min(ih,{NOISE_CROP_PX})")
        .filter("format", "yuv420p")
        .split()
    )
    noise = (
        ffmpeg.filter([crop[0], crop[1].filter("median", radius=1)], "blend", all_mode="difference")
        .filter("signalstats")
        .filter("metadata", "print", file=str(files[1]))
    )
    motion = branches[1].filter("vidstabdetect", result=str(files[2]), shakiness=8, accuracy=9)
    quiet = {"f": "null", "an": None, "sn": None, "dn": None}
    return ffmpeg.merge_outputs(*(ffmpeg.output(branch, "-", **quiet) for branch in (stats, noise, motion)))


class StatFrame(msgspec.Struct, frozen=True):
    """One sampled frame's signalstats (8-bit levels) and blurdetect figure."""

    t: float
    mean: float
    low: float
    high: float
    saturation: float = 0.0
    u: float = 128.0
    v: float = 128.0
    blur: float = 0.0

    @property
    def blank(self) -> bool:
        """Black, or a dark flat pocket / lens-cap frame."""
        return self.high < BLACK_HIGH or (self.mean < POCKET_MEAN and self.high - self.low < POCKET_SPREAD)

    @property
    def unusable(self) -> bool:
        """Not a frame to open or close a clip on: blank or badly blurred."""
        return self.blank or self.blur > BLUR_LIMIT


_KEYS = {
    "lavfi.signalstats.YAVG": "mean",
    "lavfi.signalstats.YLOW": "low",
    "lavfi.signalstats.YHIGH": "high",
    "lavfi.signalstats.SATAVG": "saturation",
    "lavfi.signalstats.UAVG": "u",
    "lavfi.signalstats.VAVG": "v",
    "lavfi.blur": "blur",
}


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _stat_frames(text: str) -> Iterator[StatFrame]:
    """Frames of a ``metadata=print`` file: ``frame:N pts:P pts_time:T`` then ``key=value`` lines."""
    t: float | None = None
    values: dict[str, float] = {}

    def frame() -> StatFrame | None:
        if t is None or not {"mean", "low", "high"} <= values.keys():
            return None
        return StatFrame(t=t, **values)

    for line in text.splitlines():
        if line.startswith("frame:"):
            done = frame()
            if done is not None:
                yield done
            values = {}
            match = re.search(r"pts_time:(\S+)", line)
            t = _number(match.group(1)) if match else None
            t = t if t is not None else 0.0
        else:
            key, _, value = line.partition("=")
            name = _KEYS.get(key.strip())
            number = _number(value)
            if name is not None and number is not None:
                values[name] = number
    done = frame()
    if done is not None:
        yield done


_FRAME = re.compile(r"^Frame (\d+) \(List \d+ \[(.*)\]\)\s*$")
_LM = re.compile(r"\(LM (-?\d+) (-?\d+) ")


def parse_motion(text: str) -> list[tuple[float, float] | None]:
    """Each frame's global shift (px, the median of vidstabdetect's local motions; None: none found)."""
    shifts: list[tuple[float, float] | None] = []
    for line in text.splitlines():
        match = _FRAME.match(line)
        if not match:
            continue
        moves = [(int(x), int(y)) for x, y in _LM.findall(match.group(2))]
        if moves:
            shifts.append((statistics.median(m[0] for m in moves), statistics.median(m[1] for m in moves)))
        else:
            shifts.append(None)
    return shifts


def shake_of(shifts: list[tuple[float, float] | None]) -> float:
    """Mean change of the global shift from one frame to the next (px)."""
    changes = [
        math.hypot(b[0] - a[0], b[1] - a[1])
        for a, b in itertools.pairwise(shifts)
        if a is not None and b is not None
    ]
    return sum(changes) / len(changes) if changes else 0.0


def summarise(
    clip: Clip,
    frames: list[StatFrame],
    noise: list[float],
    shifts: list[tuple[float, float] | None],
    size_px: int,
) -> VideoAnalysis:
    """The analysis from the per-frame figures: means over the usable frames (all of them when none is)."""
    trim_in, trim_out, notes = _trim(clip, frames)
    kept = [f for f in frames if not f.blank] or frames

    def mean(values: list[float]) -> float:
        return round(sum(values) / len(values), 3) if values else 0.0

    shake = shake_of(shifts)
    return VideoAnalysis(
        duration_s=round(clip.duration_s, 3),
        width=clip.width,
        height=clip.height,
        fps=clip.fps,
        has_audio=clip.has_audio,
        rotation=clip.rotation,
        luma_mean=min(255.0, mean([f.mean for f in kept])),
        luma_low=min(255.0, mean([f.low for f in kept])),
        luma_high=min(255.0, mean([f.high for f in kept])),
        saturation=mean([f.saturation for f in kept]),
        cast_u=round(mean([f.u for f in kept]) - 128.0, 3),
        cast_v=round(mean([f.v for f in kept]) - 128.0, 3),
        noise=round(mean(noise) * NOISE_SCALE, 3),
        shake=round(shake, 3),
        blur=mean([f.blur for f in kept]),
        analysis_px=size_px,
        trim_in_s=trim_in,
        trim_out_s=trim_out,
        notes=tuple(notes),
    )


def _trim(clip: Clip, frames: list[StatFrame]) -> tuple[float | None, float | None, list[str]]:
    """Where to start and end: past a leading run of unusable frames, before a trailing one."""
    notes: list[str] = []
    good = [i for i, f in enumerate(frames) if not f.unusable]
    if not good:
        notes.append("no frame is well exposed and sharp: nothing to trim to")
        return None, None, notes
    first, last = frames[good[0]], frames[good[-1]]
    start = first.t if good[0] > 0 else 0.0
    # the end is where the next sample (the first unusable one) starts
    end = frames[good[-1] + 1].t if good[-1] + 1 < len(frames) else clip.duration_s
    trim_in = round(start, 3) if start >= MIN_TRIM_S else None
    trim_out = round(end, 3) if clip.duration_s - end >= MIN_TRIM_S else None
    if (trim_out if trim_out is not None else clip.duration_s) - (trim_in or 0.0) < MIN_KEEP_S:
        notes.append("the usable part is too short to trim to")
        return None, None, notes
    if trim_in is not None:
        notes.append(f"starts on {trim_in:.1f} s of {_why(frames[: good[0]])}")
    if trim_out is not None:
        notes.append(f"ends on {clip.duration_s - trim_out:.1f} s of {_why(frames[good[-1] + 1 :])}")
    del last
    return trim_in, trim_out, notes


def _why(frames: list[StatFrame]) -> str:
    blank = sum(f.blank for f in frames)
    return "black or a covered lens" if blank * 2 >= len(frames) else "blur"


def _rotation(stream: Mapping[str, Any]) -> int:
    """Clockwise degrees to display the stored frame (ffprobe's display matrix angle is counter-clockwise)."""
    for side in stream.get("side_data_list") or []:
        if side.get("side_data_type") == "Display Matrix" and side.get("rotation") is not None:
            degrees = _number(side.get("rotation"))
            if degrees is not None:
                return round(-degrees / 90.0) * 90 % 360
    tag = _number((stream.get("tags") or {}).get("rotate"))
    return round(tag / 90.0) * 90 % 360 if tag is not None else 0


def _fps(stream: Mapping[str, Any]) -> float:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(stream.get(key) or "").partition("/")
        n, d = _number(num), _number(den or "1")
        if n and d and 0 < n / d <= 1000:
            return round(n / d, 3)
    return 30.0


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
