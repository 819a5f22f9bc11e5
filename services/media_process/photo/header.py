"""Validation: what the file says about itself (dimensions, orientation, EXIF, ICC) before any pixel is
decoded, and the metadata read from it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pillow_heif
import pyvips
from PIL import Image

from services.media_process.exif import ExifInfo, parse_exif, read_exif
from services.media_process.photo.formats import HEIF_TYPES, ISOBMFF_TYPES
from services.media_process.photo.rejection import ends_early, rejection_for


@dataclass(frozen=True, slots=True)
class Header:
    """What the file says about itself before any pixel is decoded."""

    width: int
    height: int
    orientation: int | None  # 1-8 as libvips reads it (what autorotation uses); None: none, or HEIF
    exif: bytes | None
    icc: bytes | None = None  # the embedded ICC profile (JPEG: applied to the pixels simplejpeg decodes)
    #: a HEIF file libvips' loader refused, as libheif opened it (pixels not decoded yet): decoded from here
    heif: pillow_heif.HeifFile | None = None


def read_header(path: Path, media_type: str) -> Header:
    """Dimensions, orientation and EXIF from the header; no pixel is decoded here."""
    if media_type in ISOBMFF_TYPES and ends_early(path, media_type):
        # libheif decodes a cut-off grid image without complaint, filling the missing tiles with green
        raise rejection_for(path, media_type, "", opened=False)
    try:
        image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="error")
    except pyvips.Error as error:
        if media_type in HEIF_TYPES:
            return _read_heif_header(path, media_type, error)
        raise rejection_for(path, media_type, str(error), opened=False) from None
    exif = blob(image, "exif-data")
    orientation = None if media_type in HEIF_TYPES else int_field(image, "orientation")
    if orientation is not None and not 1 <= orientation <= 8:
        orientation = None  # libvips' autorotation leaves such an image as it is
    icc = blob(image, "icc-profile-data")
    return Header(
        width=int(image.width), height=int(image.height), orientation=orientation, exif=exif, icc=icc
    )


def _read_heif_header(path: Path, media_type: str, vips_error: pyvips.Error) -> Header:
    """libheif's own header reader, for HEIF files libvips' loader refuses."""
    try:
        heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=True)
        width, height = heif.size
        exif = heif.info.get("exif")
    except Exception as error:
        raise rejection_for(path, media_type, f"{vips_error}\n{error}", opened=False) from None
    return Header(width=int(width), height=int(height), orientation=None, exif=exif or None, heif=heif)


def reported_orientation(media_type: str, header: Header, info: ExifInfo) -> int | None:
    """The EXIF orientation the event reports: libvips' (``header.orientation``), the one its autorotation,
    the displayed width and height and the JPEG's deferred turn all use, so the event agrees with its
    dimensions and thumbnail even where Pillow's reader would parse the tag differently.

    HEIC/HEIF/AVIF are turned by their container (``irot``/``imir``, applied by libheif) and libvips gives
    them no orientation: their EXIF tag (Pillow's parse) is reported as stored, never applied.
    """
    if header.orientation is not None:
        return header.orientation
    return info.orientation if media_type in ISOBMFF_TYPES else None


def exif_info(path: Path, media_type: str, header: Header) -> ExifInfo:
    """Capture time, GPS, camera and lens: from the header's EXIF block, for a TIFF from its own IFDs."""
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


def blob(image: pyvips.Image, name: str) -> bytes | None:
    """A binary metadata field of a libvips image (``exif-data``, ``icc-profile-data``); None if absent."""
    if image.get_typeof(name) == 0:
        return None
    value = image.get(name)
    return bytes(value) if value else None


def int_field(image: pyvips.Image, name: str) -> int | None:
    """An integer metadata field of a libvips image (``orientation``); None if absent or not a number."""
    if image.get_typeof(name) == 0:
        return None
    try:
        return int(image.get(name))
    except (TypeError, ValueError):
        return None
