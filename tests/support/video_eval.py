"""The video evaluation's fixtures and measures: copies of real clips degraded in known ways, and figures
taken from their pixels independently of the video pipeline's own analysis (so a test cannot agree with
itself).

Fixtures (written where the caller says, a pytest tmp dir or a benchmark's temp dir; the sources are used in
place) are each ONE encode of a short stretch of a real clip (H.264 CRF 16 ``veryfast``, audio kept as AAC):

- ``clean``: the stretch itself;
- ``darkened``: luma scaled to 60 % (``eq contrast=0.6 brightness=-0.2``: out = 0.6 x in on eq's 0..1 scale,
  so mean and spread both shrink by 40 %, an underexposure by about three quarters of a stop);
- ``shaken``: a per-frame random translation: a window ``2 x amplitude`` smaller than the frame, moved every
  frame to a seeded random offset (independent per frame, uniform in 0..2 x amplitude whole pixels,
  ``crop exact=1``) by a generated ``sendcmd`` file driving ``crop`` at full frame rate. The amplitude is
  ``SHAKE_SHARE`` of the width (720p: 19 px, 640: 10 px, 176: 3 px).

Measures, on frames decoded by ffmpeg to raw 8-bit luma (``extractplanes=y``: the Y plane as stored, no
range conversion, so "levels" are signalstats' levels):

- luma mean and spread (p90 - p10), per sampled frame, averaged;
- inter-frame motion: phase correlation between consecutive frames (every frame, downscaled to
  ``MOTION_WIDTH``, Hann-windowed), the peak's offset with sub-pixel refinement, its length averaged over the
  clip. Chosen over vidstabdetect's transforms because the pipeline's analysis and its stabiliser are
  built on vidstab: a measure of a different kind cannot share its blind spots;
- SSIM (Wang et al. 2004, K1 0.01, K2 0.03, 7 x 7 uniform window as scikit-image's default) on frames
  sampled at the same indices in both files, averaged.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec
import numpy as np
import numpy.typing as npt

from shared.runtime.ffmpeg import probe, run_ffmpeg, safe_input

#: a fixture's encode: near-lossless so the "clean" copy is as clean as its source
FIXTURE_CRF = 16
#: the darkening: luma x 0.6 (eq: out = (in - 0.5) x contrast + 0.5 + brightness on 0..1)
DARK_CONTRAST, DARK_BRIGHTNESS = 0.6, -0.2
#: the shake's amplitude as a share of the frame's width (720p: 19 px each way)
SHAKE_SHARE = 0.015
#: frames are downscaled to this width to measure motion (phase correlation needs no more)
MOTION_WIDTH = 320
#: every this-many-th frame is sampled for luma and SSIM
SAMPLE_EVERY = 5
TIMEOUT_S = 300.0

Frames = npt.NDArray[np.uint8]


class ClipInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What ffprobe says of a clip's first video stream (displayed size: rotation applied)."""

    width: int
    height: int
    fps: float
    duration_s: float
    frames: int
    has_audio: bool


def clip_info(path: Path) -> ClipInfo:
    """ffprobe's figures for ``path``; AssertionError when ffprobe cannot read it (a test's failure)."""
    result, data = probe(path, TIMEOUT_S)
    assert data is not None, f"ffprobe cannot read {path.name}: {result.describe()}"
    streams: list[dict[str, Any]] = data.get("streams", [])
    video = next(s for s in streams if s.get("codec_type") == "video")
    num, _, den = str(video.get("avg_frame_rate") or video.get("r_frame_rate", "0/1")).partition("/")
    fps = float(num) / float(den or 1) if float(den or 1) else 0.0
    rotation = _rotation(video)
    w, h = int(video["width"]), int(video["height"])
    if rotation in (90, 270):
        w, h = h, w
    duration = float(video.get("duration") or data.get("format", {}).get("duration") or 0.0)
    return ClipInfo(
        width=w,
        height=h,
        fps=fps,
        duration_s=duration,
        frames=int(video.get("nb_frames") or round(duration * fps)),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
    )


def _rotation(video: dict[str, Any]) -> int:
    tags = video.get("tags", {})
    if "rotate" in tags:
        return int(tags["rotate"]) % 360
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            return int(side["rotation"]) % 360
    return 0


# --- fixtures -------------------------------------------------------------------------------------------


def _encode(src: Path, dst: Path, start_s: float, duration_s: float, video: Any) -> Path:
    """``video`` (a filtered stream of ``src``) with ``src``'s audio, as one H.264 + AAC MP4."""
    inp = safe_input(src, ss=start_s, t=duration_s)
    streams = [video]
    if clip_info(src).has_audio:
        streams.append(inp.audio)
    out = ffmpeg.output(
        *streams,
        str(dst),
        vcodec="libx264",
        preset="veryfast",
        crf=FIXTURE_CRF,
        pix_fmt="yuv420p",
        acodec="aac",
        movflags="+faststart",
    )
    result = run_ffmpeg(out, TIMEOUT_S)
    assert result.ok, result.describe()
    return dst


def _stretch(src: Path, start_s: float, duration_s: float) -> Any:
    return safe_input(src, ss=start_s, t=duration_s).video


def clean(src: Path, dst: Path, start_s: float, duration_s: float) -> Path:
    """The stretch ``[start_s, start_s + duration_s)`` of ``src``, re-encoded (the reference copy)."""
    return _encode(src, dst, start_s, duration_s, _stretch(src, start_s, duration_s))


def darkened(src: Path, dst: Path, start_s: float, duration_s: float) -> Path:
    """The stretch with its luma scaled to 60 % (``DARK_CONTRAST``, ``DARK_BRIGHTNESS``)."""
    video = _stretch(src, start_s, duration_s).filter(
        "eq", contrast=DARK_CONTRAST, brightness=DARK_BRIGHTNESS
    )
    return _encode(src, dst, start_s, duration_s, video)


def shake_offsets(frames: int, amplitude: int, seed: int) -> list[tuple[int, int]]:
    """Per frame, the crop window's (x, y): independent, uniform in 0..2 x amplitude (whole pixels)."""
    rng = random.Random(seed)
    return [(rng.randint(0, 2 * amplitude), rng.randint(0, 2 * amplitude)) for _ in range(frames)]


def shake_amplitude(width: int) -> int:
    """The shake's amplitude (pixels each way) for a frame ``width`` wide."""
    return max(1, round(width * SHAKE_SHARE))


def shaken(src: Path, dst: Path, start_s: float, duration_s: float, *, seed: int = 15) -> Path:
    """The stretch with camera shake added: a crop window moved to a random offset on every frame (the
    frame shrinks by ``2 x amplitude`` each way)."""
    info = clip_info(src)
    amplitude = shake_amplitude(info.width)
    count = int(duration_s * info.fps) + 2
    commands = dst.with_suffix(".sendcmd")
    # one command set per frame time (sendcmd fires at the first frame whose time reaches it); the
    # times are the stretch's own (the input is cut with -ss, so frames start at 0)
    commands.write_text(
        "".join(
            f"{n / info.fps:.5f} crop x {x}, crop y {y};\n"
            for n, (x, y) in enumerate(shake_offsets(count, amplitude, seed))
        )
    )
    # crop needs an even size for 4:2:0 (the output's); exact=1 keeps odd offsets as they are
    width, height = (info.width - 2 * amplitude) // 2 * 2, (info.height - 2 * amplitude) // 2 * 2
    video = (
        _stretch(src, start_s, duration_s)
        .filter("sendcmd", f=str(commands))
        .filter("crop", w=width, h=height, x=amplitude, y=amplitude, exact=1)
    )
    return _encode(src, dst, start_s, duration_s, video)


# --- measures -------------------------------------------------------------------------------------------


def luma_frames(path: Path, *, width: int | None = None, every: int = 1) -> Frames:
    """The clip's luma planes as stored (8-bit levels), every ``every``-th frame by index, optionally
    downscaled to ``width`` (area averaging): shape (frames, height, width)."""
    info = clip_info(path)
    w = width or info.width
    h = info.height if width is None else max(2, round(info.height * width / info.width / 2) * 2)
    video = safe_input(path).video
    if every > 1:
        video = video.filter("select", f"not(mod(n,{every}))")
    if width is not None:
        video = video.filter("scale", w, h, flags="area")
    # 8-bit 4:2:0 in the source's range (no range conversion), then its Y plane as it is
    video = video.filter("format", "yuv420p").filter("extractplanes", "y")
    out = video.output("pipe:", format="rawvideo", pix_fmt="gray", vsync="passthrough")
    result = run_ffmpeg(out, TIMEOUT_S)
    assert result.ok, result.describe()
    data = np.frombuffer(result.stdout, dtype=np.uint8)
    assert data.size % (w * h) == 0 and data.size, f"{path.name}: {data.size} bytes is not frames of {w}x{h}"
    return data.reshape(-1, h, w)


class Luma(msgspec.Struct, frozen=True):
    """Mean and spread (p90 - p10) of luma levels, averaged over the sampled frames."""

    mean: float
    spread: float


def luma(frames: Frames) -> Luma:
    """Luma mean and p90 - p10 spread of each frame, averaged."""
    flat = frames.reshape(len(frames), -1).astype(np.float64)
    p10, p90 = np.percentile(flat, [10, 90], axis=1)
    return Luma(mean=float(flat.mean(axis=1).mean()), spread=float((p90 - p10).mean()))


def _hann(h: int, w: int) -> npt.NDArray[np.float64]:
    return np.outer(np.hanning(h), np.hanning(w))


def _peak_offset(corr: npt.NDArray[np.float64]) -> tuple[float, float]:
    """The correlation peak's (dy, dx), wrapped to signed shifts, refined by a parabola on each axis."""
    h, w = corr.shape
    iy, ix = np.unravel_index(int(np.argmax(corr)), corr.shape)

    def refine(c_minus: float, c0: float, c_plus: float) -> float:
        denom = c_minus - 2 * c0 + c_plus
        return 0.0 if denom == 0 else 0.5 * (c_minus - c_plus) / denom

    dy = iy + refine(corr[(iy - 1) % h, ix], corr[iy, ix], corr[(iy + 1) % h, ix])
    dx = ix + refine(corr[iy, (ix - 1) % w], corr[iy, ix], corr[iy, (ix + 1) % w])
    return (dy - h if dy > h / 2 else dy), (dx - w if dx > w / 2 else dx)


def frame_shifts(frames: Frames) -> npt.NDArray[np.float64]:
    """Per consecutive pair, the translation (dy, dx) in pixels that phase correlation finds."""
    window = _hann(*frames.shape[1:])
    spectra = []
    for frame in frames:
        f = frame.astype(np.float64)
        spectra.append(np.fft.rfft2((f - f.mean()) * window))
    shifts = []
    for a, b in itertools.pairwise(spectra):
        cross = a * np.conj(b)
        cross /= np.maximum(np.abs(cross), 1e-9)
        shifts.append(_peak_offset(np.fft.irfft2(cross, s=frames.shape[1:])))
    return np.array(shifts, dtype=np.float64).reshape(-1, 2)


def motion(path: Path) -> float:
    """Mean inter-frame motion (pixels at ``MOTION_WIDTH`` wide, per frame) over every consecutive pair."""
    shifts = frame_shifts(luma_frames(path, width=MOTION_WIDTH))
    return float(np.hypot(shifts[:, 0], shifts[:, 1]).mean())


def _box_mean(x: npt.NDArray[np.float64], size: int) -> npt.NDArray[np.float64]:
    """The mean over each ``size x size`` window (valid positions only), by an integral image."""
    s = np.pad(x, ((1, 0), (1, 0))).cumsum(axis=0).cumsum(axis=1)
    total: npt.NDArray[np.float64] = s[size:, size:] - s[:-size, size:] - s[size:, :-size] + s[:-size, :-size]
    return total / (size * size)


def ssim(a: Frames, b: Frames, *, window: int = 7) -> float:
    """Mean SSIM of two equally shaped stacks of 8-bit frames (frame by frame, then averaged)."""
    assert a.shape == b.shape, f"frames differ: {a.shape} vs {b.shape}"
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    n = window * window
    scores = []
    for fa, fb in zip(a, b, strict=True):
        x, y = fa.astype(np.float64), fb.astype(np.float64)
        mx, my = _box_mean(x, window), _box_mean(y, window)
        # sample (co)variances, as scikit-image computes them
        vx = (_box_mean(x * x, window) - mx * mx) * n / (n - 1)
        vy = (_box_mean(y * y, window) - my * my) * n / (n - 1)
        cxy = (_box_mean(x * y, window) - mx * my) * n / (n - 1)
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        scores.append(float(s.mean()))
    return float(np.mean(scores))
