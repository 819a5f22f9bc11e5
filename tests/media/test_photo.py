"""process_photo on every photo under ../shared/testdata and on generated files: what each file becomes
(processed, or rejected with which reason), its metadata, upright sRGB thumbnails, the conversion rule, the
quality signals, shrink-on-load, and hostile input (bombs, truncation, junk).

Each test-data file is processed once per module (``outcomes``); the 12 MP JPEG is generated once per session.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import shutil
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pillow_heif
import psutil
import pytest
import pyvips
import simplejpeg
from PIL import Image

from services.media_process import photo
from services.media_process.exif import parse_exif
from services.media_process.model import Limits, PhotoResult, Rejected
from services.media_process.photo.decode import jpeg_shrink, load_for_signals
from services.media_process.photo.header import read_header
from services.media_process.photo.pixels import pixels_in_memory, thumbnail_jpeg, upright
from services.media_process.photo.signals import signals_of
from services.media_process.sniff import sniff
from tests.support.paths import TESTDATA

PHOTOS = TESTDATA / "photos"
LIMITS = Limits()
NO_CONVERT = Limits(convert_long_side_px=100_000)

#: what each file under testdata/photos must become, and why
EXPECTED: dict[str, str] = {
    # an Olympus JPEG whose entropy-coded data is overwritten ~200 KB in (a run of 0xFF bytes, then bytes that
    # are no JPEG stream: libjpeg "premature end of data segment", "found marker 0xd1 instead of RST5"). The
    # file does end with an EOI marker and is 1.9 MB long, so it is damaged, not cut short.
    "broken/corrupted.jpg": "undecodable",
    # exif-samples' "jpg/invalid/image00971.jpg" and "image01088.jpg": "invalid" there means invalid EXIF for
    # EXIF parsers (they carry only a 35 KB XMP packet, no EXIF block). As images they are flawless baseline
    # JPEGs (636x227 and 425x120 ad banners) that libjpeg decodes without a single warning, even with
    # fail_on=warning, so they are photos we process (with empty camera metadata), not files we reject.
    "broken/invalid_00971.jpg": "processed",
    "broken/invalid_01088.jpg": "processed",
}


def _media_type(path: Path) -> str:
    sniffed = sniff(path.read_bytes()[:4096])
    assert sniffed is not None and sniffed.kind == "photo", path
    return sniffed.media_type


Outcome = PhotoResult | Rejected


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    """Every photo under testdata/photos, processed once: relative path -> result or rejection."""
    done: dict[str, Outcome] = {}
    for path in sorted(p for p in PHOTOS.rglob("*") if p.is_file()):
        name = path.relative_to(PHOTOS).as_posix()
        try:
            done[name] = photo.process_photo(path, _media_type(path), LIMITS)
        except Rejected as rejected:
            done[name] = rejected
    return done


def _result(outcomes: dict[str, Outcome], name: str) -> PhotoResult:
    outcome = outcomes[name]
    assert isinstance(outcome, PhotoResult), (name, outcome)
    return outcome


def _image(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


def _mean_abs_diff(a: pyvips.Image, b: pyvips.Image) -> float:
    return float((a.cast("float") - b.cast("float")).abs().avg())


# ----------------------------------------------------------------------------------------- test data
def test_every_testdata_photo_is_processed_or_rejected_for_its_reason(outcomes: dict[str, Outcome]) -> None:
    assert len(outcomes) >= 38
    for name, outcome in outcomes.items():
        want = EXPECTED.get(name, "processed")
        got = outcome.code if isinstance(outcome, Rejected) else "processed"
        assert got == want, (name, outcome)


def test_the_damaged_jpeg_says_what_is_wrong_in_plain_words(outcomes: dict[str, Outcome]) -> None:
    rejected = outcomes["broken/corrupted.jpg"]
    assert isinstance(rejected, Rejected)
    assert rejected.message.startswith("The JPEG image data is damaged and cannot be decoded")
    assert "Corrupt JPEG data" in rejected.message
    assert "unable to call" not in rejected.message and "unable to copy" not in rejected.message
    assert str(PHOTOS) not in rejected.message  # no paths of ours in a sentence for people


def test_every_processed_photo_has_a_thumbnail_and_finite_signals(outcomes: dict[str, Outcome]) -> None:
    for name, outcome in outcomes.items():
        if isinstance(outcome, Rejected):
            continue
        thumb = _image(outcome.thumbnail)
        assert thumb.get("vips-loader") == "jpegload_buffer", name
        assert (thumb.bands, thumb.interpretation) == (3, "srgb"), name
        assert outcome.metadata.width and outcome.metadata.height
        long_side = max(outcome.metadata.width, outcome.metadata.height)
        assert max(thumb.width, thumb.height) == min(400, long_side), name
        # same shape as the photo as displayed
        assert abs(thumb.width / thumb.height - outcome.metadata.width / outcome.metadata.height) < 0.02, name
        assert thumb.get_typeof("exif-data") == 0 and thumb.get_typeof("icc-profile-data") == 0, name
        s = outcome.signals
        for value in (s.sharpness, s.exposure_mean, s.shadows_clipped, s.highlights_clipped, s.colour_cast):
            assert math.isfinite(value) and value >= 0, (name, s)
        assert 0 <= s.exposure_mean <= 1 and 0 <= s.shadows_clipped <= 1 and 0 <= s.highlights_clipped <= 1
        assert len(s.phash) == 16 and int(s.phash, 16) >= 0
        msgspec.json.encode(outcome.metadata)  # fits the event


@pytest.mark.parametrize("shape", ["landscape", "portrait"])
def test_all_eight_exif_orientations_give_the_same_upright_thumbnail(
    outcomes: dict[str, Outcome], shape: str
) -> None:
    reference = _image(_result(outcomes, f"orientation/{shape}_1.jpg").thumbnail)
    assert (reference.width, reference.height) == ((400, 300) if shape == "landscape" else (300, 400))
    for i in range(1, 9):
        result = _result(outcomes, f"orientation/{shape}_{i}.jpg")
        thumb = _image(result.thumbnail)
        assert (thumb.width, thumb.height) == (reference.width, reference.height), (shape, i)
        # upright copies differ by JPEG noise only (~4 levels); a mirrored or turned one by 40-50
        diff = _mean_abs_diff(thumb, reference)
        assert diff < 10, f"{shape}_{i}.jpg is not upright (mean abs diff {diff:.1f})"
        assert result.metadata.orientation == i
        assert (result.metadata.width, result.metadata.height) == (
            (600, 450) if shape == "landscape" else (450, 600)
        )


def test_gps_and_capture_time_are_read_from_the_gps_set(outcomes: dict[str, Outcome]) -> None:
    for path in sorted((PHOTOS / "gps").iterdir()):
        meta = _result(outcomes, f"gps/{path.name}").metadata
        assert meta.gps is not None, path.name
        assert 43.4 < meta.gps.lat < 43.5 and 11.8 < meta.gps.lon < 11.9, (path.name, meta.gps)  # Tuscany
        assert meta.captured_at is not None and meta.captured_at.tzinfo is None  # no offset in these files
        assert meta.captured_at.date() == dt.date(2008, 10, 22), path.name
        assert (meta.make, meta.model) == ("NIKON", "COOLPIX P6000")
    meta = _result(outcomes, "gps/DSCN0010.jpg").metadata
    # 43° 28' 2.814" N, 11° 53' 6.456" E (checked with Pillow's GPS IFD)
    assert meta.gps is not None
    assert meta.gps.lat == pytest.approx(43 + 28 / 60 + 2.814 / 3600, abs=1e-6)
    assert meta.gps.lon == pytest.approx(11 + 53 / 60 + 6.456 / 3600, abs=1e-6)
    assert meta.gps.altitude_m is None  # the file has an altitude reference but no altitude
    assert meta.captured_at == dt.datetime(2008, 10, 22, 16, 28, 39)  # DateTimeOriginal, not DateTime
    assert meta.utc_offset is None


@pytest.mark.parametrize(
    ("name", "make", "model", "captured"),
    [
        ("Canon_40D.jpg", "Canon", "Canon EOS 40D", dt.datetime(2008, 5, 30, 15, 56, 1)),
        ("Konica_Minolta_DiMAGE_Z3.jpg", "KONICA MINOLTA", "DiMAGE Z3", dt.datetime(2005, 3, 10, 15, 10, 48)),
        ("Nikon_D70.jpg", "NIKON CORPORATION", "NIKON D70", dt.datetime(2008, 3, 15, 9, 52, 1)),
        ("Panasonic_DMC-FZ30.jpg", "Panasonic", "DMC-FZ30", dt.datetime(2008, 7, 16, 11, 33, 20)),
        ("Pentax_K10D.jpg", "PENTAX Corporation", "PENTAX K10D", dt.datetime(2008, 5, 4, 16, 47, 24)),
        (
            "Samsung_Digimax_i50_MP3.jpg",
            "Samsung Techwin",
            "<Digimax i50 MP3, Samsung #1 MP3>",
            dt.datetime(2006, 8, 15, 17, 50, 57),  # DateTimeOriginal, not DateTime (2008-07-31 19:03:37)
        ),
        ("canon_hdr_NO.jpg", "Canon", "Canon PowerShot SX60 HS", dt.datetime(2015, 2, 9, 22, 47, 44)),
        ("jolla.jpg", "Jolla", "Jolla", dt.datetime(2014, 9, 21, 16, 0, 56)),  # DateTimeOriginal only
    ],
)
def test_camera_make_model_and_capture_time(
    outcomes: dict[str, Outcome], name: str, make: str, model: str, captured: dt.datetime
) -> None:
    meta = _result(outcomes, f"cameras/{name}").metadata
    assert (meta.make, meta.model) == (make, model)  # NUL padding and trailing blanks stripped
    assert meta.captured_at == captured


def test_a_rotated_camera_jpeg_reports_displayed_dimensions(outcomes: dict[str, Outcome]) -> None:
    result = _result(outcomes, "cameras/canon_hdr_NO.jpg")  # stored 2048x1536 with Orientation 6
    assert result.metadata.orientation == 6
    assert (result.metadata.width, result.metadata.height) == (1536, 2048)
    assert (_image(result.thumbnail).width, _image(result.thumbnail).height) == (300, 400)


def test_the_reported_orientation_agrees_with_the_displayed_dimensions(outcomes: dict[str, Outcome]) -> None:
    """Orientations 5-8 (and only those) swap the stored width and height, whatever file they come from;
    HEIC/HEIF/AVIF are left out: their container turns them and their EXIF tag is reported as stored."""
    checked = 0
    for name, outcome in outcomes.items():
        if isinstance(outcome, Rejected) or outcome.media_type in ("image/heic", "image/heif", "image/avif"):
            continue
        stored = pyvips.Image.new_from_file(str(PHOTOS / name))
        meta = outcome.metadata
        swapped = meta.orientation in (5, 6, 7, 8)
        assert (meta.width, meta.height) == (
            (stored.height, stored.width) if swapped else (stored.width, stored.height)
        ), (name, meta.orientation)
        thumb = _image(outcome.thumbnail)
        assert (thumb.width > thumb.height) == (meta.width > meta.height), name
        checked += 1
    assert checked >= 35


def _exif_with_orientation(kind: int, value: bytes) -> bytes:
    """An APP1 EXIF payload whose IFD0 holds Make and an Orientation entry of TIFF type ``kind``."""
    entries = [
        struct.pack("<HHI", 0x010F, 2, 4) + b"ABC\x00",  # Make, ASCII
        struct.pack("<HHI", 0x0112, kind, 1) + value.ljust(4, b"\x00"),  # Orientation
    ]
    ifd0 = struct.pack("<H", len(entries)) + b"".join(entries) + struct.pack("<I", 0)
    return b"Exif\x00\x00II*\x00" + struct.pack("<I", 8) + ifd0


def test_the_orientation_reported_is_the_one_applied_where_the_exif_readers_disagree(tmp_path: Path) -> None:
    """Orientation 6 written as a BYTE rather than a SHORT: libvips reads 6 and turns the image, Pillow's
    reader gives no orientation. The event reports what was applied, with the dimensions as displayed."""
    path = tmp_path / "byte-orientation.jpg"
    pixels = _gradient_noise(600, 450).write_to_memory()
    # Pillow writes the EXIF block byte for byte (libvips would rewrite it)
    Image.frombytes("RGB", (600, 450), pixels).save(
        path, "JPEG", quality=90, exif=_exif_with_orientation(1, b"\x06")
    )
    header = read_header(path, "image/jpeg")
    assert header.orientation == 6
    assert parse_exif(header.exif).orientation is None  # the readers do disagree
    result = photo.process_photo(path, "image/jpeg", LIMITS)
    assert result.metadata.make == "ABC"
    assert result.metadata.orientation == 6
    assert (result.metadata.width, result.metadata.height) == (450, 600)
    thumb = _image(result.thumbnail)
    assert (thumb.width, thumb.height) == (300, 400)
    # turned: the gradient's red channel grows along the stored x axis, which is displayed top to bottom
    assert thumb.crop(0, 0, 300, 40)[0].avg() < 60 < 190 < thumb.crop(0, 360, 300, 40)[0].avg()


def test_iphone_heic_is_processed_with_metadata_thumbnail_and_a_jpeg_copy(
    outcomes: dict[str, Outcome],
) -> None:
    result = _result(outcomes, "heic/IMG_5195.HEIC")
    meta = result.metadata
    assert result.media_type == "image/heic"
    assert (meta.make, meta.model) == ("Apple", "iPhone 11 Pro Max")
    assert meta.lens == "iPhone 11 Pro Max back triple camera 4.25mm f/1.8"
    assert meta.captured_at == dt.datetime(
        2021, 4, 11, 15, 47, 53, 54000, tzinfo=dt.timezone(dt.timedelta(hours=-5))
    )
    assert meta.utc_offset == "-05:00"
    assert meta.gps is not None
    assert meta.gps.lat == pytest.approx(39 + 3 / 60 + 4.84 / 3600, abs=1e-6)
    assert meta.gps.lon == pytest.approx(-(94 + 17 / 60 + 19.58 / 3600), abs=1e-6)
    assert meta.gps.altitude_m == pytest.approx(260.56, abs=0.01)
    # a portrait as the container shows it (a rotated, cropped tile grid); looked at: the flower is upright
    assert (meta.width, meta.height) == (2566, 3313)
    thumb = _image(result.thumbnail)
    assert (thumb.width, thumb.height) == (310, 400)
    assert result.converted is not None
    converted = _image(result.converted)
    assert converted.get("vips-loader") == "jpegload_buffer"
    assert (converted.width, converted.height) == (1586, 2048)  # long side capped, never width-only
    assert converted.get_typeof("exif-data") == 0
    # the thumbnail and the converted copy show the same picture
    assert _mean_abs_diff(converted.thumbnail_image(400), thumb) < 6


def test_small_heif_is_converted_without_upscaling(outcomes: dict[str, Outcome]) -> None:
    result = _result(outcomes, "heic/samplefilehub.heif")
    assert (result.metadata.width, result.metadata.height) == (640, 426)
    assert result.converted is not None
    assert (_image(result.converted).width, _image(result.converted).height) == (640, 426)
    assert (_image(result.thumbnail).width, _image(result.thumbnail).height) == (400, 266)


def test_a_heif_libvips_refuses_is_read_by_libheif_which_opens_it_once(
    outcomes: dict[str, Outcome], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = PHOTOS / "heic" / "IMG_5195.HEIC"
    real_new_from_file, real_open_heif = pyvips.Image.new_from_file, pillow_heif.open_heif
    opened: list[str] = []

    def refuse(name: str, **kwargs: Any) -> pyvips.Image:
        if name == str(path):
            raise pyvips.Error("heifload: refused by the test")
        return real_new_from_file(name, **kwargs)

    def open_heif(fp: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(fp))
        return real_open_heif(fp, *args, **kwargs)

    monkeypatch.setattr(pyvips.Image, "new_from_file", staticmethod(refuse))
    monkeypatch.setattr(pillow_heif, "open_heif", open_heif)
    result = photo.process_photo(path, "image/heic", LIMITS)
    assert opened == [str(path)]
    expected = _result(outcomes, "heic/IMG_5195.HEIC")
    assert (result.metadata, result.signals) == (expected.metadata, expected.signals)


def test_web_photos_below_the_size_limit_get_no_converted_copy(outcomes: dict[str, Outcome]) -> None:
    result = _result(outcomes, "gps/DSCN0010.jpg")
    assert result.converted is None
    assert _result(outcomes, "cameras/jolla.jpg").converted is not None  # 3264 px > 2048


# ----------------------------------------------------------------------------------------- generated
def _gradient_noise(width: int, height: int, sigma: float = 12.0) -> pyvips.Image:
    xy = pyvips.Image.xyz(width, height)
    grad = (xy[0] * (255 / width)).bandjoin(
        [xy[1] * (255 / height), (xy[0] + xy[1]) * (127 / (width + height)) + 64]
    )
    return (
        (grad + pyvips.Image.gaussnoise(width, height, sigma=sigma, mean=0, seed=7))
        .cast("uchar")
        .copy(interpretation="srgb")
    )


@pytest.fixture(scope="session")
def jpeg_12mp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4032x3024 JPEG (gradient + noise, 4 MB), like a phone photo."""
    path = tmp_path_factory.mktemp("photo12") / "12mp.jpg"
    _gradient_noise(4032, 3024).jpegsave(str(path), Q=90)
    return path


@pytest.fixture(scope="session")
def jpeg_12mp_rotated(jpeg_12mp: Path) -> Path:
    """The same pixels stored 4032x3024 with EXIF Orientation 6: a portrait 3024x4032 as displayed."""
    path = jpeg_12mp.with_name("12mp_o6.jpg")
    image = pyvips.Image.new_from_file(str(jpeg_12mp)).copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    image.jpegsave(str(path), Q=90)
    return path


@pytest.fixture(scope="session")
def jpeg_odd_size(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2019 x 1513 JPEG: decoded at 1/2, libjpeg makes 1010 x 757 and libvips keeps 1009 x 756."""
    path = tmp_path_factory.mktemp("photo_odd") / "odd.jpg"
    _gradient_noise(2019, 1513).jpegsave(str(path), Q=90)
    return path


class _PixelSpy:
    """Records the size of every image any libvips operation (or a copy to memory) is applied to."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.touched: list[tuple[str, int, int]] = []
        self.loads: list[tuple[str, dict[str, Any]]] = []
        real_call = pyvips.Operation.call

        def call(name: str, *args: Any, **kwargs: Any) -> Any:
            for arg in args:
                for image in arg if isinstance(arg, list) else [arg]:
                    if isinstance(image, pyvips.Image):
                        self.touched.append((name, image.width, image.height))
            if name.startswith("VipsForeignLoad") or name.endswith("load") or name == "thumbnail":
                self.loads.append((name, dict(kwargs)))
            return real_call(name, *args, **kwargs)

        monkeypatch.setattr(pyvips.Operation, "call", staticmethod(call))
        for method in ("copy_memory", "write_to_memory"):
            monkeypatch.setattr(pyvips.Image, method, self._spy_method(method, getattr(pyvips.Image, method)))

    def _spy_method(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def spied(image: pyvips.Image, *args: Any, **kwargs: Any) -> Any:
            self.touched.append((name, image.width, image.height))
            return real(image, *args, **kwargs)

        return spied


class _DecodeSpy:
    """Records the shape of every array simplejpeg decodes; with ``decline``, refuses every file instead (as
    it does a damaged one), so libvips' loader takes over."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, decline: bool = False) -> None:
        self.shapes: list[tuple[int, ...]] = []
        real = simplejpeg.decode_jpeg

        def decode(data: Any, *args: Any, **kwargs: Any) -> Any:
            if decline:
                raise ValueError("Corrupt JPEG data: declined by the test")
            pixels = real(data, *args, **kwargs)
            self.shapes.append(pixels.shape)
            return pixels

        monkeypatch.setattr(simplejpeg, "decode_jpeg", decode)


def _full_size(spy: _PixelSpy) -> list[tuple[str, int, int]]:
    return [t for t in spy.touched if t[1] * t[2] > 4032 * 3024 // 4]


def test_a_12mp_jpeg_is_not_fully_decoded_to_make_its_thumbnail_and_signals(
    jpeg_12mp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = read_header(jpeg_12mp, "image/jpeg")
    assert (header.width, header.height) == (4032, 3024)
    decodes = _DecodeSpy(monkeypatch)
    spy = _PixelSpy(monkeypatch)
    result = photo.process_photo(jpeg_12mp, "image/jpeg", NO_CONVERT)
    assert (result.metadata.width, result.metadata.height) == (4032, 3024)
    # ONE decode, and libjpeg-turbo scaled it in the DCT domain: the array it gave back is 1/4 of the photo
    # (a full decode, or one at 1/2 resampled afterwards, would show here as 3024 x 4032 or 1512 x 2016)
    assert decodes.shapes == [(756, 1008, 3)]
    # No libvips operation ever saw a full-resolution image: the only image of that size is the header the
    # loader opened (sequential, pixels never read), and no libvips loader decoded the pixels
    assert _full_size(spy) == [], _full_size(spy)
    assert not any("shrink" in kwargs for _, kwargs in spy.loads), spy.loads
    assert max(_image(result.thumbnail).width, _image(result.thumbnail).height) == 400


@pytest.mark.parametrize("name", ["jpeg_12mp", "jpeg_12mp_rotated", "jpeg_odd_size"])
def test_where_simplejpeg_declines_libvips_decodes_at_the_same_scale_to_the_same_pixels(
    name: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    path: Path = request.getfixturevalue(name)
    header = read_header(path, "image/jpeg")
    fast = load_for_signals(path, "image/jpeg", header, LIMITS.signal_px)

    _DecodeSpy(monkeypatch, decline=True)
    spy = _PixelSpy(monkeypatch)
    slow = load_for_signals(path, "image/jpeg", header, LIMITS.signal_px)
    shrink = jpeg_shrink(max(header.width, header.height), LIMITS.signal_px)
    assert shrink in (2, 4)
    assert any(kwargs.get("shrink") == shrink for _, kwargs in spy.loads), spy.loads  # jpegload shrink=n
    assert _full_size(spy) == [], _full_size(spy)
    # the same libjpeg-turbo IDCT and upsampling in both, and the size rounded down as libvips does
    assert (fast.image.width, fast.image.height) == (slow.image.width, slow.image.height)
    assert fast.pixels.tobytes() == slow.pixels.tobytes()
    assert signals_of(fast) == signals_of(slow)


def test_a_12mp_portrait_is_converted_on_its_long_side(jpeg_12mp_rotated: Path) -> None:
    result = photo.process_photo(jpeg_12mp_rotated, "image/jpeg", LIMITS)
    assert (result.metadata.width, result.metadata.height) == (3024, 4032)
    assert result.metadata.orientation == 6
    assert result.converted is not None
    converted = _image(result.converted)
    assert converted.get("vips-loader") == "jpegload_buffer"
    assert (converted.width, converted.height) == (
        1536,
        2048,
    )  # not 2048x2731 (the reference's width-only rule)
    assert converted.get_typeof("exif-data") == 0  # upright pixels, no orientation tag left to re-apply
    thumb = _image(result.thumbnail)
    assert (thumb.width, thumb.height) == (300, 400)
    # upright: the gradient's red channel grows along the stored x axis, which is displayed top to bottom
    top, bottom = thumb.crop(0, 0, 300, 40)[0].avg(), thumb.crop(0, 360, 300, 40)[0].avg()
    assert top < 60 < 190 < bottom


@pytest.mark.parametrize(
    ("save", "media_type", "converted"),
    [
        (lambda im, p: im.pngsave(p), "image/png", False),
        (lambda im, p: im.webpsave(p, Q=90), "image/webp", False),
        (lambda im, p: im.gifsave(p), "image/gif", True),
        (lambda im, p: im.tiffsave(p, compression="deflate"), "image/tiff", True),
        (lambda im, p: im.heifsave(p, compression="av1", effort=0, Q=60), "image/avif", True),
    ],
    ids=["png", "webp", "gif", "tiff", "avif"],
)
def test_other_formats_are_read_and_non_web_ones_converted(
    tmp_path: Path, save: Callable[[pyvips.Image, str], None], media_type: str, converted: bool
) -> None:
    path = tmp_path / "photo"
    save(_gradient_noise(640, 480, sigma=4), str(path))
    assert _media_type(path) == media_type
    result = photo.process_photo(path, media_type, LIMITS)
    assert (result.metadata.width, result.metadata.height) == (640, 480)
    assert (_image(result.thumbnail).width, _image(result.thumbnail).height) == (400, 300)
    assert (result.converted is not None) == converted
    if result.converted is not None:
        assert (_image(result.converted).width, _image(result.converted).height) == (640, 480)


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff", "avif"])
def test_exif_and_orientation_in_other_containers(
    outcomes: dict[str, Outcome], tmp_path: Path, fmt: str
) -> None:
    """The Canon photo (stored landscape, EXIF Orientation 6) re-saved by libvips in other formats."""
    source = pyvips.Image.new_from_file(str(PHOTOS / "cameras" / "canon_hdr_NO.jpg")).resize(0.25)
    path = tmp_path / "canon"
    savers: dict[str, Callable[[str], None]] = {
        "png": source.pngsave,
        "webp": source.webpsave,
        "tiff": source.tiffsave,  # libvips writes the orientation tag, no EXIF IFD
        "avif": lambda p: source.heifsave(p, compression="av1", effort=0),  # rotates the pixels itself
    }
    savers[fmt](str(path))
    result = photo.process_photo(path, _media_type(path), LIMITS)
    assert (result.metadata.width, result.metadata.height) == (384, 512)
    assert result.metadata.orientation == 6
    if fmt != "tiff":
        assert (result.metadata.make, result.metadata.model) == ("Canon", "Canon PowerShot SX60 HS")
        assert result.metadata.captured_at == dt.datetime(2015, 2, 9, 22, 47, 44)
    reference = _image(_result(outcomes, "cameras/canon_hdr_NO.jpg").thumbnail)
    thumb = _image(result.thumbnail)
    assert (thumb.width, thumb.height) == (300, 400)
    assert _mean_abs_diff(thumb, reference) < 6  # upright, like the JPEG's


def test_colour_is_converted_to_srgb(tmp_path: Path) -> None:
    red = pyvips.Image.black(600, 400).new_from_image([255, 0, 0]).copy(interpretation="srgb")
    # Display P3 pixels (what iPhones write) with their profile: pure sRGB red is (234, 51, 34) in P3
    p3 = tmp_path / "p3.jpg"
    red.icc_transform("p3", input_profile="srgb").jpegsave(str(p3), Q=95)
    # CMYK with no profile, 16-bit RGB with a half-transparent alpha, 8-bit grey
    cmyk = tmp_path / "cmyk.jpg"
    red.icc_transform("cmyk", input_profile="srgb").jpegsave(str(cmyk), Q=95, keep=0)
    rgba16 = tmp_path / "rgba16.png"
    (red.cast("ushort") * 257).bandjoin(32768).copy(interpretation="rgb16").pngsave(str(rgba16))
    grey = tmp_path / "grey.png"
    (pyvips.Image.black(600, 400) + 100).cast("uchar").copy(interpretation="b-w").pngsave(str(grey))

    def centre(path: Path) -> list[float]:
        thumb = _image(photo.process_photo(path, _media_type(path), LIMITS).thumbnail)
        assert (thumb.bands, thumb.interpretation, thumb.format) == (3, "srgb", "uchar")
        return [float(v) for v in thumb(200, 130)]

    r, g, b = centre(p3)
    assert r > 245 and g < 15 and b < 20  # back to sRGB red, not the P3 numbers taken as sRGB
    r, g, b = centre(cmyk)
    assert r > 200 and g < 60 and b < 70
    r, g, b = centre(rgba16)
    assert r > 250 and 110 < g < 145 and 110 < b < 145  # half red on white
    assert len(set(centre(grey))) == 1


# ----------------------------------------------------------------------------------------- signals
def _processed_copy(
    tmp_path: Path, source: Path, name: str, edit: Callable[[pyvips.Image], pyvips.Image]
) -> PhotoResult:
    path = tmp_path / name
    edit(pyvips.Image.new_from_file(str(source), autorotate=True)).jpegsave(str(path), Q=92)
    return photo.process_photo(path, "image/jpeg", LIMITS)


@pytest.mark.parametrize(
    "name", ["cameras/canon_hdr_NO.jpg", "cameras/jolla.jpg", "orientation/landscape_1.jpg"]
)
def test_sharpness_exposure_and_phash_respond_to_edits(
    outcomes: dict[str, Outcome], tmp_path: Path, name: str
) -> None:
    original = _result(outcomes, name).signals
    blurred = _processed_copy(tmp_path, PHOTOS / name, "blur.jpg", lambda im: im.gaussblur(4)).signals
    assert blurred.sharpness < 0.3 * original.sharpness, (original, blurred)

    dark = _processed_copy(tmp_path, PHOTOS / name, "dark.jpg", lambda im: (im * 0.35).cast("uchar")).signals
    assert dark.exposure_mean < 0.5 * original.exposure_mean
    # the normalised sharpness barely notices exposure (plain Laplacian variance would drop ~8x)
    assert 0.5 < dark.sharpness / original.sharpness < 2.0, (original, dark)

    def near_duplicate(im: pyvips.Image) -> pyvips.Image:
        dx, dy = int(im.width * 0.015), int(im.height * 0.015)
        return (
            im.crop(dx, dy, im.width - 2 * dx, im.height - 2 * dy).resize(0.75).linear(1.06, 4).cast("uchar")
        )

    near = _processed_copy(tmp_path, PHOTOS / name, "near.jpg", near_duplicate).signals
    assert photo.phash_distance(original.phash, near.phash) <= 10
    for other in (blurred, dark):
        assert photo.phash_distance(original.phash, other.phash) <= 10


def test_different_photos_have_distant_phashes(outcomes: dict[str, Outcome]) -> None:
    names = [
        "cameras/jolla.jpg",
        "cameras/canon_hdr_NO.jpg",
        "cameras/Nikon_D70.jpg",
        "orientation/landscape_1.jpg",
        "orientation/portrait_1.jpg",
        "gps/DSCN0010.jpg",
        "gps/DSCN0040.jpg",
        "heic/IMG_5195.HEIC",
        "heic/samplefilehub.heif",
        "broken/invalid_00971.jpg",
    ]
    hashes = {n: _result(outcomes, n).signals.phash for n in names}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert photo.phash_distance(hashes[a], hashes[b]) >= 16, (a, b)
    # the HDR pair is one scene shot twice: closer than strangers, further than a re-encode
    same_scene = photo.phash_distance(
        _result(outcomes, "cameras/canon_hdr_NO.jpg").signals.phash,
        _result(outcomes, "cameras/canon_hdr_YES.jpg").signals.phash,
    )
    assert 4 <= same_scene <= 20


@pytest.mark.parametrize("orientation", range(2, 9))
def test_signals_and_thumbnail_of_a_stored_orientation_match_the_turned_image(orientation: int) -> None:
    """A JPEG's working image is kept as stored and its orientation applied to what is made from it; the
    result must be what the turned image gives."""
    xy = pyvips.Image.xyz(1008, 756)
    stored = (_gradient_noise(1008, 756, sigma=20) + (xy[0] * xy[1] % 97)).cast("uchar")
    stored = stored.copy(interpretation="srgb")
    deferred = pixels_in_memory(stored, orientation)
    turned = pixels_in_memory(upright(stored, orientation).copy_memory())
    assert (turned.image.width, turned.image.height) == ((756, 1008) if orientation >= 5 else (1008, 756))
    ours, theirs = signals_of(deferred), signals_of(turned)
    assert ours.phash == theirs.phash
    for field in ("sharpness", "exposure_mean", "shadows_clipped", "highlights_clipped"):
        assert getattr(ours, field) == pytest.approx(getattr(theirs, field), rel=1e-6), field
    # the upright image's blocks; a quarter turn box-shrinks rows and columns in the other order
    assert ours.colour_cast == pytest.approx(theirs.colour_cast, abs=0 if orientation < 5 else 0.01)
    ours_thumb = _image(thumbnail_jpeg(deferred, 400))
    theirs_thumb = _image(thumbnail_jpeg(turned, 400))
    assert (ours_thumb.width, ours_thumb.height) == (theirs_thumb.width, theirs_thumb.height)
    # turned after the resize: identical for flips, ~1.4 levels apart for a quarter turn (libvips' row and
    # column reducers round differently); a mirrored or wrongly turned thumbnail is ~40 levels off
    assert _mean_abs_diff(ours_thumb, theirs_thumb) < (0.5 if orientation < 5 else 2.5)


def test_exposure_clipping_and_colour_cast_on_known_pixels() -> None:
    half = pyvips.Image.black(512, 512).insert(pyvips.Image.black(256, 512) + 255, 256, 0)
    grey = half.bandjoin([half, half]).cast("uchar").copy(interpretation="srgb")
    s = photo.compute_signals(grey)
    assert s.exposure_mean == pytest.approx(0.5, abs=0.01)
    assert s.shadows_clipped == pytest.approx(0.5, abs=0.01)
    assert s.highlights_clipped == pytest.approx(0.5, abs=0.01)
    assert s.colour_cast < 1

    flat = pyvips.Image.black(512, 512).new_from_image([128, 128, 128]).copy(interpretation="srgb")
    s = photo.compute_signals(flat)
    assert s.sharpness == 0 and s.shadows_clipped == 0 and s.highlights_clipped == 0
    assert s.exposure_mean == pytest.approx(128 / 255, abs=0.005)

    warm = pyvips.Image.black(512, 512).new_from_image([200, 150, 90]).copy(interpretation="srgb")
    assert photo.compute_signals(warm).colour_cast > 25


def test_luma_percentiles_contrast_and_noise_on_known_pixels() -> None:
    # a ramp of 256 columns, one per level: the 1st and 99th percentiles are levels 2 and 253
    ramp = pyvips.Image.identity().resize(2, kernel="nearest", vscale=512)
    ramp = ramp.bandjoin([ramp, ramp]).cast("uchar").copy(interpretation="srgb")
    s = photo.compute_signals(ramp)
    assert (s.luma_p1, s.luma_p99) == (2 / 255, 253 / 255)
    assert s.luma_std == pytest.approx(255 / 255 / 12**0.5, abs=0.005)  # a uniform spread of 0..255
    assert s.noise is not None and s.noise < 0.002  # a smooth ramp has no noise

    # flat grey plus white noise of σ 10 levels: the noise measures σ, and the frame's spread is the noise
    noise = pyvips.Image.gaussnoise(512, 512, sigma=10, mean=128, seed=7)
    noisy = noise.bandjoin([noise, noise]).cast("uchar").copy(interpretation="srgb")
    s = photo.compute_signals(noisy)
    assert s.noise == pytest.approx(10 / 255, rel=0.05)
    assert s.luma_std == pytest.approx(10 / 255, rel=0.05)
    assert s.luma_p1 is not None and s.luma_p99 is not None
    assert s.luma_p1 == pytest.approx((128 - 23.3) / 255, abs=0.01)  # mean ∓ 2.33 σ
    assert s.luma_p99 == pytest.approx((128 + 23.3) / 255, abs=0.01)


# ----------------------------------------------------------------------------------------- hostile
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _forged_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height, with one compressed row of data (~200 bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + width * 3), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _rejected(path: Path, media_type: str, limits: Limits = LIMITS) -> Rejected:
    with pytest.raises(Rejected) as caught:
        photo.process_photo(path, media_type, limits)
    assert caught.value.message and str(path) not in caught.value.message
    return caught.value


def test_a_50000_by_50000_png_is_rejected_from_its_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_forged_png(50_000, 50_000))
    assert path.stat().st_size < 1000
    spy = _PixelSpy(monkeypatch)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    rejected = _rejected(path, "image/png")
    assert rejected.code == "too_many_pixels"
    assert "50,000 x 50,000" in rejected.message and "200 megapixels" in rejected.message
    # the header was opened, and nothing was done with its pixels: no operation, no copy to memory
    assert [name for name, _ in spy.loads] == ["VipsForeignLoadPngFile"], spy.loads
    assert spy.touched == [], spy.touched
    assert process.memory_info().rss - rss_before < 200 * 1024 * 1024  # 7.5 GB if it were decoded


def test_a_jpeg_claiming_65000_by_65000_pixels_is_rejected_from_its_header(tmp_path: Path) -> None:
    data = bytearray(_gradient_noise(64, 48).jpegsave_buffer(Q=80))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width
    path = tmp_path / "bomb.jpg"
    path.write_bytes(bytes(data))
    assert _rejected(path, "image/jpeg").code == "too_many_pixels"


def test_the_pixel_limit_comes_from_the_limits() -> None:
    path = PHOTOS / "gps" / "DSCN0010.jpg"  # 640x480
    assert _rejected(path, "image/jpeg", Limits(max_pixels=640 * 480 - 1)).code == "too_many_pixels"
    photo.process_photo(path, "image/jpeg", Limits(max_pixels=640 * 480))


def test_empty_oversized_and_non_photo_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert _rejected(empty, "image/jpeg").code == "empty"
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo\n" * 10)
    assert _rejected(text, "image/jpeg").code == "unsupported_type"
    assert _rejected(PHOTOS / "gps" / "DSCN0010.jpg", "video/mp4").code == "unsupported_type"
    big = _rejected(PHOTOS / "gps" / "DSCN0010.jpg", "image/jpeg", Limits(max_photo_bytes=100_000))
    assert big.code == "too_large"


def _truncation_offsets(size: int, rng: random.Random, count: int) -> Iterator[int]:
    yield from (2, 20, 200)
    yield from sorted(rng.randrange(200, size - 1) for _ in range(count))


@pytest.mark.parametrize("fmt", ["jpeg", "progressive-jpeg", "png", "webp", "gif", "tiff", "avif", "heic"])
def test_a_file_cut_off_anywhere_is_rejected_as_truncated(tmp_path: Path, fmt: str) -> None:
    source = tmp_path / "source"
    image = _gradient_noise(320, 240, sigma=8)
    savers: dict[str, Callable[[], object]] = {
        "jpeg": lambda: image.jpegsave(str(source), Q=90),
        "progressive-jpeg": lambda: image.jpegsave(str(source), Q=90, interlace=True),
        "png": lambda: image.pngsave(str(source)),
        "webp": lambda: image.webpsave(str(source)),
        "gif": lambda: image.gifsave(str(source)),
        "tiff": lambda: image.tiffsave(str(source)),
        "avif": lambda: image.heifsave(str(source), compression="av1", effort=0),
        "heic": lambda: shutil.copyfile(PHOTOS / "heic" / "IMG_5195.HEIC", source),
    }
    savers[fmt]()
    data = source.read_bytes()
    media_type = _media_type(source)
    rng = random.Random(fmt)
    cut = tmp_path / "cut"
    checked = 0
    for offset in _truncation_offsets(len(data), rng, 12):
        cut.write_bytes(data[:offset])
        sniffed = sniff(data[: min(offset, 4096)])
        if sniffed is None:  # too short to be recognised at all: the handler rejects it before us
            continue
        assert sniffed.media_type == media_type, (fmt, offset)  # still read as its format
        rejected = _rejected(cut, media_type)
        assert rejected.code == "truncated", (fmt, offset, len(data), rejected.message)
        assert "cut off" in rejected.message
        checked += 1
    assert checked >= 12, checked  # at least every random cut (all past the first 200 bytes)


@pytest.mark.parametrize("padding", [b"\x00", b"\x00" * 7, b"\r\n"])
def test_a_whole_heic_with_a_few_bytes_after_its_last_box_is_not_cut_short(
    outcomes: dict[str, Outcome], tmp_path: Path, padding: bytes
) -> None:
    """Fewer than 8 bytes after the last box are no box header: the walk gives no verdict on them (as for
    MP4/MOV) and the decoder decides; this one decodes the whole picture."""
    path = tmp_path / "padded.heic"
    path.write_bytes((PHOTOS / "heic" / "IMG_5195.HEIC").read_bytes() + padding)
    result = photo.process_photo(path, "image/heic", LIMITS)
    assert result.signals == _result(outcomes, "heic/IMG_5195.HEIC").signals


@pytest.mark.parametrize(("fmt", "damage"), [("png", 64), ("gif", 0), ("avif", 64)])
def test_damaged_data_that_is_not_cut_short_is_undecodable(tmp_path: Path, fmt: str, damage: int) -> None:
    """Random bytes over the middle of the data (64 bytes, or a third of the file for GIF, whose LZW stream
    survives small damage), with the file's end intact: the decoder fails and the file is not cut short."""
    path = tmp_path / "damaged"
    xy = pyvips.Image.xyz(320, 240)
    image = (xy[0] * (255 / 320)).bandjoin([xy[1] * (255 / 240), (xy[0] * xy[1]) % 251]).cast("uchar")
    image = image.copy(interpretation="srgb")  # deterministic pixels: the same damage every run
    savers: dict[str, Callable[[str], None]] = {
        "png": image.pngsave,
        "gif": image.gifsave,
        "avif": lambda p: image.heifsave(p, compression="av1", effort=0),
    }
    savers[fmt](str(path))
    data = bytearray(path.read_bytes())
    rng = random.Random(7)
    start = len(data) // 3 if damage == 0 else len(data) // 2
    end = 2 * len(data) // 3 if damage == 0 else start + damage
    data[start:end] = bytes(rng.randrange(256) for _ in range(end - start))
    path.write_bytes(bytes(data))
    rejected = _rejected(path, _media_type(path))
    assert rejected.code == "undecodable", rejected.message
    assert "damaged" in rejected.message


def test_jpeg_shrink_factor_keeps_the_working_size() -> None:
    assert jpeg_shrink(4032, 1008) == 4
    assert jpeg_shrink(3264, 1008) == 2
    assert jpeg_shrink(8064, 1008) == 8
    assert jpeg_shrink(1000, 1008) == 1
