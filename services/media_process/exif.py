"""What a photo's EXIF block says about it: capture time, place, camera, orientation.

Input is the raw EXIF block (``exif-data`` from the libvips header, or the ``Exif\\0\\0``-prefixed APP1
payload), parsed with Pillow's structured reader (header bytes only, no pixels). Cameras write all sorts of
junk, so every field is read on its own and a malformed value is dropped, never an error for the file: a
photo with broken EXIF is still a photo.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import ExifTags, Image

from services.media_process import values
from shared.events import catalogue as c

# IFD0 (TIFF) tags
_MAKE = 0x010F
_MODEL = 0x0110
_ORIENTATION = 0x0112
_DATETIME = 0x0132
# Exif sub-IFD tags
_DATETIME_ORIGINAL = 0x9003
_DATETIME_DIGITIZED = 0x9004
_OFFSET_TIME = 0x9010
_OFFSET_TIME_ORIGINAL = 0x9011
_OFFSET_TIME_DIGITIZED = 0x9012
_SUBSEC_TIME = 0x9290
_SUBSEC_TIME_ORIGINAL = 0x9291
_SUBSEC_TIME_DIGITIZED = 0x9292
_LENS_MODEL = 0xA434
# GPS sub-IFD tags
_GPS_LAT_REF = 1
_GPS_LAT = 2
_GPS_LON_REF = 3
_GPS_LON = 4
_GPS_ALT_REF = 5
_GPS_ALT = 6
_GPS_STATUS = 9

#: (date/time tag, its offset tag, its sub-second tag), in the order they are trusted
_CAPTURE_TAGS = (
    (_DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL, _SUBSEC_TIME_ORIGINAL),
    (_DATETIME_DIGITIZED, _OFFSET_TIME_DIGITIZED, _SUBSEC_TIME_DIGITIZED),
    (_DATETIME, _OFFSET_TIME, _SUBSEC_TIME),
)

_DATETIME_RE = re.compile(
    r"^\s*(\d{4})[:\-](\d{1,2})[:\-](\d{1,2})[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?(?:[.,](\d+))?\s*"
    r"(Z|[+-]\d{2}:?\d{2})?\s*$"
)
_OFFSET_RE = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class ExifInfo:
    """The fields of ``MediaMetadata`` that come from EXIF (dimensions come from the decoder)."""

    captured_at: dt.datetime | None = None
    utc_offset: str | None = None
    gps: c.GeoPoint | None = None
    make: str | None = None
    model: str | None = None
    lens: str | None = None
    orientation: int | None = None


def parse_exif(blob: bytes | None) -> ExifInfo:
    """Everything readable in an EXIF block; an empty ``ExifInfo`` for no block or an unreadable one."""
    if not blob:
        return ExifInfo()
    exif = Image.Exif()
    try:
        exif.load(blob)
    except Exception:  # Pillow raises a zoo of types on malformed TIFF structures
        return ExifInfo()
    return read_exif(exif)


def read_exif(exif: Image.Exif) -> ExifInfo:
    """The fields of a loaded ``PIL.Image.Exif`` (also what ``Image.open(...).getexif()`` returns)."""
    ifd0: Mapping[int, Any] = _safe_mapping(lambda: dict(exif.items()))
    sub: Mapping[int, Any] = _safe_mapping(lambda: exif.get_ifd(ExifTags.IFD.Exif))
    gps: Mapping[int, Any] = _safe_mapping(lambda: exif.get_ifd(ExifTags.IFD.GPSInfo))

    captured_at, utc_offset = _capture_time(ifd0, sub)
    return ExifInfo(
        captured_at=captured_at,
        utc_offset=utc_offset,
        gps=_gps(gps),
        make=values.text(ifd0.get(_MAKE)),
        model=values.text(ifd0.get(_MODEL)),
        lens=values.text(sub.get(_LENS_MODEL)),
        orientation=_orientation(ifd0.get(_ORIENTATION)),
    )


def _safe_mapping(get: Any) -> Mapping[int, Any]:
    try:
        value = get()
    except Exception:
        return {}
    return value if isinstance(value, Mapping) else {}


# --------------------------------------------------------------------------- orientation
def _orientation(value: Any) -> int | None:
    if isinstance(value, tuple | list) and value:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return None


# --------------------------------------------------------------------------- capture time
def _capture_time(ifd0: Mapping[int, Any], sub: Mapping[int, Any]) -> tuple[dt.datetime | None, str | None]:
    """DateTimeOriginal, else DateTimeDigitized, else DateTime; aware when its OffsetTime* is known."""
    for time_tag, offset_tag, subsec_tag in _CAPTURE_TAGS:
        # some writers put the Exif-IFD tags into IFD0; accept them there too
        raw = sub.get(time_tag) if time_tag in sub else ifd0.get(time_tag)
        parsed = _parse_datetime(values.text(raw))
        if parsed is None:
            continue
        when, inline_offset = parsed
        micro = _subsec(values.text(sub.get(subsec_tag)))
        if micro is not None and when.microsecond == 0:
            when = when.replace(microsecond=micro)
        offset = _parse_offset(values.text(sub.get(offset_tag))) or inline_offset
        if offset is None:
            return when, None
        return when.replace(tzinfo=dt.timezone(offset)), values.offset_text(offset)
    return None, None


def _parse_datetime(text: str | None) -> tuple[dt.datetime, dt.timedelta | None] | None:
    if not text:
        return None
    m = _DATETIME_RE.match(text)
    if m is None:
        return None
    year, month, day, hour, minute = (int(g) for g in m.group(1, 2, 3, 4, 5))
    second = int(m.group(6) or 0)
    fraction = m.group(7)
    micro = int((fraction + "000000")[:6]) if fraction else 0
    if year < 1800:  # "0000:00:00 00:00:00" and friends: the camera's clock was never set
        return None
    try:
        when = dt.datetime(year, month, day, hour, minute, min(second, 59), micro)
    except ValueError:
        return None
    zone = m.group(8)
    offset = dt.timedelta(0) if zone == "Z" else _parse_offset(zone)
    return when, offset


def _parse_offset(text: str | None) -> dt.timedelta | None:
    """``"+09:00"`` (or ``"+0900"``) as a timedelta; None for blanks and impossible offsets."""
    if not text:
        return None
    m = _OFFSET_RE.match(text)
    if m is None:
        return None
    hours, minutes = int(m.group(2)), int(m.group(3))
    if minutes >= 60 or hours > 14 or (hours == 14 and minutes):
        return None
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return -delta if m.group(1) == "-" else delta


def _subsec(text: str | None) -> int | None:
    if not text:
        return None
    digits = text.strip()
    if not digits.isdigit():
        return None
    return int((digits + "000000")[:6])


# --------------------------------------------------------------------------- GPS
def _gps(gps: Mapping[int, Any]) -> c.GeoPoint | None:
    """Signed decimal degrees from the GPS IFD; None when absent, void or not on Earth."""
    if not gps:
        return None
    status = values.text(gps.get(_GPS_STATUS))
    if status is not None and status.upper() == "V":  # "measurement void": the receiver had no fix
        return None
    lat = _degrees(gps.get(_GPS_LAT))
    lon = _degrees(gps.get(_GPS_LON))
    if lat is None or lon is None:
        return None
    if _ref(gps.get(_GPS_LAT_REF)) == "S":
        lat = -lat
    if _ref(gps.get(_GPS_LON_REF)) == "W":
        lon = -lon
    return values.geo_point(lat, lon, _altitude(gps))  # None off Earth and at (0, 0)


def _degrees(value: Any) -> float | None:
    """(degrees, minutes, seconds) rationals, or a single decimal-degree value."""
    if isinstance(value, tuple | list):
        parts = [values.number(v) for v in value[:3]]
        if not parts or any(p is None or p < 0 for p in parts):
            return None
        weights = (1.0, 60.0, 3600.0)
        total = sum(p / w for p, w in zip(parts, weights, strict=False) if p is not None)
    else:
        number = values.number(value)
        if number is None:
            return None
        total = abs(number)
    return total if math.isfinite(total) else None


def _altitude(gps: Mapping[int, Any]) -> float | None:
    """Metres above sea level (negative below it); ``values.geo_point`` drops one out of range."""
    alt = values.number(gps.get(_GPS_ALT))
    if alt is None:
        return None
    ref = gps.get(_GPS_ALT_REF)
    if isinstance(ref, bytes | bytearray):
        ref = ref[0] if ref else 0
    if isinstance(ref, tuple | list):
        ref = ref[0] if ref else 0
    if ref == 1:  # below sea level
        alt = -abs(alt)
    return alt


def _ref(value: Any) -> str | None:
    text = values.text(value)
    return text[:1].upper() if text else None
