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
   is made from it (``pixels.Working``). HEIC/HEIF pixels are decoded by pillow-heif (the
   pyvips wheel has no HEVC decoder) and wrapped as a libvips image; their rotation comes from the container
   (``irot``/``imir``, applied by libheif), never from the EXIF tag.
4. **Signals** from that working image (see ``compute_signals``), then the 400 px **thumbnail** is made from
   it in memory: a 12 MP JPEG is never decoded at full resolution for either.
5. **Conversion** (a separate, full-quality decode) only for non-web formats (HEIC/HEIF/TIFF/AVIF/GIF) or
   photos whose long side is above ``Limits.convert_long_side_px``: a JPEG scaled on the long side (never
   width-only), upright, sRGB, without metadata.

The libvips operation cache is off (set by the package, :mod:`services.media_process.photo`). Each thread
that computes signals keeps ~13 MB of numpy work arrays (:mod:`.signals`).

Speed (docs/benchmarks.md, "media"): ~53 ms of CPU per 12 MP JPEG, of which ~38 ms is the decode, mostly
libjpeg-turbo's entropy decoding, which no shrink-on-load avoids.
"""

from __future__ import annotations

from pathlib import Path

from services.media_process.model import Limits, PhotoResult, Rejected
from services.media_process.photo.decode import convert_from_file, decode_heif, load_for_signals
from services.media_process.photo.formats import CONVERTED_QUALITY, HEIF_TYPES, NON_WEB_TYPES, PHOTO_TYPES
from services.media_process.photo.header import exif_info, read_header, reported_orientation
from services.media_process.photo.pixels import fit, jpeg, pixels_in_memory, thumbnail_jpeg, upright
from services.media_process.photo.signals import signals_of
from shared.events import catalogue as c


def process_photo(path: Path, media_type: str, limits: Limits) -> PhotoResult:
    """Validate, describe, measure and thumbnail one photo; raise ``Rejected`` for a file we refuse."""
    if media_type not in PHOTO_TYPES:
        raise Rejected(
            "unsupported_type", f"The file is {media_type or 'of an unknown type'}, not a photo we read."
        )
    limits.check_size("photo", path.stat().st_size)

    header = read_header(path, media_type)
    limits.check_pixels("photo", header.width, header.height)
    info = exif_info(path, media_type, header)

    converted: bytes | None = None
    if media_type in HEIF_TYPES:
        full = decode_heif(path, media_type, header.heif)
        width, height = full.width, full.height  # upright already (the container's rotation is applied)
        working = pixels_in_memory(fit(full, limits.signal_px))
        converted = jpeg(fit(full, limits.convert_long_side_px), CONVERTED_QUALITY)
        del full
    else:
        width, height = header.width, header.height
        if header.orientation in (5, 6, 7, 8):
            width, height = height, width
        working = load_for_signals(path, media_type, header, limits.signal_px)
        if media_type in NON_WEB_TYPES or max(width, height) > limits.convert_long_side_px:
            whole = max(working.image.width, working.image.height) == max(width, height)  # the whole photo
            if whole:
                turned = upright(working.image, working.orientation)
                converted = jpeg(fit(turned, limits.convert_long_side_px), CONVERTED_QUALITY)
            else:
                converted = convert_from_file(path, media_type, limits.convert_long_side_px)

    signals = signals_of(working)
    thumbnail = thumbnail_jpeg(working, limits.thumbnail_px)
    metadata = c.MediaMetadata(
        captured_at=info.captured_at,
        utc_offset=info.utc_offset,
        gps=info.gps,
        make=info.make,
        model=info.model,
        lens=info.lens,
        orientation=reported_orientation(media_type, header, info),
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
