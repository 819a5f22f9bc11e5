"""ISO base media file format (ISO/IEC 14496-12: MP4, MOV, 3GP, HEIF/HEIC, AVIF): walking box headers.

A box starts with its size (32-bit big-endian, header included) and its four-character type; size 1 means a
64-bit size follows the type, size 0 that the box runs to the end of the file (or of its parent). The photo
pipeline asks whether a HEIC/AVIF was cut short; the video pipeline that and whether an MP4/MOV is
encrypted. Both read the box headers only, never the media data.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

#: top-level boxes walked at most (a fragmented MP4 has two per fragment)
MAX_TOP_BOXES = 200_000


class Box(NamedTuple):
    kind: bytes  # the four-character type, e.g. b"moov"
    start: int  # offset of the box's header
    header_len: int  # 8, or 16 with a 64-bit size
    size: int  # header included

    @property
    def payload_start(self) -> int:
        return self.start + self.header_len

    @property
    def payload_len(self) -> int:
        return self.size - self.header_len


class TopLevel:
    """The top-level boxes of a file, read from their headers (8 or 16 bytes per box).

    Iterating yields each box that fits in the file, in order. The walk ends at the end of the file; at a
    header that is not a box's (a size below its own header) or with fewer than 8 bytes left (no verdict: a
    decoder or ffprobe judges such files); after ``MAX_TOP_BOXES`` boxes; or at a box, or a 64-bit size,
    that runs past the end of the file: ``truncated`` is then set when its type is four printable
    characters (a box cut short, rather than bytes that are no box structure).
    """

    def __init__(self, f: BinaryIO, end: int) -> None:
        self.f = f
        self.end = end
        self.truncated = False

    def __iter__(self) -> Iterator[Box]:
        offset = 0
        for _ in range(MAX_TOP_BOXES):
            if offset + 8 > self.end:
                return
            self.f.seek(offset)
            head = self.f.read(16)
            size, kind = struct.unpack(">I4s", head[:8])
            header_len = 8
            if size == 1:
                if len(head) < 16:
                    self.truncated = is_fourcc(kind)
                    return
                size = struct.unpack(">Q", head[8:16])[0]
                header_len = 16
            elif size == 0:  # runs to the end of the file
                size = self.end - offset
            if size < header_len:
                return
            if offset + size > self.end:
                self.truncated = is_fourcc(kind)
                return
            yield Box(kind, offset, header_len, size)
            offset += size


def cut_short(f: BinaryIO, end: int) -> bool:
    """Whether a top-level box of the file (``end`` bytes long) runs past its end (``TopLevel``)."""
    walk = TopLevel(f, end)
    for _ in walk:
        pass
    return walk.truncated


def child_boxes(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each box in ``data`` (a box's payload that is a list of boxes), in order; the
    walk ends at a header that is not a box's, and the last payload may be cut at the end of ``data``."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, offset)
        header_len = 8
        if size == 1 and offset + 16 <= len(data):
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header_len = 16
        elif size == 0:
            size = len(data) - offset
        if size < header_len:
            return
        yield kind, data[offset + header_len : offset + size]
        offset += size


def is_fourcc(kind: bytes) -> bool:
    """Four printable ASCII characters, as every box type is."""
    return all(0x20 <= b < 0x7F for b in kind)
