"""The render: ``Recommendations`` mapped to an ffmpeg filter graph (ffmpeg-python, no string gluing) and
run through ``shared.runtime.ffmpeg`` (whitelists, deadline, ``-progress``). See docs/video.md "Render".

The video chain, in order, each filter only when its recommendation is not neutral:

    [trim: input -ss/-t] -> vidstabtransform (pass 2 of 2) -> hqdn3d -> eq -> colorbalance -> unsharp
        -> format=yuv420p (even size)

- stabilisation is two passes: ``vidstabdetect`` over the (trimmed, upright) clip writes the transforms,
  then ``vidstabtransform`` applies them smoothed over ``smoothing`` frames (``optzoom`` crops the borders);
- the frames are upright because ffmpeg applies the display matrix when it filters (``autorotate``), and
  the output then carries no rotation: turning the frames AND keeping the matrix would turn it twice;
- audio is copied untouched, or re-encoded AAC when the clip is trimmed (a copy cannot cut between packets);
- the container's metadata is kept (``creation_time``, QuickTime location/make/model through
  ``use_metadata_tags``), H.264 ``preset``/``CRF``, yuv420p, ``+faststart``, the source's full frame rate
  and resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec

from services.video.analyse import Clip
from services.video.model import Recommendations
from shared.runtime import ffmpeg as tools

#: x264 quality: visually lossless for a phone clip at veryfast (the clean-clip test asks SSIM >= 0.95)
CRF = 20
AUDIO_BITRATE = "160k"
#: the share of the progress the stabilisation's first pass takes (it decodes but does not encode)
DETECT_SHARE = 0.3
#: vidstab smoothing (frames) at stabilise 0 and 1
SMOOTHING_MIN = 6
SMOOTHING_MAX = 30
#: hqdn3d luma spatial strength at denoise 1 (temporal is 1.5x it; chroma follows ffmpeg's defaults)
DENOISE_MAX = 6.0
#: unsharp luma amount at sharpen 1 (5x5 matrix)
SHARPEN_MAX = 1.2
#: the chroma shift (8-bit levels) at warmth / tint 1: a LUT on U and V (``lutyuv``), which costs next to
#: nothing, where ``colorbalance`` converts every frame to RGB and back (2-4x the whole render's time)
BALANCE_LEVELS = 20.0
#: recommendations closer than this to neutral are left out of the graph
EPSILON = 0.005
#: the thumbnail of the result: long side (pixels) and where it is taken
THUMBNAIL_PX = 400
THUMBNAIL_AT_S = 1.0

#: a test-only fault: turn the frames by hand with ``autorotate`` off, so the source's display matrix is
#: copied to the output too and players turn the clip a second time (tests/video shows it going red)
FAULT_ROTATE_TWICE = False


class Trim(msgspec.Struct, frozen=True, kw_only=True):
    """The part of the clip kept: from ``start_s`` for ``length_s`` seconds (None: to the end)."""

    start_s: float = 0.0
    length_s: float | None = None

    @property
    def active(self) -> bool:
        return self.start_s > 0 or self.length_s is not None


def trim_of(recs: Recommendations, clip: Clip) -> Trim:
    """The recommended trim, clamped to the clip; an empty or inverted trim keeps the whole clip."""
    start = min(max(recs.trim_in_s or 0.0, 0.0), clip.duration_s)
    end = min(recs.trim_out_s, clip.duration_s) if recs.trim_out_s is not None else clip.duration_s
    if end - start < 0.1:
        return Trim()
    length = end - start if end < clip.duration_s - 1e-3 else None
    return Trim(
        start_s=round(start, 3) if start > 1e-3 else 0.0, length_s=round(length, 3) if length else None
    )


def smoothing_of(recs: Recommendations) -> int:
    """vidstab's smoothing window (frames) for a stabilisation strength."""
    return round(SMOOTHING_MIN + (SMOOTHING_MAX - SMOOTHING_MIN) * recs.stabilise)


def describe(recs: Recommendations, clip: Clip) -> tuple[str, ...]:
    """The edits as a person reads them, one per filter in the graph, in its order."""
    out: list[str] = []
    trim = trim_of(recs, clip)
    if trim.active:
        end = trim.start_s + trim.length_s if trim.length_s is not None else clip.duration_s
        out.append(f"trim {trim.start_s:.2f}-{end:.2f} s")
    if recs.stabilise > EPSILON:
        out.append(f"vidstab smoothing={smoothing_of(recs)}")
    if recs.denoise > EPSILON:
        out.append(f"hqdn3d strength={recs.denoise * DENOISE_MAX:.1f}")
    eq = _eq_args(recs)
    if eq:
        out.append("eq " + " ".join(f"{k}={_signed(k, v)}" for k, v in eq.items()))
    balance = _balance_args(recs)
    if balance:
        out.append(f"colour balance warmth={recs.warmth:+.2f} tint={recs.tint:+.2f}")
    if recs.sharpen > EPSILON:
        out.append(f"unsharp amount={recs.sharpen * SHARPEN_MAX:.2f}")
    return tuple(out)


def _signed(key: str, value: float) -> str:
    return f"{value:+.2f}" if key == "brightness" else f"{value:.2f}"


def _eq_args(recs: Recommendations) -> dict[str, float]:
    args: dict[str, float] = {}
    if abs(recs.brightness) > EPSILON:
        args["brightness"] = round(recs.brightness, 4)
    if abs(recs.contrast - 1) > EPSILON:
        args["contrast"] = round(recs.contrast, 4)
    if abs(recs.gamma - 1) > EPSILON:
        args["gamma"] = round(recs.gamma, 4)
    if abs(recs.saturation - 1) > EPSILON:
        args["saturation"] = round(recs.saturation, 4)
    return args


def _balance_args(recs: Recommendations) -> dict[str, str]:
    """``lutyuv`` expressions: warmth moves V (red) up and U (blue) down; tint (magenta) moves both up."""
    if abs(recs.warmth) <= EPSILON and abs(recs.tint) <= EPSILON:
        return {}
    du = (recs.tint - recs.warmth) * BALANCE_LEVELS
    dv = (recs.tint + recs.warmth) * BALANCE_LEVELS
    return {"u": f"clip(val{du:+.2f},16,240)", "v": f"clip(val{dv:+.2f},16,240)"}


def _input(src: Path, clip: Clip, trim: Trim) -> Any:
    options: dict[str, Any] = {"autorotate": 0 if FAULT_ROTATE_TWICE else 1}
    if trim.start_s:
        options["ss"] = trim.start_s
    if trim.length_s is not None:
        options["t"] = trim.length_s
    return tools.safe_input(src, **options)


def _upright(stream: Any, clip: Clip) -> Any:
    """(The fault only) the frames turned by hand, as autorotate would."""
    if not FAULT_ROTATE_TWICE or clip.rotation == 0:
        return stream
    if clip.rotation == 90:
        return stream.filter("transpose", 1)
    if clip.rotation == 270:
        return stream.filter("transpose", 2)
    return stream.filter("hflip").filter("vflip")


def detect_node(src: Path, clip: Clip, recs: Recommendations, transforms: Path) -> Any:
    """Stabilisation pass 1: ``vidstabdetect`` over the clip as the render will see it."""
    trim = trim_of(recs, clip)
    video = _upright(_input(src, clip, trim)[str(clip.video_index)], clip)
    video = video.filter("vidstabdetect", result=str(transforms), shakiness=8, accuracy=9)
    return ffmpeg.output(video, "-", f="null", an=None, sn=None, dn=None)


def video_chain(stream: Any, clip: Clip, recs: Recommendations, transforms: Path | None) -> Any:
    """The filters of the recommendations, in the graph's order (the module docstring)."""
    stream = _upright(stream, clip)
    if recs.stabilise > EPSILON and transforms is not None:
        stream = stream.filter(
            "vidstabtransform",
            input=str(transforms),
            smoothing=smoothing_of(recs),
            optzoom=1,
            interpol="bicubic",
        )
    if recs.denoise > EPSILON:
        luma = recs.denoise * DENOISE_MAX
        stream = stream.filter("hqdn3d", luma_spatial=round(luma, 2), luma_tmp=round(luma * 1.5, 2))
    eq = _eq_args(recs)
    if eq:
        stream = stream.filter("eq", **eq)
    balance = _balance_args(recs)
    if balance:
        stream = stream.filter("lutyuv", **balance)
    if recs.sharpen > EPSILON:
        stream = stream.filter("unsharp", 5, 5, round(recs.sharpen * SHARPEN_MAX, 3))
    if clip.width % 2 or clip.height % 2:  # yuv420p needs an even size: drop the odd last row/column
        stream = stream.filter("crop", "trunc(iw/2)*2", "trunc(ih/2)*2", 0, 0)
    return stream.filter("format", "yuv420p")


def render_node(
    src: Path,
    clip: Clip,
    recs: Recommendations,
    out: Path,
    *,
    preset: str,
    transforms: Path | None = None,
    crf: int = CRF,
) -> Any:
    """The render's ffmpeg-python output node (pass 2 when stabilising, with ``transforms``)."""
    trim = trim_of(recs, clip)
    source = _input(src, clip, trim)
    streams = [video_chain(source[str(clip.video_index)], clip, recs, transforms)]
    audio: dict[str, Any] = {}
    if clip.has_audio:
        streams.append(source[str(clip.audio_index)])
        audio = {"acodec": "aac", "audio_bitrate": AUDIO_BITRATE} if trim.active else {"acodec": "copy"}
    return ffmpeg.output(
        *streams,
        str(out),
        vcodec="libx264",
        preset=preset,
        crf=crf,
        pix_fmt="yuv420p",
        movflags="+faststart+use_metadata_tags",
        map_metadata=0,
        max_muxing_queue_size=1024,
        sn=None,
        dn=None,
        f="mp4",
        **audio,
    )


def thumbnail_node(video: Path, out: Path, duration_s: float) -> Any:
    """A JPEG of the rendered clip (upright already) at 1 s (the first frame of a short clip),
    ``THUMBNAIL_PX`` long side."""
    seek = {"ss": THUMBNAIL_AT_S} if duration_s >= 2 * THUMBNAIL_AT_S else {}
    stream = tools.safe_input(video, **seek).video.filter(
        "scale",
        f"min({THUMBNAIL_PX},iw)",
        f"min({THUMBNAIL_PX},ih)",
        force_original_aspect_ratio="decrease",
    )
    return ffmpeg.output(stream, str(out), vframes=1, an=None, sn=None, dn=None, f="image2", **{"q:v": 3})


class RenderError(Exception):
    """An ffmpeg run of the render failed (ffmpeg's own failure on a readable file: retried)."""


def render(
    src: Path,
    clip: Clip,
    recs: Recommendations,
    *,
    out: Path,
    thumbnail: Path,
    preset: str,
    timeout_s: float,
    on_progress: Callable[[float], None] | None = None,
) -> None:
    """Render ``src`` with ``recs`` to ``out`` (and its thumbnail). ``on_progress``: the fraction done,
    0..1, from the thread reading ffmpeg's progress. Raises ``RenderError``, ``ToolError``."""
    trim = trim_of(recs, clip)
    length = trim.length_s if trim.length_s is not None else clip.duration_s - trim.start_s
    report = on_progress or (lambda _: None)
    transforms: Path | None = None
    share = 0.0
    work = out.parent
    try:
        if recs.stabilise > EPSILON:
            transforms = work / (out.stem + ".trf")
            share = DETECT_SHARE
            run = tools.run_ffmpeg_progress(
                detect_node(src, clip, recs, transforms),
                timeout_s,
                lambda s: report(min(1.0, s / length) * share),
            )
            _check(run, [transforms])
        partial = work / (out.stem + ".part.mp4")
        partial.unlink(missing_ok=True)
        run = tools.run_ffmpeg_progress(
            render_node(src, clip, recs, partial, preset=preset, transforms=transforms),
            timeout_s,
            lambda s: report(share + min(1.0, s / length) * (1 - share)),
        )
        _check(run, [partial])
        partial.replace(out)
        thumbnail.unlink(missing_ok=True)
        run = tools.run_ffmpeg(thumbnail_node(out, thumbnail, length), timeout_s)
        _check(run, [thumbnail])
        report(1.0)
    finally:
        if transforms is not None:
            transforms.unlink(missing_ok=True)
        (work / (out.stem + ".part.mp4")).unlink(missing_ok=True)


def _check(run: tools.ToolRun, outputs: list[Path]) -> None:
    run.raise_for_invocation(outputs=outputs)
    if not run.ok or not all(o.is_file() and o.stat().st_size > 0 for o in outputs):
        raise RenderError(run.describe())
