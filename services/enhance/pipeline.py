"""One photo through the phases: load upright in sRGB, phase 1, phase 2, the stop rule, phase 3 (at most 3
surgical edits), then the full-resolution JPEG (sRGB profile embedded, EXIF kept minus orientation) and its
400 px thumbnail. The handler calls ``enhance_photo`` and turns each ``PhaseResult`` into an event."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import msgspec
import pillow_heif
import pyvips

from services.enhance.model import Analysis, Edit, PhaseResult
from services.enhance.provider import EditContext, EnhanceProvider

#: the stop rule's score (reference-system §7: 8.5); a setting once the handler exists
SCORE_THRESHOLD = 8.5
MAX_SURGICAL_EDITS = 3
THUMBNAIL_LONG_SIDE = 400
JPEG_QUALITY, THUMBNAIL_QUALITY = 95, 82
HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")


class Enhanced(msgspec.Struct, frozen=True, kw_only=True):
    """The result: the enhanced JPEG and its thumbnail (bytes), every edit made, the last analysis."""

    jpeg: bytes
    thumbnail: bytes
    width: int
    height: int
    edits: tuple[Edit, ...]
    analysis: Analysis | None
    phases: tuple[PhaseResult, ...]


def is_heif(path: Path) -> bool:
    """Whether the file is an ISO-BMFF HEIF/HEIC/AVIF (by its ``ftyp`` brand, not its name)."""
    with path.open("rb") as f:
        head = f.read(12)
    return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS


def load_upright_srgb(path: Path) -> tuple[pyvips.Image, bytes | None]:
    """The photo, upright, 8-bit 3-band sRGB, no metadata; and its EXIF block (None if it has none). Its
    pixels are in memory once: the decoder's own buffer when nothing else made them, else one ``copy_memory``.

    HEIF goes through libheif (pillow-heif), which applies the container's rotation itself; the libvips
    wheel has no HEVC decoder (../shared/docs/media-toolchain.md). Anything else: libvips, turned by its
    EXIF orientation.
    """
    exif: bytes | None = None
    # whether anything but the decoder made these pixels: then they are computed once, into memory, here;
    # otherwise the decoder's own buffer (a JPEG is decoded whole into memory on first read) is read as it is
    converted = False
    if is_heif(path):
        heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=True)
        rgb = heif.to_pillow().convert("RGB")
        image = pyvips.Image.new_from_memory(rgb.tobytes(), rgb.width, rgb.height, 3, "uchar")
        icc = heif.info.get("icc_profile")
        if icc:
            image.set_type(pyvips.GValue.blob_type, "icc-profile-data", bytes(icc))
        raw = heif.info.get("exif")
        exif = bytes(raw) if raw else None
    else:
        image = pyvips.Image.new_from_file(str(path), fail_on="error")
        fields = image.get_fields()
        if "exif-data" in fields:
            exif = bytes(image.get("exif-data"))
        if "orientation" in fields and image.get("orientation") != 1:
            image = image.autorot()
            converted = True
    if "icc-profile-data" in image.get_fields():
        with contextlib.suppress(pyvips.Error):  # a broken profile: the numbers are taken as they are
            image = image.icc_transform("srgb", embedded=True, intent="perceptual")
            converted = True
    if image.interpretation not in ("srgb", "b-w") or image.format != "uchar":
        image = image.colourspace("srgb").cast("uchar")
        converted = True
    if image.hasalpha():
        image = image.flatten(background=[255.0] * (image.bands - 1))
        converted = True
    if image.bands < 3:
        image = image[0].bandjoin([image[0], image[0]])
        converted = True
    elif image.bands > 3:
        image = image.extract_band(0, n=3)
        converted = True
    return bare(image.copy_memory() if converted else image), exif


#: the fields every image has (its header); ``bare`` removes every other one
HEADER_FIELDS = frozenset(pyvips.Image.black(1, 1).get_fields())


def bare(image: pyvips.Image) -> pyvips.Image:
    """``image`` as 3-band sRGB with no metadata but its header (no pixels move: a copy of the header):
    nothing rides along through the edits (EXIF is put back, minus orientation, at the end; the resolution
    is libvips' default, as for an image made from memory)."""
    out = image.copy(interpretation="srgb", xres=1.0, yres=1.0, xoffset=0, yoffset=0)
    for name in out.get_fields():
        if name not in HEADER_FIELDS:
            out.remove(name)
    return out


def enhance_photo(
    path: Path,
    provider: EnhanceProvider,
    *,
    context: EditContext | None = None,
    feedback: str | None = None,
    on_phase: Callable[[PhaseResult], None] | None = None,
    threshold: float = SCORE_THRESHOLD,
) -> Enhanced:
    """Enhance the photo at ``path``: phase 1 (or a feedback pass), phase 2, and phase 3 unless the stop rule
    holds (the score reaches ``threshold`` or nothing of high or medium impact remains); ``on_phase`` is
    called after each phase (and each surgical edit) with what it did."""
    image, exif = load_upright_srgb(path)
    phases: list[PhaseResult] = []

    def report(result: PhaseResult) -> None:
        phases.append(result)
        if on_phase is not None:
            on_phase(result)

    image, outcome = provider.creative_edit(image, context or EditContext(), feedback)
    image = image.copy_memory()  # computed once: analysis and phase 3 read it
    report(
        PhaseResult(
            phase="feedback" if feedback is not None else "creative", edits=outcome.edits, note=outcome.note
        )
    )
    analysis: Analysis | None = None
    if feedback is None:
        analysis = provider.analyse(image)
        report(PhaseResult(phase="analysis", analysis=analysis, note=analysis.summary))
        if analysis.score < threshold:
            for step, improvement in enumerate(analysis.actionable()[:MAX_SURGICAL_EDITS], start=1):
                image, outcome = provider.surgical_edit(image, improvement)
                image = image.copy_memory()
                report(PhaseResult(phase="surgical", edits=outcome.edits, note=outcome.note, step=step))
    edits = tuple(e for p in phases for e in p.edits)
    return Enhanced(
        jpeg=encode(image, exif, JPEG_QUALITY),
        thumbnail=encode(
            image.thumbnail_image(THUMBNAIL_LONG_SIDE, height=THUMBNAIL_LONG_SIDE, size="down"),
            None,
            THUMBNAIL_QUALITY,
        ),
        width=image.width,
        height=image.height,
        edits=edits,
        analysis=analysis,
        phases=tuple(phases),
    )


def encode(image: pyvips.Image, exif: bytes | None, quality: int) -> bytes:
    """A JPEG, sRGB profile embedded, with ``exif`` (orientation reset to 1: the pixels are upright)."""
    out = image.copy()
    if exif:
        out.set_type(pyvips.GValue.blob_type, "exif-data", exif)
        out.set_type(pyvips.GValue.gint_type, "orientation", 1)
    data = out.jpegsave_buffer(
        Q=quality, profile="srgb", optimize_coding=True, keep="exif,icc" if exif else "icc"
    )
    return bytes(data)
