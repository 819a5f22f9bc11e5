"""Rejection reasons: a decoder failure mapped to a stable code and a sentence a person reads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from services.media_process import isobmff
from services.media_process.model import Rejected
from services.media_process.photo.formats import HEIF_TYPES, ISOBMFF_TYPES
from services.media_process.sniff import HEAD_BYTES, sniff

#: decoder messages that mean the data stops early (libjpeg, libspng, libwebp, giflib/nsgif, libtiff, libheif)
_TRUNCATION_RE = re.compile(
    r"premature end of jpeg|unexpected end|truncated|end of file|end of stream|end of data\b(?! segment)"
    r"|bad seek|not enough data|short read|\beof\b",
    re.IGNORECASE,
)
_NOT_KNOWN_RE = re.compile(r"is not a known file format|no known (?:loader|decoder)", re.IGNORECASE)
_STACK_RE = re.compile(r"^unable to (?:call|copy|write|load)\b")  # libvips' own call-stack lines
_PREFIX_RE = re.compile(r"^(?:Vips\w*|vips\w*|heif|gifload|webp|tiff2vips|jpeg2vips|png2vips|svgload):\s*")


def rejection_for(path: Path, media_type: str, detail: str, *, opened: bool) -> Rejected:
    """Map a decoder failure to a reason code; the message names the problem in plain words."""
    said = _plain(detail, path)
    what = _FORMAT_NAMES.get(media_type, "image")
    if not opened and not _content_is(path, media_type):
        return Rejected("unsupported_type", f"The file's content is not {what} data{_because(said)}.")
    early = ends_early(path, media_type)
    if early or (early is None and _TRUNCATION_RE.search(detail)):
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
    return sniffed.media_type == media_type or {sniffed.media_type, media_type} <= HEIF_TYPES


def ends_early(path: Path, media_type: str) -> bool | None:
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
            if media_type in ISOBMFF_TYPES:
                return isobmff.cut_short(f, size)  # a top-level box runs past the end
    except OSError:
        return None
    return None


def _tiff_ends_early(head: bytes, size: int) -> bool:
    if len(head) < 8:
        return True
    order: Any = "little" if head[:2] == b"II" else "big"
    return int.from_bytes(head[4:8], order) >= size
