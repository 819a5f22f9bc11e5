"""Metadata values as photos' EXIF (``exif``) and videos' container tags (``video``) give them: text,
numbers, UTC offsets and positions, read by the same rules for both. A malformed value is None, never an
error for the file.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from shared.events import catalogue as c

#: longest text kept from a metadata field (make, model, lens ...)
MAX_TEXT = 200
#: altitudes outside this range (metres) are junk, not places
_ALTITUDE_RANGE = (-20_000.0, 100_000.0)


def text(value: Any) -> str | None:
    """A string (or bytes: UTF-8, else Latin-1) up to its first NUL, printable characters only, without
    blanks at either end, at most ``MAX_TEXT`` characters; None when nothing is left or it is no string."""
    if isinstance(value, bytes | bytearray):
        raw = bytes(value).split(b"\x00", 1)[0]
        try:
            value = raw.decode("utf-8")
        except UnicodeDecodeError:
            value = raw.decode("latin-1")
    if not isinstance(value, str):
        return None
    value = value.split("\x00", 1)[0]
    value = "".join(ch for ch in value if ch.isprintable()).strip()
    return value[:MAX_TEXT] or None


def number(value: Any) -> float | None:
    """A finite float from a number, a numeric string or a Pillow ``IFDRational``; None otherwise (booleans
    too)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value)  # IFDRational, int and float all convert; x/0 becomes nan
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def offset_text(offset: dt.timedelta) -> str:
    """A UTC offset as ``MediaMetadata.utc_offset`` gives it: ``+09:00``, ``-05:30``."""
    total = int(offset.total_seconds()) // 60
    sign = "-" if total < 0 else "+"
    hours, minutes = divmod(abs(total), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def geo_point(lat: float, lon: float, altitude_m: float | None = None) -> c.GeoPoint | None:
    """A position in signed decimal degrees; None when it is not on Earth or is exactly (0, 0), "null
    island", what receivers without a fix write. An altitude out of range is dropped (the point is kept)."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    if lat == 0.0 and lon == 0.0:
        return None
    low, high = _ALTITUDE_RANGE
    altitude = round(altitude_m, 2) if altitude_m is not None and low <= altitude_m <= high else None
    return c.GeoPoint(lat=round(lat, 7), lon=round(lon, 7), altitude_m=altitude)
