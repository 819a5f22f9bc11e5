"""The photo pipeline: validate, read metadata, measure, thumbnail and (when needed) convert one photo.

``process_photo`` is synchronous and touches nothing but the file it is given; it returns a ``PhotoResult``
or raises ``Rejected`` with a stable code and a sentence a person reads.

Order of work (measured facts behind it: ``../shared/docs/media-toolchain.md``):

1. **Header only**: libvips opens the file without decoding pixels (0.3 ms) and the pixel count is checked
   against ``Limits.max_pixels`` before anything is decoded, so a 50,000 x 50,000 PNG costs a header read.
2. **Metadata** from the header's EXIF block (``exif.parse_exif``): capture time with offset, GPS, camera,
   lens. The orientation is libvips' (what its autorotation applies; for HEIC/HEIF/AVIF the EXIF tag as
   stored), so width and height, reported as displayed (swapped for orientations 5-8), agree with it.
3. **One decode** to the signal working size (``Limits.signal_px`` on the long side, 1008 = 4032/4 for 12 MP
   sensors): JPEGs are decoded with libjpeg-turbo's DCT-domain scaling (simplejpeg, stopping at the first
   warning; libvips' ``jpegload shrink=n`` for files it declines: the same pixels), other formats through
   ``vips_thumbnail`` (which shrinks on load where the format allows). The image is converted to 8-bit
   sRGB (embedded ICC profile honoured, CMYK/grey/16-bit converted, alpha flattened on white) and kept in
   memory; it is upright, except a JPEG's, which stays as stored and carries its EXIF orientation to what
   is made from it (``_Working``). HEIC/HEIF pixels are decoded by pillow-heif (the
   pyvips wheel has no HEVC decoder) and wrapped as a libvips image; their rotation comes from the container
   (``irot``/``imir``, applied by libheif), never from the EXIF tag.
4. **Signals** from that working image (see ``compute_signals``), then the 400 px **thumbnail** is made from
   it in memory: a 12 MP JPEG is never decoded at full resolution for either.
5. **Conversion** (a separate, full-quality decode) only for non-web formats (HEIC/HEIF/TIFF/AVIF/GIF) or
   photos whose long side is above ``Limits.convert_long_side_px``: a JPEG scaled on the long side (never
   width-only), upright, sRGB, without metadata.

Process-wide libvips setting made here: the operation cache is off (``pyvips.cache_set_max(0)``). Every file
is processed once, so the cache would only hold decoded images in memory and could hand back a stale result
for a reused temp file path. Each thread that computes signals keeps ~13 MB of numpy work arrays
(``_Scratch``).

Speed (docs/benchmarks.md, "media"): ~53 ms of CPU per 12 MP JPEG, of which ~38 ms is the decode, mostly
libjpeg-turbo's entropy decoding, which no shrink-on-load avoids.
"""

from __future__ import annotations

import contextlib
import io
import math
import mmap
import re
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pillow_heif
import pyvips
import simplejpeg
from PIL import Image

from services.media_process import isobmff
from services.media_process.exif import ExifInfo, parse_exif, read_exif
from services.media_process.model import Limits, PhotoResult, Rejected
from services.media_process.sniff import HEAD_BYTES, sniff
from shared.events import catalogue as c

pyvips.cache_set_max(0)

#: the sniffed media types this pipeline reads
PHOTO_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/heic",
        "image/heif",
        "image/avif",
    }
)
_HEIF_TYPES = frozenset({"image/heic", "image/heif"})
_ISOBMFF_TYPES = frozenset({"image/heic", "image/heif", "image/avif"})
#: formats the AI steps and browsers should not be handed as they are: always get a converted JPEG
_NON_WEB_TYPES = frozenset({"image/heic", "image/heif", "image/tiff", "image/avif", "image/gif"})

THUMBNAIL_QUALITY = 82
CONVERTED_QUALITY = 88

_KEEP_NONE = 0  # pyvips.enums.ForeignKeep.NONE: no EXIF, XMP, IPTC or ICC in what we write (pixels are sRGB)


@dataclass(frozen=True, slots=True)
class _Header:
    """What the file says about itself before any pixel is decoded."""

    width: int
    height: int
    orientation: int | None  # 1-8 as libvips reads it (what autorotation uses); None: none, or HEIF
    exif: bytes | None
    icc: bytes | None = None  # the embedded ICC profile (JPEG: applied to the pixels simplejpeg decodes)
    #: a HEIF file libvips' loader refused, as libheif opened it (pixels not decoded yet): decoded from here
    heif: pillow_heif.HeifFile | None = None


@dataclass(frozen=True, slots=True)
class _Working:
    """The working image (3-band 8-bit sRGB, in memory, no metadata) and its pixels as an array.

    ``pixels`` is the memory ``image`` was made from (height x width x 3, row-major), so the signals read the
    pixels without asking libvips for a copy. A JPEG's pixels stay as stored: ``orientation`` (EXIF, 1-8) is
    applied to what is made from them (the 400 px thumbnail, the pHash's 32 x 32, a converted copy), not to
    the 1008 px image. Turning that costs 3-4 ms of CPU (a copy, ~560 fresh pages). The other signals do not
    depend on it: the Laplacian's kernel and border are symmetric, and the colour cast is taken over the
    upright image's blocks (``_box_shrunk``).
    """

    image: pyvips.Image
    pixels: npt.NDArray[np.uint8]
    orientation: int = 1


# --------------------------------------------------------------------------- entry point
def process_photo(path: Path, media_type: str, limits: Limits) -> PhotoResult:
    """Validate, describe, measure and thumbnail one photo; raise ``Rejected`` for a file we refuse."""
    if media_type not in PHOTO_TYPES:
        raise Rejected(
            "unsupported_type", f"The file is {media_type or 'of an unknown type'}, not a photo we read."
        )
    limits.check_size("photo", path.stat().st_size)

    header = _read_header(path, media_type)
    limits.check_pixels("photo", header.width, header.height)
    info = _exif_info(path, media_type, header)

    converted: bytes | None = None
    if media_type in _HEIF_TYPES:
        full = _decode_heif(path, media_type, header.heif)
        width, height = full.width, full.height  # upright already (the container's rotation is applied)
        working = _pixels_in_memory(_fit(full, limits.signal_px))
        converted = _jpeg(_fit(full, limits.convert_long_side_px), CONVERTED_QUALITY)
        del full
    else:
        width, height = header.width, header.height
        if header.orientation in (5, 6, 7, 8):
            width, height = height, width
        working = _load_for_signals(path, media_type, header, limits.signal_px)
        if media_type in _NON_WEB_TYPES or max(width, height) > limits.convert_long_side_px:
            whole = max(working.image.width, working.image.height) == max(width, height)  # the whole photo
            if whole:
                upright = _upright(working.image, working.orientation)
                converted = _jpeg(_fit(upright, limits.convert_long_side_px), CONVERTED_QUALITY)
            else:
                converted = _convert_from_file(path, media_type, limits.convert_long_side_px)

    signals = _signals(working)
    thumbnail = _thumbnail(working, limits.thumbnail_px)
    metadata = c.MediaMetadata(
        captured_at=info.captured_at,
        utc_offset=info.utc_offset,
        gps=info.gps,
        make=info.make,
        model=info.model,
        lens=info.lens,
        orientation=_reported_orientation(media_type, header, info),
        width=width,
        height=height,
    )
    return PhotoResult(
        media_type=media_type,
        metadata=metadata,
        signals=signals,
        thumbnail=thumbnail,
        converted=converted,
    )


# --------------------------------------------------------------------------- validation
def _read_header(path: Path, media_type: str) -> _Header:
    """Dimensions, orientation and EXIF from the header; no pixel is decoded here."""
    if media_type in _ISOBMFF_TYPES and _ends_early(path, media_type):
        # libheif decodes a cut-off grid image without complaint, filling the missing tiles with green
        raise _rejection(path, media_type, "", opened=False)
    try:
        image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="error")
    except pyvips.Error as error:
        if media_type in _HEIF_TYPES:
            return _read_heif_header(path, media_type, error)
        raise _rejection(path, media_type, str(error), opened=False) from None
    exif = _blob(image, "exif-data")
    orientation = None if media_type in _HEIF_TYPES else _int_field(image, "orientation")
    if orientation is not None and not 1 <= orientation <= 8:
        orientation = None  # libvips' autorotation leaves such an image as it is
    icc = _blob(image, "icc-profile-data")
    return _Header(
        width=int(image.width), height=int(image.height), orientation=orientation, exif=exif, icc=icc
    )


def _read_heif_header(path: Path, media_type: str, vips_error: pyvips.Error) -> _Header:
    """libheif's own header reader, for HEIF files libvips' loader refuses."""
    try:
        heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=True)
        width, height = heif.size
        exif = heif.info.get("exif")
    except Exception as error:
        raise _rejection(path, media_type, f"{vips_error}\n{error}", opened=False) from None
    return _Header(width=int(width), height=int(height), orientation=None, exif=exif or None, heif=heif)


def _reported_orientation(media_type: str, header: _Header, info: ExifInfo) -> int | None:
    """The EXIF orientation the event reports: libvips' (``header.orientation``), the one its autorotation,
    the displayed width and height and the JPEG's deferred turn all use, so the event agrees with its
    dimensions and thumbnail even where Pillow's reader would parse the tag differently.

    HEIC/HEIF/AVIF are turned by their container (``irot``/``imir``, applied by libheif) and libvips gives
    them no orientation: their EXIF tag (Pillow's parse) is reported as stored, never applied.
    """
    if header.orientation is not None:
        return header.orientation
    return info.orientation if media_type in _ISOBMFF_TYPES else None


def _exif_info(path: Path, media_type: str, header: _Header) -> ExifInfo:
    if header.exif:
        return parse_exif(header.exif)
    if media_type == "image/tiff":
        # TIFF keeps its camera tags in its own IFDs, which libvips does not hand over as an EXIF block
        try:
            with Image.open(path) as im:
                return read_exif(im.getexif())
        except Exception:  # metadata is optional; the pixels decide whether the file is good
            return ExifInfo()
    return ExifInfo()


# --------------------------------------------------------------------------- decoding
def _load_for_signals(path: Path, media_type: str, header: _Header, long_side: int) -> _Working:
    """The working image: 8-bit sRGB, long side at most ``long_side``, in memory, from ONE decode; upright,
    or for a JPEG as stored with the orientation to apply (``_Working``).

    JPEG: libjpeg scales in the DCT domain while decoding (``shrink`` = the largest of 8/4/2 that keeps the
    long side >= ``long_side``), so a 4032 px photo is decoded straight to 1008 px; anything left over is
    resampled. (``vips_thumbnail`` would pick shrink 2 here and resample 2016 -> 1008: ~20 ms more per
    12 MP photo.) The decode is simplejpeg's (``_decode_jpeg``), and libvips' ``jpegload shrink=n`` where
    that declines. Other formats go through ``vips_thumbnail``, which uses the loader's own shrink-on-load
    where there is one.
    """
    try:
        if media_type == "image/jpeg":
            shrink = _jpeg_shrink(max(header.width, header.height), long_side)
            decoded = _decode_jpeg(path, header, shrink)
            if decoded is None:
                image = pyvips.Image.new_from_file(
                    str(path), shrink=shrink, access="sequential", fail_on="error"
                )
            else:
                image = decoded.image
            if max(image.width, image.height) > long_side:
                image = image.thumbnail_image(long_side, height=long_side, size="down", no_rotate=True)
            image = _to_srgb8(image)
            orientation = header.orientation or 1
            if decoded is not None and image is decoded.image:  # nothing to do: its pixels are the array
                return _Working(decoded.image, decoded.pixels, orientation)
            return _pixels_in_memory(image, orientation)
        image = pyvips.Image.thumbnail(str(path), long_side, height=long_side, size="down", fail_on="error")
        return _pixels_in_memory(_to_srgb8(image))
    except pyvips.Error as error:
        raise _rejection(path, media_type, str(error), opened=True) from None


def _decode_jpeg(path: Path, header: _Header, shrink: int) -> _Working | None:
    """The JPEG decoded by libjpeg-turbo (simplejpeg) at 1/``shrink``; None where libvips is to decide.

    The same pixels as libvips' ``jpegload shrink=n`` (the same libjpeg-turbo IDCT and upsampling, checked
    bit for bit on every test photo; its size rounded down as libvips does), at ~39 ms instead of ~45 per
    12 MP photo. The image carries what libvips' loader would have set and the rest of the pipeline reads:
    ``icc-profile-data`` (from the header).

    Strict: the first libjpeg warning (corrupt data, extraneous bytes, a premature end) stops the decode.
    Such a file, a CMYK/YCCK one (libvips inverts Adobe CMYK) and anything simplejpeg does not read go to
    libvips' ``fail_on="error"`` load instead, so which files are refused, and with which reason, is
    exactly what it was.
    """
    width, height = header.width // shrink, header.height // shrink
    if width < 1 or height < 1:
        return None
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            colourspace = simplejpeg.decode_jpeg_header(data)[2]
            if colourspace not in ("YCbCr", "RGB", "Gray"):
                return None
            pixels = simplejpeg.decode_jpeg(
                data,
                colorspace="GRAY" if colourspace == "Gray" else "RGB",
                min_width=-(-header.width // shrink),  # libjpeg's scaled size: rounded up
                min_height=-(-header.height // shrink),
                strict=True,
            )
    except (ValueError, OSError):
        return None
    if pixels.shape[:2] != (-(-header.height // shrink), -(-header.width // shrink)):
        return None  # not the scale asked for
    if pixels.shape[:2] != (height, width):  # libvips drops the partial last row / column
        pixels = np.ascontiguousarray(pixels[:height, :width])
    bands = pixels.shape[2]
    image = pyvips.Image.new_from_memory(pixels, width, height, bands, "uchar")
    image = image.copy(interpretation="srgb" if bands == 3 else "b-w")
    if header.icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", header.icc)
    return _Working(image, pixels)


def _jpeg_shrink(long_side: int, target: int) -> int:
    for factor in (8, 4, 2):
        if long_side / factor >= target:
            return factor
    return 1


def _convert_from_file(path: Path, media_type: str, long_side: int) -> bytes:
    """A full-quality decode scaled so the LONG side is at most ``long_side``, upright, sRGB, as JPEG."""
    try:
        image = pyvips.Image.thumbnail(str(path), long_side, height=long_side, size="down", fail_on="error")
        return _jpeg(_to_srgb8(image), CONVERTED_QUALITY)
    except pyvips.Error as error:
        raise _rejection(path, media_type, str(error), opened=True) from None


def _decode_heif(path: Path, media_type: str, heif: pillow_heif.HeifFile | None = None) -> pyvips.Image:
    """The primary image of a HEIC/HEIF file decoded by libheif (pillow-heif) as an in-memory libvips image;
    ``heif``: the file already opened by pillow-heif (``_read_heif_header``), else it is opened here.

    libheif applies the container's ``irot``/``imir``/``clap`` transforms, so the pixels are upright as the
    file means them; the EXIF orientation tag is NOT applied on top (the HEIF spec says to ignore it).
    """
    try:
        if heif is None:
            heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=True)
        width, height = heif.size
        mode = heif.mode
        data = heif.data  # decodes
        stride = heif.stride
        icc = heif.info.get("icc_profile") if heif.info.get("icc_profile_type") in ("prof", "rICC") else None
    except Exception as error:  # pillow-heif raises ValueError/RuntimeError/... with libheif's message
        raise _rejection(path, media_type, str(error), opened=True) from None
    bands = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}.get(mode)
    if bands is None:  # an unusual mode: let Pillow bring it to RGB
        rgb = heif.to_pillow().convert("RGB")
        data, stride, bands = rgb.tobytes(), width * 3, 3
    row = width * bands
    if stride != row:  # rows are padded: pack them
        view = memoryview(data)
        data = b"".join(view[y * stride : y * stride + row] for y in range(height))
    image = pyvips.Image.new_from_memory(data, width, height, bands, "uchar")
    image = image.copy(interpretation="b-w" if bands <= 2 else "srgb")
    if icc:
        image.set_type(pyvips.GValue.blob_type, "icc-profile-data", bytes(icc))
    return image


# --------------------------------------------------------------------------- pixels out
def _fit(image: pyvips.Image, long_side: int) -> pyvips.Image:
    """``image`` scaled down (never up) so its long side is at most ``long_side``; 8-bit sRGB (lazy)."""
    if max(image.width, image.height) > long_side:
        image = image.thumbnail_image(long_side, height=long_side, size="down", no_rotate=True)
    return _to_srgb8(image)


def _pixels_in_memory(image: pyvips.Image, orientation: int = 1) -> _Working:
    """``image`` (3-band 8-bit) computed once into memory, as a bare image: its pixels, size, no metadata.

    Every libvips operation copies its input's metadata to its output; a camera JPEG carries ~80 fields
    (the EXIF tags one by one, the EXIF thumbnail, XMP), which cost ~0.1 ms per operation, 2-3 ms over
    the signals and the thumbnail. What is needed from them is applied by now (ICC profile) or passed on
    (``orientation``).
    ``write_to_memory`` hands over libvips' buffer without a copy and ``new_from_memory`` keeps it alive.
    """
    data = image.write_to_memory()
    bare = pyvips.Image.new_from_memory(data, image.width, image.height, image.bands, image.format)
    if bare.interpretation != image.interpretation:
        bare = bare.copy(interpretation=image.interpretation)
    pixels = np.frombuffer(data, np.uint8).reshape(image.height, image.width, image.bands)
    return _Working(bare, pixels, orientation)


def _upright(image: pyvips.Image, orientation: int) -> pyvips.Image:
    """``image`` turned by an EXIF orientation (1-8), as libvips' autorotation does."""
    if orientation == 1:
        return image
    image = image.copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return image.autorot()


def _jpeg(image: pyvips.Image, quality: int) -> bytes:
    data = image.jpegsave_buffer(Q=quality, keep=_KEEP_NONE, optimize_coding=True)
    return bytes(data)


def _thumbnail(working: _Working, long_side: int) -> bytes:
    """The thumbnail JPEG: libvips' resize into memory, turned upright, then Pillow's encoder (libjpeg-turbo).

    The same pixels as ``_jpeg`` gives (same quantisation, 4:2:0, Huffman tables optimised; decoded, the
    two are identical) plus an 18-byte JFIF header, for ~0.5 ms less CPU: at 400 px the encode through a
    libvips sink costs more than the encode itself. Turned after the resize: for orientations 2-4 the same
    pixels as resizing the turned image, for 5-8 (a quarter turn) ~1.4 levels apart on average at
    1008 -> 400 px, as libvips' row and column reducers do not round alike.
    """
    small = _upright(_fit(working.image, long_side), working.orientation)
    pixels = small.write_to_memory()
    out = io.BytesIO()
    Image.frombuffer("RGB", (small.width, small.height), pixels, "raw", "RGB", 0, 1).save(
        out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True
    )
    return out.getvalue()


def _to_srgb8(image: pyvips.Image) -> pyvips.Image:
    """3-band 8-bit sRGB: embedded ICC profile honoured, CMYK/grey/16-bit converted, alpha on white."""
    icc = _blob(image, "icc-profile-data")
    if icc is not None and not _icc_is_srgb(icc):
        with contextlib.suppress(pyvips.Error):  # a broken profile: the numbers are taken as they are
            image = image.icc_transform("srgb", embedded=True, intent="perceptual")
    elif image.interpretation == "cmyk":
        image = image.icc_transform("srgb", input_profile="cmyk", intent="perceptual")
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        with contextlib.suppress(pyvips.Error):
            image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[255.0] * (image.bands - 1), max_alpha=_max_alpha(image))
    if image.format != "uchar":
        image = image.cast("uchar")
    if image.bands in (1, 2):
        image = image[0].bandjoin([image[0], image[0]])
    elif image.bands > 3:
        image = image.extract_band(0, n=3)
    return image if image.interpretation == "srgb" else image.copy(interpretation="srgb")


def _max_alpha(image: pyvips.Image) -> float:
    if image.format in ("ushort", "short"):
        return 65535.0
    if image.format in ("float", "double"):
        return 1.0
    return 255.0


def _icc_is_srgb(icc: bytes) -> bool:
    """True for the usual sRGB profiles (by their description): those need no transform."""
    return "srgb" in _icc_description(icc).lower()


def _icc_description(icc: bytes) -> str:
    try:
        count = int.from_bytes(icc[128:132], "big")
        for i in range(min(count, 256)):
            entry = 132 + 12 * i
            if icc[entry : entry + 4] != b"desc":
                continue
            start = int.from_bytes(icc[entry + 4 : entry + 8], "big")
            tag = icc[start : start + int.from_bytes(icc[entry + 8 : entry + 12], "big")]
            if tag[:4] == b"desc":  # ICC v2: a counted ASCII string
                length = int.from_bytes(tag[8:12], "big")
                return tag[12 : 12 + length].split(b"\x00", 1)[0].decode("latin-1")
            if tag[:4] == b"mluc" and len(tag) >= 28:  # ICC v4: the first localised UTF-16 record
                length = int.from_bytes(tag[20:24], "big")
                offset = int.from_bytes(tag[24:28], "big")
                return tag[offset : offset + length].decode("utf-16-be", errors="replace")
    except (IndexError, ValueError):
        pass
    return ""


# --------------------------------------------------------------------------- signals
#: grey-level variance floor in the sharpness normalisation (a std of 5 levels): keeps flat, noisy frames
#: (pocket shots, a black sky) from scoring as sharp because their tiny contrast divides their sensor noise
_SHARPNESS_VARIANCE_FLOOR = 25.0
_HASH_SIZE = 32  # pHash: DCT of a 32 x 32 grey image ...
_HASH_BLOCK = 8  # ... of which the 8 x 8 lowest frequencies (DC row and column excluded) give 64 bits
#: cos(pi (2x + 1) u / 64) for u = 1..8 (the frequencies kept), x = 0..31
_DCT_COS = np.array(
    [
        [math.cos(math.pi * (2 * x + 1) * u / (2 * _HASH_SIZE)) for x in range(_HASH_SIZE)]
        for u in range(1, _HASH_BLOCK + 1)
    ]
)
#: colour cast on a box-shrunk copy: 8x (126 x 94 at 1008 x 756), 4x under 512 px, as it is under 64 px
_CAST_SHRINKS = ((512, 8), (64, 4))


def compute_signals(rgb: pyvips.Image) -> c.PhotoSignals:
    """Quality signals of an upright 8-bit sRGB image at the working size (long side ~``Limits.signal_px``).

    - ``sharpness`` = var(Laplacian(Y)) / (var(Y) + 25), with Y the Rec.601 luma in 0..255 and the 4-neighbour
      Laplacian kernel. Dividing by the image's own grey-level variance makes it independent of exposure and
      contrast (a photo darkened to a third keeps its score); the floor of 25 keeps flat noisy frames low.
      Dimensionless; at 1008 px sharp photos score ~0.03-3, a σ=4 px blur at 12 MP drops it 5-50x. Compare
      values computed at the same working size only (small photos are measured at their own size).
    - ``exposure_mean``: mean luma / 255 (0 black, 1 white).
    - ``shadows_clipped`` / ``highlights_clipped``: fraction of pixels whose luma is below 3 / at least 253
      (its integer part, as libvips' cast to 8 bits truncates, is <= 2 / >= 253).
    - ``colour_cast``: distance of the mean (a*, b*) from neutral in CIELAB (D65), computed on a box-shrunk
      copy (8x: 126 x 94 means of 8 x 8 blocks at 1008 x 756; 4x under 512 px; none under 64 px). 0 = grey
      on average; ~10 is a visible cast; a scene dominated by one colour scores high too.
    - ``phash``: the classic DCT perceptual hash: Y squashed to 32 x 32 (each cell the mean of its block of
      pixels, the blocks as even as whole pixels allow), 2-D DCT-II, the 8 x 8 coefficients
      (u, v) in 1..8 (the DC row and column left out), one bit per coefficient above their median, row-major
      from the most significant bit, as 16 hex digits. Near-duplicates differ by a few bits; use
      ``phash_distance``.
    """
    rgb = _to_srgb8(rgb)
    return _signals(_Working(rgb, np.frombuffer(rgb.write_to_memory(), np.uint8)))


def _signals(working: _Working) -> c.PhotoSignals:
    """``compute_signals`` of the working image, read from its pixel array.

    numpy does the per-pixel work on the luma (a call costs microseconds where a libvips call costs
    ~0.1-0.3 ms and each of its sinks 1-4 ms of CPU at this size), in per-thread arrays reused from photo
    to photo (``_Scratch``). The luma is kept as 1000 Y = 299 R + 587 G + 114 B, whole numbers that float32
    holds exactly (so is their Laplacian); libvips' float luma (Rec.601 of the sRGB-encoded values,
    ``recomb([[0.299, 0.587, 0.114]])``) is that divided by 1000 and rounded, and "below 3" / "at least 253"
    (what truncating it to 8 bits puts in bins 0-2 / 253-255) are below 3000 / at least 253000 here, exactly.
    """
    rgb = working.image
    width, height = rgb.width, rgb.height
    total = width * height
    pixels = working.pixels.reshape(height, width, 3)
    # 1000 Y, in the middle of an array one pixel larger all round: the border is the Laplacian's
    padded = _SCRATCH.array("padded", (height + 2, width + 2), np.float32)
    grey = padded[1:-1, 1:-1]
    scratch = _SCRATCH.array("scratch", (height, width), np.float32)
    np.multiply(pixels[..., 0], np.float32(299), out=grey)
    np.multiply(pixels[..., 1], np.float32(587), out=scratch)
    grey += scratch
    np.multiply(pixels[..., 2], np.float32(114), out=scratch)
    grey += scratch
    mean, grey_var = _mean_var(grey, scratch)
    mean, grey_var = mean / _Y_SCALE, grey_var / _Y_SCALE**2

    # edge pixels repeated, as libvips' conv extends an image
    padded[0, 1:-1] = grey[0]
    padded[-1, 1:-1] = grey[-1]
    padded[:, 0] = padded[:, 1]
    padded[:, -1] = padded[:, -2]
    laplacian = _SCRATCH.array("laplacian", (height, width), np.float32)
    np.add(padded[:-2, 1:-1], padded[2:, 1:-1], out=laplacian)
    laplacian += padded[1:-1, :-2]
    laplacian += padded[1:-1, 2:]
    np.multiply(grey, np.float32(4), out=scratch)
    laplacian -= scratch
    lap_var = _spread(laplacian, scratch) / _Y_SCALE**2 if total > 1 else math.nan  # 1 px: no spread
    sharpness = lap_var / (grey_var + _SHARPNESS_VARIANCE_FLOOR)

    mask = _SCRATCH.array("mask", (height, width), np.bool_)
    shadows = np.count_nonzero(np.less(grey, 3 * _Y_SCALE, out=mask)) / total
    highlights = np.count_nonzero(np.greater_equal(grey, 253 * _Y_SCALE, out=mask)) / total

    shrink = next((factor for side, factor in _CAST_SHRINKS if min(width, height) >= side), 1)
    small = _box_shrunk(rgb, shrink, working.orientation)
    lab = _mean_dev(small.colourspace("lab"))
    colour_cast = math.hypot(lab[1][0], lab[2][0])

    return c.PhotoSignals(
        sharpness=_finite(sharpness),
        exposure_mean=_finite(mean / 255.0),
        shadows_clipped=_finite(shadows),
        highlights_clipped=_finite(highlights),
        colour_cast=_finite(colour_cast),
        phash=phash_of_grey32(_squash(_oriented(grey, working.orientation))),
    )


class _Scratch(threading.local):
    """Work arrays for the signals, one set per thread, kept from one photo to the next.

    A fresh 3 MB array costs ~1.4 ms of page faults here (~1.8 us per 4 KB page), more than the arithmetic
    done on it; the signals used to allocate ~18 MB per photo. Arrays for images above ``_SCRATCH_MAX_PX``
    are not kept (the working size is 1008 x 756, at most 1008 x 1008).
    """

    def __init__(self) -> None:
        self.arrays: dict[str, npt.NDArray[Any]] = {}

    def array(self, name: str, shape: tuple[int, int], dtype: type[np.generic]) -> npt.NDArray[Any]:
        size = shape[0] * shape[1]
        if size > _SCRATCH_MAX_PX:
            return np.empty(shape, dtype)
        flat = self.arrays.get(name)
        if flat is None or flat.size < size:
            flat = self.arrays[name] = np.empty(max(size, _SCRATCH_MIN_PX), dtype)
        return flat[:size].reshape(shape)


_Y_SCALE = 1000  # the signals' luma is 1000 Y (whole numbers)
_SCRATCH_MAX_PX = 1024 * 1024 * 2
_SCRATCH_MIN_PX = 1010 * 1010
_SCRATCH = _Scratch()


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two ``phash`` values (0 = same picture; <= 10 is a near-duplicate)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _mean_dev(image: pyvips.Image) -> list[tuple[float, float]]:
    """(mean, standard deviation) of each band, in one pass (``vips_stats``)."""
    stats = image.stats()
    raw = stats.write_to_memory()
    values = struct.unpack(f"<{len(raw) // 8}d", raw)  # (bands + 1) rows of 10 doubles
    return [(values[row * 10 + 4], values[row * 10 + 5]) for row in range(1, image.bands + 1)]


def _mean_var(values: npt.NDArray[np.float32], scratch: npt.NDArray[np.float32]) -> tuple[float, float]:
    """Mean and sample variance (libvips' ``deviate`` squared); ``scratch`` (same shape) is overwritten.

    Two passes of numpy's pairwise float32 sums (~0.2 ms each at 1008 x 756): the deviations are squared
    after the mean is taken off, so a bright, flat image loses no digits to cancellation.
    """
    n = values.size
    mean = float(values.sum()) / n
    if n < 2:
        return mean, math.nan
    np.subtract(values, np.float32(mean), out=scratch)
    return mean, float(np.square(scratch, out=scratch).sum()) / (n - 1)


def _box_shrunk(image: pyvips.Image, factor: int, orientation: int) -> pyvips.Image:
    """``image`` box-shrunk by ``factor``, in the blocks of the image as ``orientation`` displays it.

    libvips rounds the block count and fills a partial last block with copies of the edge row (or column);
    where the orientation reverses an axis, the upright image's last block is the stored image's first, so
    the stored image is padded (or cut) at its start instead.
    """
    if factor == 1:
        return image
    width, height = image.width, image.height
    dx = (width + factor // 2) // factor * factor - width if orientation in (2, 3, 7, 8) else 0
    dy = (height + factor // 2) // factor * factor - height if orientation in (3, 4, 6, 7) else 0
    if dx or dy:
        image = image.embed(dx, dy, width + dx, height + dy, extend="copy")
    return image.shrink(factor, factor)


def _spread(values: npt.NDArray[np.float32], scratch: npt.NDArray[np.float32]) -> float:
    """Sample variance of values whose mean is ~0 next to their spread (a Laplacian): no second pass to
    take the mean off first. ``scratch`` (same shape) is overwritten."""
    n = values.size
    total = float(values.sum())
    squares = float(np.square(values, out=scratch).sum())
    return max(squares - total * total / n, 0.0) / (n - 1)


def _oriented(array: npt.NDArray[Any], orientation: int) -> npt.NDArray[Any]:
    """A view of ``array`` (rows x columns) as the EXIF orientation displays it (libvips' ``autorot``)."""
    views = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: a.T,
        6: lambda a: a[::-1, :].T,
        7: lambda a: a[::-1, ::-1].T,
        8: lambda a: a[:, ::-1].T,
    }
    view = views.get(orientation)
    return array if view is None else view(array)


def _squash(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """``grey`` squashed to 32 x 32: the mean of each block (blocks of whole pixels, as even as they can
    be: 31 or 32 columns by 23 or 24 rows at 1008 x 756). A side under 32 px is stretched instead."""
    squashed: npt.NDArray[Any] = grey
    # along memory's rows first (numpy reduces a contiguous axis ~4x faster); a turned view has them as
    # its columns
    axes = (1, 0) if abs(grey.strides[1]) <= abs(grey.strides[0]) else (0, 1)
    for axis in axes:
        n = squashed.shape[axis]
        if n >= _HASH_SIZE:
            edges = (np.arange(_HASH_SIZE + 1) * n) // _HASH_SIZE
            sums = np.add.reduceat(squashed, edges[:-1], axis=axis)
            counts = np.diff(edges).reshape((1, -1) if axis == 1 else (-1, 1))
            squashed = sums.astype(np.float64) / counts
        else:
            squashed = np.take(squashed, (np.arange(_HASH_SIZE) * n) // _HASH_SIZE, axis=axis)
    return np.asarray(squashed, dtype=np.float64)


def phash_of_grey32(pixels: Sequence[float] | npt.NDArray[np.floating[Any]]) -> str:
    """The pHash bits of a 32 x 32 grey image given row-major (see ``compute_signals``)."""
    grey = np.asarray(pixels, dtype=np.float64).reshape(_HASH_SIZE, _HASH_SIZE)
    # separable DCT-II, only the coefficients kept: (v, u) = (1..8, 1..8), v-major
    coeffs = (_DCT_COS @ grey @ _DCT_COS.T).ravel()
    median = float(np.median(coeffs))
    bits = 0
    for value in (coeffs > median).tolist():
        bits = (bits << 1) | value
    return f"{bits:016x}"


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0


# --------------------------------------------------------------------------- rejection reasons
#: decoder messages that mean the data stops early (libjpeg, libspng, libwebp, giflib/nsgif, libtiff, libheif)
_TRUNCATION_RE = re.compile(
    r"premature end of jpeg|unexpected end|truncated|end of file|end of stream|end of data\b(?! segment)"
    r"|bad seek|not enough data|short read|\beof\b",
    re.IGNORECASE,
)
_NOT_KNOWN_RE = re.compile(r"is not a known file format|no known (?:loader|decoder)", re.IGNORECASE)
_STACK_RE = re.compile(r"^unable to (?:call|copy|write|load)\b")  # libvips' own call-stack lines
_PREFIX_RE = re.compile(r"^(?:Vips\w*|vips\w*|heif|gifload|webp|tiff2vips|jpeg2vips|png2vips|svgload):\s*")


def _rejection(path: Path, media_type: str, detail: str, *, opened: bool) -> Rejected:
    """Map a decoder failure to a reason code; the message names the problem in plain words."""
    said = _plain(detail, path)
    what = _FORMAT_NAMES.get(media_type, "image")
    if not opened and not _content_is(path, media_type):
        return Rejected("unsupported_type", f"The file's content is not {what} data{_because(said)}.")
    ends_early = _ends_early(path, media_type)
    if ends_early or (ends_early is None and _TRUNCATION_RE.search(detail)):
        return Rejected(
            "truncated",
            f"The {what} file ends before its image data does (it was probably cut off while uploading or "
            f"copying){_because(said)}.",
        )
    if not opened and _NOT_KNOWN_RE.search(detail):
        return Rejected(
            "unsupported_type", f"The file looks like {what} but no decoder recognises it{_because(said)}."
        )
    return Rejected("undecodable", f"The {what} image data is damaged and cannot be decoded{_because(said)}.")


_FORMAT_NAMES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "image/tiff": "TIFF",
    "image/heic": "HEIC",
    "image/heif": "HEIF",
    "image/avif": "AVIF",
}


def _because(said: str) -> str:
    return f" (the decoder said: {said})" if said else ""


def _plain(detail: str, path: Path) -> str:
    """The decoder's own words, without libvips' call-stack lines, loader prefixes or our temp path."""
    seen: list[str] = []
    for raw in detail.replace(str(path), "the file").splitlines():
        line = _PREFIX_RE.sub("", raw.strip()).strip().rstrip(".")
        if not line or _STACK_RE.match(line) or line in seen:
            continue
        seen.append(line)
    text = "; ".join(seen[:4])
    return text if len(text) <= 300 else text[:297] + "..."


def _content_is(path: Path, media_type: str) -> bool:
    """Whether the file starts like the format it was sniffed as (callers may pass any type)."""
    try:
        with path.open("rb") as f:
            sniffed = sniff(f.read(HEAD_BYTES))
    except OSError:
        return False
    if sniffed is None:
        return False
    return sniffed.media_type == media_type or {sniffed.media_type, media_type} <= _HEIF_TYPES


def _ends_early(path: Path, media_type: str) -> bool | None:
    """Whether the file's own structure says its data continues past the end of the file.

    True: cut short. False: the file ends where its format says it ends (a decoder that "ran out of data" then
    read garbage lengths: the data is damaged, not cut off). None: the format cannot tell (TIFF with a valid
    first IFD offset), so the decoder's message decides.
    """
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            head = f.read(64)
            f.seek(max(0, size - 64))
            tail = f.read(64)
            if media_type == "image/jpeg":  # EOI marker last (NUL padding and line ends after it are common)
                return not tail.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")
            if media_type == "image/png":
                return b"IEND" not in tail
            if media_type == "image/gif":  # the trailer byte
                return not tail.rstrip(b"\x00").endswith(b"\x3b")
            if media_type == "image/webp":
                return len(head) < 12 or int.from_bytes(head[4:8], "little") + 8 > size
            if media_type == "image/tiff":
                return True if _tiff_ends_early(head, size) else None
            if media_type in _ISOBMFF_TYPES:
                return isobmff.cut_short(f, size)  # a top-level box runs past the end
    except OSError:
        return None
    return None


def _tiff_ends_early(head: bytes, size: int) -> bool:
    if len(head) < 8:
        return True
    order: Any = "little" if head[:2] == b"II" else "big"
    return int.from_bytes(head[4:8], order) >= size


def _blob(image: pyvips.Image, name: str) -> bytes | None:
    if image.get_typeof(name) == 0:
        return None
    value = image.get(name)
    return bytes(value) if value else None


def _int_field(image: pyvips.Image, name: str) -> int | None:
    if image.get_typeof(name) == 0:
        return None
    try:
        return int(image.get(name))
    except (TypeError, ValueError):
        return None
