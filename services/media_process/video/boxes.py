"""Box structure: the MP4/MOV box headers (and ``moov``) read for encryption and truncation, before any
tool sees the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec

from services.media_process import isobmff


class BoxScan(msgspec.Struct, frozen=True, kw_only=True):
    """The box structure of an MP4/MOV file, from its box headers and its ``moov``."""

    encrypted: bool = False
    truncated: bool = False
    has_moov: bool = False


_ISOBMFF_TOP = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp", b"sidx", b"uuid"}
#: boxes whose payload is a list of boxes, on the way to the sample entries and pssh
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof", b"traf", b"edts", b"udta"}
#: protected sample entries (ISO/IEC 14496-12 8.12, 23001-7) and Apple FairPlay's
_PROTECTED_ENTRIES = {b"encv", b"enca", b"enct", b"encs", b"encm", b"encf", b"drmi", b"drms"}
_MAX_MOOV_BYTES = 64 * 1024 * 1024


def is_isobmff(head: bytes) -> bool:
    """Whether the file's first bytes are an ISO base media (MP4/MOV) top-level box."""
    return head[4:8] in _ISOBMFF_TOP


def scan_isobmff(path: Path) -> BoxScan:
    """Walk the top-level boxes of an MP4/MOV: encryption (sample entries, ``pssh``) and truncation.

    Reads 8 or 16 bytes per top-level box plus the ``moov`` (and the first few ``moof``) payload, never
    ``mdat``. A box header that is not a box (size below its header) ends the walk without a verdict:
    ffprobe judges such files (``isobmff.TopLevel``).
    """
    encrypted = has_moov = False
    fragments = 0
    with path.open("rb") as f:
        walk = isobmff.TopLevel(f, path.stat().st_size)
        for box in walk:
            if box.kind == b"moov" or (box.kind == b"moof" and fragments < 4):
                has_moov = has_moov or box.kind == b"moov"
                fragments += box.kind == b"moof"
                if box.payload_len <= _MAX_MOOV_BYTES:
                    f.seek(box.payload_start)
                    encrypted = encrypted or any(_protected(f.read(box.payload_len)))
            elif box.kind == b"pssh":
                encrypted = True
    return BoxScan(encrypted=encrypted, truncated=walk.truncated, has_moov=has_moov)


def _protected(data: bytes) -> Iterator[bool]:
    """True for each protected sample entry or ``pssh`` box under these boxes."""
    for kind, body in isobmff.child_boxes(data):
        if kind == b"pssh":
            yield True
        elif kind in _CONTAINERS:
            yield from _protected(body)
        elif kind == b"stsd" and len(body) >= 8:  # version/flags, entry count, sample entries
            yield from (entry in _PROTECTED_ENTRIES for entry, _ in isobmff.child_boxes(body[8:]))
