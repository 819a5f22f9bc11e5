"""Probe and metadata: ffprobe's answer reduced to the video track, its size and rotation, and the clip's
capture time, place and camera."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from services.media_process import values
from services.media_process.model import Limits, Rejected
from services.media_process.video.boxes import BoxScan
from services.media_process.video.reasons import ENCRYPTED, NOT_A_VIDEO
from shared.events import catalogue as c
from shared.runtime import ffmpeg as tools

log = logging.getLogger("shoebox.media_process.video")  # one logger for the whole video pipeline

#: dates before this in a container are placeholders (1904 and 1970 epochs), not capture times
_EARLIEST_CAPTURE = dt.datetime(1980, 1, 1, tzinfo=dt.UTC)

#: ffmpeg's names for the demuxers shared.runtime.ffmpeg.INPUT_FORMATS allows (format_name is a comma list)
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
            raise Rejected("unsupported_type", NOT_A_VIDEO)
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
        raise Rejected("unsupported_type", NOT_A_VIDEO)
    if any(
        side.get("side_data_type") == "Encryption initialization data"
        for s in streams
        for side in s.get("side_data_list") or []
    ):
        raise Rejected("encrypted", ENCRYPTED)
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
