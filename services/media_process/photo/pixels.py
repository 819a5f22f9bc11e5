"""Pixels out: the working image in memory, scaled, turned upright, converted to 8-bit sRGB and encoded."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyvips
from PIL import Image

from services.media_process.photo.formats import THUMBNAIL_QUALITY
from services.media_process.photo.header import blob

_KEEP_NONE = 0  # pyvips.enums.ForeignKeep.NONE: no EXIF, XMP, IPTC or ICC in what we write (pixels are sRGB)


@dataclass(frozen=True, slots=True)
class Working:
    """The working image (3-band 8-bit sRGB, in memory, no metadata) and its pixels as an array.

    ``pixels`` is the memory ``image`` was made from (height x width x 3, row-major), so the signals read the
    pixels without asking libvips for a copy. A JPEG's pixels stay as stored: ``orientation`` (EXIF, 1-8) is
    applied to what is made from them (the 400 px thumbnail, the pHash's 32 x 32, a converted copy), not to
    the 1008 px image. Turning that costs 3-4 ms of CPU (a copy, ~560 fresh pages). The other signals do not
    depend on it: the Laplacian's kernel and border are symmetric, and the colour cast is taken over the
    upright image's blocks (``signals.compute_signals``).
    """

    image: pyvips.Image
    pixels: npt.NDArray[np.uint8]
    orientation: int = 1


def fit(image: pyvips.Image, long_side: int) -> pyvips.Image:
    """``image`` scaled down (never up) so its long side is at most ``long_side``; 8-bit sRGB (lazy)."""
    if max(image.width, image.height) > long_side:
        image = image.thumbnail_image(long_side, height=long_side, size="down", no_rotate=True)
    return to_srgb8(image)


def pixels_in_memory(image: pyvips.Image, orientation: int = 1) -> Working:
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
    return Working(bare, pixels, orientation)


def upright(image: pyvips.Image, orientation: int) -> pyvips.Image:
    """``image`` turned by an EXIF orientation (1-8), as libvips' autorotation does."""
    if orientation == 1:
        return image
    image = image.copy()
    image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return image.autorot()


def jpeg(image: pyvips.Image, quality: int) -> bytes:
    """``image`` as a JPEG at ``quality``, Huffman tables optimised, without any metadata."""
    data = image.jpegsave_buffer(Q=quality, keep=_KEEP_NONE, optimize_coding=True)
    return bytes(data)


def thumbnail_jpeg(working: Working, long_side: int) -> bytes:
    """The thumbnail JPEG: libvips' resize into memory, turned upright, then Pillow's encoder (libjpeg-turbo).

    The same pixels as ``jpeg`` gives (same quantisation, 4:2:0, Huffman tables optimised; decoded, the
    two are identical) plus an 18-byte JFIF header, for ~0.5 ms less CPU: at 400 px the encode through a
    libvips sink costs more than the encode itself. Turned after the resize: for orientations 2-4 the same
    pixels as resizing the turned image, for 5-8 (a quarter turn) ~1.4 levels apart on average at
    1008 -> 400 px, as libvips' row and column reducers do not round alike.
    """
    small = upright(fit(working.image, long_side), working.orientation)
    pixels = small.write_to_memory()
    out = io.BytesIO()
    Image.frombuffer("RGB", (small.width, small.height), pixels, "raw", "RGB", 0, 1).save(
        out, "JPEG", quality=THUMBNAIL_QUALITY, optimize=True
    )
    return out.getvalue()


def to_srgb8(image: pyvips.Image) -> pyvips.Image:
    """3-band 8-bit sRGB: embedded ICC profile honoured, CMYK/grey/16-bit converted, alpha on white."""
    icc = blob(image, "icc-profile-data")
    if icc is not None and not icc_is_srgb(icc):
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


def icc_is_srgb(icc: bytes) -> bool:
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
