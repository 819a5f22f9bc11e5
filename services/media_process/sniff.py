"""What a file really is, from its first bytes, never from its name."""

from __future__ import annotations

from typing import Literal

import msgspec

#: bytes of the file's head that ``sniff`` needs
HEAD_BYTES = 4096

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


class Sniffed(msgspec.Struct, frozen=True):
    kind: Literal["photo", "video"]
    media_type: str


def sniff(head: bytes) -> Sniffed | None:
    """The photo or video format the bytes start with; None for anything else."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("photo", "image/jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("photo", "image/png")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("photo", "image/gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return Sniffed("photo", "image/webp")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video", "video/x-msvideo")
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return Sniffed("photo", "image/tiff")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "video/webm" if b"webm" in head[:64] else "video/x-matroska")
    if len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:
        return Sniffed("video", "video/mp2t")
    if head[4:8] == b"ftyp":
        return _sniff_isobmff(head)
    if head[4:8] in _QT_ATOMS:
        return Sniffed("video", "video/quicktime")
    return None


def _sniff_isobmff(head: bytes) -> Sniffed:
    size = int.from_bytes(head[:4], "big")
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, min(size, len(head), 64), 4)}
    major = head[8:12]
    if major in _AVIF_BRANDS:
        return Sniffed("photo", "image/avif")
    if major in _HEIF_BRANDS or (brands & _HEIF_BRANDS and not brands & {b"isom", b"mp41", b"mp42", b"qt  "}):
        return Sniffed("photo", "image/heic" if brands & {b"heic", b"heix"} else "image/heif")
    if major == b"qt  ":
        return Sniffed("video", "video/quicktime")
    if major.startswith(b"3g"):
        return Sniffed("video", "video/3gpp")
    if major in (b"M4V ", b"M4VH", b"M4VP"):
        return Sniffed("video", "video/x-m4v")
    return Sniffed("video", "video/mp4")
