"""exif.parse_exif on EXIF blocks built with Pillow: capture time and its offset, GPS signs and altitude,
camera strings, orientation, and junk that must be ignored rather than fail the photo."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from PIL import ExifTags, Image, TiffImagePlugin

from services.media_process.exif import ExifInfo, parse_exif


def _blob(
    ifd0: dict[int, Any] | None = None, sub: dict[int, Any] | None = None, gps: dict[int, Any] | None = None
) -> bytes:
    exif = Image.Exif()
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    if sub:
        exif.get_ifd(ExifTags.IFD.Exif).update(sub)
    if gps:
        exif.get_ifd(ExifTags.IFD.GPSInfo).update(gps)
    return exif.tobytes()


def _r(value: float) -> TiffImagePlugin.IFDRational:
    return TiffImagePlugin.IFDRational(value)


def test_capture_time_prefers_original_and_carries_its_offset() -> None:
    info = parse_exif(
        _blob(
            ifd0={0x0132: "2024:06:12 08:00:00"},
            sub={
                0x9003: "2024:06:10 18:12:00",
                0x9011: "+09:00",
                0x9004: "2024:06:11 00:00:00",
                0x9291: "45",
            },
        )
    )
    assert info.captured_at == dt.datetime(
        2024, 6, 10, 18, 12, 0, 450000, tzinfo=dt.timezone(dt.timedelta(hours=9))
    )
    assert info.utc_offset == "+09:00"


def test_capture_time_falls_back_to_digitized_then_datetime() -> None:
    info = parse_exif(
        _blob(
            ifd0={0x0132: "2024:06:12 08:00:00"},
            sub={0x9003: "0000:00:00 00:00:00", 0x9004: "2024:06:11 07:30:00", 0x9012: "-0330"},
        )
    )
    assert info.captured_at == dt.datetime(
        2024, 6, 11, 7, 30, tzinfo=dt.timezone(-dt.timedelta(hours=3, minutes=30))
    )
    assert info.utc_offset == "-03:30"
    info = parse_exif(_blob(ifd0={0x0132: "2024:06:12 08:00:00"}, sub={0x9010: "Z"}))  # bad offset: naive
    assert info.captured_at == dt.datetime(2024, 6, 12, 8, 0)
    assert info.captured_at.tzinfo is None and info.utc_offset is None


@pytest.mark.parametrize(
    "junk", ["", "    :  :     :  :  ", "2024:13:45 99:00:00", "yesterday", "2024:06:10"]
)
def test_unreadable_capture_times_are_ignored(junk: str) -> None:
    assert parse_exif(_blob(sub={0x9003: junk})).captured_at is None


def test_gps_signs_follow_the_references_and_altitude_below_sea_level() -> None:
    info = parse_exif(
        _blob(
            gps={
                1: "S",
                2: (_r(33), _r(51), _r(36)),
                3: "W",
                4: (_r(70), _r(30), _r(0)),
                5: b"\x01",
                6: _r(12.5),
            }
        )
    )
    assert info.gps is not None
    assert info.gps.lat == pytest.approx(-33.86)
    assert info.gps.lon == pytest.approx(-70.5)
    assert info.gps.altitude_m == pytest.approx(-12.5)


@pytest.mark.parametrize(
    "gps",
    [
        {1: "N", 2: (_r(0), _r(0), _r(0)), 3: "E", 4: (_r(0), _r(0), _r(0))},  # no fix written as 0,0
        {1: "N", 2: (_r(95), _r(0), _r(0)), 3: "E", 4: (_r(10), _r(0), _r(0))},  # not on Earth
        {1: "N", 2: (_r(45), _r(0), _r(0)), 9: "V"},  # no longitude; and "measurement void"
        {1: "N", 2: (_r(45), _r(0), _r(0)), 3: "E", 4: (_r(10), _r(0), _r(0)), 9: "V"},  # void
        {
            1: "N",
            2: (TiffImagePlugin.IFDRational(1, 0), _r(0), _r(0)),
            3: "E",
            4: (_r(10), _r(0), _r(0)),
        },  # x/0
        {0: b"\x02\x02\x00\x00"},  # a version and nothing else (Canon)
    ],
)
def test_unusable_gps_is_dropped(gps: dict[int, Any]) -> None:
    assert parse_exif(_blob(gps=gps)).gps is None


def test_strings_lose_nul_padding_and_blanks_and_orientation_is_kept_as_stored() -> None:
    info = parse_exif(
        _blob(
            ifd0={0x010F: "PENTAX Corporation \x00\x00", 0x0110: "   ", 0x0112: 6},
            sub={0xA434: "EF50mm f/1.8\x00junk"},
        )
    )
    assert info.make == "PENTAX Corporation"
    assert info.model is None
    assert info.lens == "EF50mm f/1.8"
    assert info.orientation == 6
    assert parse_exif(_blob(ifd0={0x0112: 9})).orientation is None


@pytest.mark.parametrize(
    "blob", [None, b"", b"Exif\x00\x00", b"Exif\x00\x00II*\x00\xff\xff\xff\x7f", b"\x00" * 40, b"garbage" * 9]
)
def test_malformed_blocks_give_empty_metadata(blob: bytes | None) -> None:
    assert parse_exif(blob) == ExifInfo()
