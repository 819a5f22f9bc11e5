"""One video: validated, described, thumbnailed, measured and given a small preview.

``process_video`` runs ffprobe once and ffmpeg twice (thumbnail; preview and signals from one decode), each
through ``ffmpeg_tools``: file protocol and the sniffed containers' demuxers only, a time limit, no stdin.
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

A rejected file raises ``Rejected(code, sentence)``: a tool that fails or overruns its time limit on this
file rejects it with a sentence that says so. ``ffmpeg_tools.ToolError`` (a missing ffmpeg, a command line
it refuses, an unwritable work dir) is a fault of this side, not the file's, and is raised as is so the
message is retried. Every file written goes into ``workdir``; on return only ``preview.mp4`` is left there
(nothing on rejection).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec

from services.media_process import ffmpeg_tools as tools
from services.media_process import isobmff, values
from services.media_process.model import Limits, Rejected, VideoResult
from services.media_process.sniff import HEAD_BYTES, sniff
from shared.events import catalogue as c

log = logging.getLogger("shoebox.media_process.video")

THUMBNAIL_NAME = "thumbnail.jpg"
PREVIEW_NAME = "preview.mp4"
_THUMBNAIL_AT_S = 1.0
#: clips shorter than this get their first frame as the thumbnail
_SHORT_CLIP_S = 1.2
_PREVIEW_CODEC = "libx264"
_PREVIEW_MAX_FPS = 30

_SIGNAL_WIDTH = 160
_SIGNAL_SAMPLES = 40
_MIN_KEYFRAME_SAMPLES = 4
_SIGNAL_FPS = 2.0
#: a frame whose 10th..90th percentile luma range is below this (of 0..1) is flat
_UNIFORM_RANGE = 0.06
#: a frame whose 90th percentile luma is below this is black
_BLACK_LEVEL = 0.08
#: dates before this in a container are placeholders (1904 and 1970 epochs), not capture times
_EARLIEST_CAPTURE = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)

#: ffmpeg's names for the demuxers ffmpeg_tools.INPUT_FORMATS allows (format_name is a comma list)
_VIDEO_DEMUXERS = set(tools.INPUT_FORMATS.split(","))


class VideoStream(msgspec.Struct, frozen=True, kw_only=True):
    """The video track that is described, thumbnailed and previewed."""

    index: int
    codec: str | None
    width: int  # as stored
    height: int
    display_width: int  # after the sample aspect ratio and the rotation
    display_height: int
    rotation: int  # clockwise degrees to display: 0, 90, 180 or 270
    square_pixels: bool


class Probed(msgspec.Struct, frozen=True, kw_only=True):
    """What ffprobe said, reduced to what the steps after it need."""

    stream: VideoStream
    has_audio: bool
    duration_s: float | None
    metadata: c.MediaMetadata


class BoxScan(msgspec.Struct, frozen=True, kw_only=True):
    """The box structure of an MP4/MOV file, from its box headers and its ``moov``."""

    encrypted: bool = False
    truncated: bool = False
    has_moov: bool = False


def process_video(path: Path, media_type: str, limits: Limits, workdir: Path) -> VideoResult:
    """Validate, describe, thumbnail, measure and preview one video.

    Raises ``Rejected`` when the file is refused, ``ffmpeg_tools.ToolError`` when ffmpeg/ffprobe cannot be
    run or cannot write to ``workdir``, and ``OSError`` when ``path`` cannot be read.
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
        raise Rejected("unsupported_type", _NOT_A_VIDEO)

    scan = scan_isobmff(path) if _is_isobmff(head) else BoxScan()
    if scan.encrypted:
        raise Rejected("encrypted", _ENCRYPTED)
    if scan.truncated:
        raise Rejected("truncated", _TRUNCATED)

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


_NOT_A_VIDEO = "The file is not a video container Shoebox reads."
_ENCRYPTED = "The video is encrypted (DRM or Common Encryption), so its frames cannot be read."
_TRUNCATED = (
    "The video file ends before its data does: it looks cut short, like an incomplete copy or upload."
)
_UNDECODABLE = (
    "No frame of the video could be decoded: the file is damaged or uses a format Shoebox cannot read."
)


# --- 1. box structure --------------------------------------------------------------------------------

_ISOBMFF_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp", b"sidx", b"uuid"}
#: boxes whose payload is a list of boxes, on the way to the sample entries and pssh
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts", b"udta"}
#: protected sample entries (ISO/IEC 14496-12 8.12, 23001-7) and Apple FairPlay's
_PROTECTED_ENTRIES = {b"encv", b"enca", b"enct", b"encs", b"encm", b"encf", b"drmi", b"drms"}
_MAX_MOOV_BYTES = 64 * 1024 * 1024


def _is_isobmff(head: bytes) -> bool:
    return head[4:8] in _ISOBMFF_TOP


def scan_isobmff(path: Path) -> BoxScan:
    """Walk the top-level boxes of an MP4/MOV: encryption (sample entries, ``pssh``) and truncation.

    Reads 8 or 16 bytes per top-level box plus the ``moov`` (and the first few ``moof``) payload, never
    ``mdat``. A box header that is not a box (size below its header) ends the walk without a verdict:
    ffprobe judges such files (``isobmff.TopLevel``).
    """
    encrypted = has_moov = False
    fragments = 0
    with path.open("rb") as f:
        walk = isobmff.TopLevel(f, path.stat().st_size)
        for box in walk:
            if box.kind == b"moov" or (box.kind == b"moof" and fragments < 4):
                has_moov = has_moov or box.kind == b"moov"
                fragments += box.kind == b"moof"
                if box.payload_len <= _MAX_MOOV_BYTES:
                    f.seek(box.payload_start)
                    encrypted = encrypted or any(_protected(f.read(box.payload_len)))
            elif box.kind == b"pssh":
                encrypted = True
    return BoxScan(encrypted=encrypted, truncated=walk.truncated, has_moov=has_moov)


def _protected(data: bytes) -> Iterator[bool]:
    """True for each protected sample entry or ``pssh`` box under these boxes."""
    for kind, body in isobmff.child_boxes(data):
        if kind == b"pssh":
            yield True
        elif kind in _CONTAINERS:
            yield from _protected(body)
        elif kind == b"stsd" and len(body) >= 8:  # version/flags, entry count, sample entries
            yield from (entry in _PROTECTED_ENTRIES for entry, _ in isobmff.child_boxes(body[8:]))


# --- 2. probe and metadata ---------------------------------------------------------------------------


def probe_video(path: Path, limits: Limits, scan: BoxScan | None = None) -> Probed:
    """ffprobe the file and pick its video track; raise ``Rejected`` when it has none or cannot be read."""
    run, data = tools.probe(path, limits.probe_timeout_s)
    if run.timed_out:
        raise Rejected(
            "undecodable",
            f"Reading the video's header took longer than {limits.probe_timeout_s:g} s, so it was given up.",
        )
    if data is None:
        run.raise_for_invocation()
        log.info("ffprobe refused the file: %s", run.describe())
        if "not on whitelist" in run.stderr:
            raise Rejected("unsupported_type", _NOT_A_VIDEO)
        if "moov atom not found" in run.stderr and not (scan and scan.has_moov):
            raise Rejected(
                "truncated",
                "The video has no index (its 'moov' box is missing): the file was cut short "
                "or never finished recording.",
            )
        raise Rejected("undecodable", "The video's container is damaged, so the file cannot be read.")
    return describe(data)


def describe(data: Mapping[str, Any]) -> Probed:
    """``Probed`` from ffprobe's ``-show_format -show_streams`` JSON; ``Rejected`` when unusable."""
    fmt = data.get("format") or {}
    streams = [s for s in data.get("streams") or [] if isinstance(s, dict)]
    if not set(str(fmt.get("format_name", "")).split(",")) & _VIDEO_DEMUXERS:
        raise Rejected("unsupported_type", _NOT_A_VIDEO)
    if any(
        side.get("side_data_type") == "Encryption initialization data"
        for s in streams
        for side in s.get("side_data_list") or []
    ):
        raise Rejected("encrypted", _ENCRYPTED)
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not videos:
        what = "only audio" if any(s.get("codec_type") == "audio" for s in streams) else "no video track"
        raise Rejected("unsupported_type", f"The file has {what}: there is no video in it to show.")
    main = next((s for s in videos if (s.get("disposition") or {}).get("default")), videos[0])
    width, height = _int(main.get("width")), _int(main.get("height"))
    if not width or not height or width <= 0 or height <= 0:
        raise Rejected("undecodable", "The video track does not say how large its frames are.")

    rotation = rotation_of(main)
    sar = _ratio(main.get("sample_aspect_ratio"))
    square = sar is None or math.isclose(sar, 1.0)
    display_w = width if square or sar is None else max(1, round(width * sar))
    display_h = height
    if rotation in (90, 270):
        display_w, display_h = display_h, display_w
    stream = VideoStream(
        index=_int(main.get("index")) or 0,
        codec=values.text(main.get("codec_name")),
        width=width,
        height=height,
        display_width=display_w,
        display_height=display_h,
        rotation=rotation,
        square_pixels=square,
    )
    duration = _positive(fmt.get("duration")) or _positive(main.get("duration"))
    tags = _Tags(fmt, main, streams)
    captured_at, utc_offset = capture_time(tags)
    metadata = c.MediaMetadata(
        captured_at=captured_at,
        utc_offset=utc_offset,
        gps=iso6709(tags.first("com.apple.quicktime.location.iso6709", "location", "location-eng")),
        make=tags.first("com.apple.quicktime.make", "com.android.manufacturer", "make", "manufacturer"),
        model=tags.first("com.apple.quicktime.model", "com.android.model", "model"),
        lens=tags.first("com.apple.quicktime.camera.lens_model"),
        width=display_w,
        height=display_h,
        duration_s=round(duration, 3) if duration else None,
        codec=stream.codec,
        fps=frame_rate(main),
        rotation=rotation,
    )
    has_audio = any(s.get("codec_type") == "audio" for s in streams)
    return Probed(stream=stream, has_audio=has_audio, duration_s=duration, metadata=metadata)


def rotation_of(stream: Mapping[str, Any]) -> int:
    """Clockwise degrees (0, 90, 180, 270) to turn the stored frame to display it.

    ffprobe gives the display matrix's angle counter-clockwise (an iPhone portrait clip says -90); older
    files and ffmpeg versions carry a ``rotate`` tag, clockwise.
    """
    for side in stream.get("side_data_list") or []:
        if side.get("side_data_type") == "Display Matrix" and side.get("rotation") is not None:
            degrees = values.number(side.get("rotation"))
            if degrees is not None:
                return _quarter(-degrees)
    tag = values.number((stream.get("tags") or {}).get("rotate"))
    return _quarter(tag) if tag is not None else 0


def _quarter(degrees: float) -> int:
    return round(degrees / 90.0) * 90 % 360


def frame_rate(stream: Mapping[str, Any]) -> float | None:
    """Frames per second from ``avg_frame_rate``, else ``r_frame_rate`` (``0/0`` means unknown)."""
    for key in ("avg_frame_rate", "r_frame_rate"):
        fps = _ratio(stream.get(key))
        if fps is not None and 0 < fps <= 1000:
            return round(fps, 3)
    return None


class _Tags:
    """Container tags first, then the video track's, then any track's; keys compared in lower case."""

    def __init__(
        self, fmt: Mapping[str, Any], main: Mapping[str, Any], streams: list[dict[str, Any]]
    ) -> None:
        sources = [fmt, main, *streams]
        self._maps = [{str(k).lower(): v for k, v in (s.get("tags") or {}).items()} for s in sources]

    def first(self, *keys: str) -> str | None:
        for key in keys:
            for tags in self._maps:
                value = values.text(tags.get(key))
                if value:
                    return value
        return None


def capture_time(tags: _Tags) -> tuple[dt.datetime | None, str | None]:
    """When the clip was shot, and the UTC offset where that is known.

    Apple's ``com.apple.quicktime.creationdate`` is local time with its offset. ``creation_time`` (the
    container's, else a track's) is UTC, so the result is aware UTC with no known local offset. ffmpeg
    remuxes can repeat it (``2024-06-10T18:12:00Z;2024-06-10T18:12:00Z``): the first value counts.
    Placeholder dates (1904, 1970) are ignored.
    """
    apple = _parse_time(tags.first("com.apple.quicktime.creationdate"))
    if apple is not None:
        offset = apple.utcoffset()
        return apple, values.offset_text(offset) if offset is not None else None
    created = _parse_time(tags.first("creation_time"))
    if created is not None:
        created = created.replace(tzinfo=dt.UTC) if created.tzinfo is None else created.astimezone(dt.UTC)
        return created, None
    return None, None


_COLON_DATE = re.compile(r"^(\d{4}):(\d{2}):(\d{2})")


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    text = _COLON_DATE.sub(r"\1-\2-\3", value.split(";")[0].strip())
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    aware = when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)
    return when if aware >= _EARLIEST_CAPTURE else None


_ISO6709 = re.compile(
    r"^\s*(?P<lat>[+-]\d+(?:\.\d*)?)(?P<lon>[+-]\d+(?:\.\d*)?)(?P<alt>[+-]\d+(?:\.\d*)?)?(?:CRS[^/]*)?/?\s*$"
)


def iso6709(value: str | None) -> c.GeoPoint | None:
    """A point from an ISO 6709 string: ``+54.5447-003.0169+092.000/`` (degrees, or DDMM / DDMMSS forms)."""
    if not value:
        return None
    m = _ISO6709.match(value)
    if not m:
        return None
    lat = _sexagesimal(m["lat"], 2)
    lon = _sexagesimal(m["lon"], 3)
    if lat is None or lon is None:
        return None
    return values.geo_point(lat, lon, values.number(m["alt"]))  # None off Earth and at (0, 0)


def _sexagesimal(text: str, degree_digits: int) -> float | None:
    sign = -1.0 if text[0] == "-" else 1.0
    whole, _, fraction = text[1:].partition(".")
    frac = float("0." + fraction) if fraction else 0.0
    n = len(whole)
    if n == degree_digits:  # DD.DDDD
        return sign * (int(whole) + frac)
    if n == degree_digits + 2:  # DDMM.MMMM
        return sign * (int(whole[:degree_digits]) + (int(whole[degree_digits:]) + frac) / 60)
    if n == degree_digits + 4:  # DDMMSS.SSSS
        d, mi, s = whole[:degree_digits], whole[degree_digits : degree_digits + 2], whole[degree_digits + 2 :]
        return sign * (int(d) + int(mi) / 60 + (int(s) + frac) / 3600)
    return None


# --- 3. thumbnail ------------------------------------------------------------------------------------


def make_thumbnail(path: Path, probed: Probed, limits: Limits, workdir: Path) -> bytes:
    """JPEG of the frame at 1 s (the first frame of a short clip), upright, fit into the thumbnail box."""
    out = workdir / THUMBNAIL_NAME
    short = probed.duration_s is not None and probed.duration_s < _SHORT_CLIP_S
    attempts = [None] if short else [_THUMBNAIL_AT_S, None]
    runs: list[tools.ToolRun] = []
    for at in attempts:
        out.unlink(missing_ok=True)
        run = tools.run_ffmpeg(_thumbnail_node(path, probed, limits, out, at), limits.ffmpeg_timeout_s)
        runs.append(run)
        if run.timed_out:
            out.unlink(missing_ok=True)
            raise Rejected(
                "undecodable",
                f"Decoding a frame of the video took longer than {limits.ffmpeg_timeout_s:g} s, so it was "
                "given up.",
            )
        if run.ok and out.is_file() and out.stat().st_size > 0:
            data = out.read_bytes()
            out.unlink()
            return data
    out.unlink(missing_ok=True)
    runs[-1].raise_for_invocation(outputs=[out])
    log.info("no frame decoded: %s", runs[-1].describe())
    if any("partial file" in r.stderr for r in runs):
        raise Rejected("truncated", _TRUNCATED)
    raise Rejected("undecodable", _UNDECODABLE)


def _thumbnail_node(path: Path, probed: Probed, limits: Limits, out: Path, at: float | None) -> Any:
    seek = {"ss": at} if at is not None else {}
    # -autorotate is ffmpeg's default; said explicitly because the thumbnail depends on it
    stream = tools.safe_input(path, autorotate=1, **seek)[str(probed.stream.index)]
    stream = _square_pixels(stream, probed)
    box = limits.thumbnail_px
    stream = stream.filter(
        "scale", f"min({box},iw)", f"min({box},ih)", force_original_aspect_ratio="decrease"
    )
    return ffmpeg.output(stream, str(out), vframes=1, an=None, sn=None, dn=None, **{"q:v": 3})


def _square_pixels(stream: Any, probed: Probed) -> Any:
    """Anamorphic video (non-square pixels) stretched to its display aspect before any other scaling."""
    if probed.stream.square_pixels:
        return stream
    return stream.filter("scale", "round(iw*sar)", "ih").filter("setsar", 1)


# --- 4. preview and signals --------------------------------------------------------------------------


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
    decoded = _square_pixels(source[str(probed.stream.index)], probed).split()
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
        vcodec=_PREVIEW_CODEC,
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
        raise Rejected("undecodable", _UNDECODABLE)
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


# --- helpers -----------------------------------------------------------------------------------------


def _int(value: Any) -> int | None:
    number = values.number(value)
    return int(number) if number is not None else None


def _positive(value: Any) -> float | None:
    number = values.number(value)
    return number if number is not None and number > 0 else None


def _ratio(value: Any) -> float | None:
    """``30000/1001`` or ``8:9`` as a number; None for ``0/0``, ``N/A`` and other non-answers."""
    if value is None:
        return None
    num, sep, den = str(value).replace(":", "/").partition("/")
    n, d = values.number(num), values.number(den) if sep else 1.0
    if n is None or d is None or n <= 0 or d <= 0:
        return None
    return n / d


def _duration_text(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    return f"{minutes} min {secs} s" if secs else f"{minutes} min"
