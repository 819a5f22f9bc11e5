"""Decoding: ONE decode of the photo to the signal working size, and the full-quality decodes for a
converted copy (a HEIF through libheif)."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pillow_heif
import pyvips
import simplejpeg

from services.media_process.photo.formats import CONVERTED_QUALITY
from services.media_process.photo.header import Header
from services.media_process.photo.pixels import Working, jpeg, pixels_in_memory, to_srgb8
from services.media_process.photo.rejection import rejection_for


def load_for_signals(path: Path, media_type: str, header: Header, long_side: int) -> Working:
    """The working image: 8-bit sRGB, long side at most ``long_side``, in memory, from ONE decode; upright,
    or for a JPEG as stored with the orientation to apply (``Working``).

    JPEG: libjpeg scales in the DCT domain while decoding (``shrink`` = the largest of 8/4/2 that keeps the
    long side >= ``long_side``), so a 4032 px photo is decoded straight to 1008 px; anything left over is
    resampled. (``vips_thumbnail`` would pick shrink 2 here and resample 2016 -> 1008: ~20 ms more per
    12 MP photo.) The decode is simplejpeg's (``_decode_jpeg``), and libvips' ``jpegload shrink=n`` where
    that declines. Other formats go through ``vips_thumbnail``, which uses the loader's own shrink-on-load
    where there is one.
    """
    try:
        if media_type == "image/jpeg":
            shrink = jpeg_shrink(max(header.width, header.height), long_side)
            decoded = _decode_jpeg(path, header, shrink)
            if decoded is None:
                image = pyvips.Image.new_from_file(
                    str(path), shrink=shrink, access="sequential", fail_on="error"
                )
            else:
                image = decoded.image
            if max(image.width, image.height) > long_side:
                image = image.thumbnail_image(long_side, height=long_side, size="down", no_rotate=True)
            image = to_srgb8(image)
            orientation = header.orientation or 1
            if decoded is not None and image is decoded.image:  # nothing to do: its pixels are the array
                return Working(decoded.image, decoded.pixels, orientation)
            return pixels_in_memory(image, orientation)
        image = pyvips.Image.thumbnail(str(path), long_side, height=long_side, size="down", fail_on="error")
        return pixels_in_memory(to_srgb8(image))
    except pyvips.Error as error:
        raise rejection_for(path, media_type, str(error), opened=True) from None


def _decode_jpeg(path: Path, header: Header, shrink: int) -> Working | None:
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
    return Working(image, pixels)


def jpeg_shrink(long_side: int, target: int) -> int:
    """The largest of libjpeg's DCT scale factors (8, 4, 2) that keeps ``long_side`` at ``target`` or more."""
    for factor in (8, 4, 2):
        if long_side / factor >= target:
            return factor
    return 1


def convert_from_file(path: Path, media_type: str, long_side: int) -> bytes:
    """A full-quality decode scaled so the LONG side is at most ``long_side``, upright, sRGB, as JPEG."""
    try:
        image = pyvips.Image.thumbnail(str(path), long_side, height=long_side, size="down", fail_on="error")
        return jpeg(to_srgb8(image), CONVERTED_QUALITY)
    except pyvips.Error as error:
        raise rejection_for(path, media_type, str(error), opened=True) from None


def decode_heif(path: Path, media_type: str, heif: pillow_heif.HeifFile | None = None) -> pyvips.Image:
    """The primary image of a HEIC/HEIF file decoded by libheif (pillow-heif) as an in-memory libvips image;
    ``heif``: the file already opened by pillow-heif (``header.read_header``), else it is opened here.

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
        raise rejection_for(path, media_type, str(error), opened=True) from None
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
