"""The media types Shoebox reads: one list, used by the API, the CLI and the upload page.

The list is exactly what media_process decodes (``services/media_process/sniff.py`` names each format by
its content; the photo pipeline's ``PHOTO_TYPES`` and the video pipeline take those), each with the file
extensions that carry it. Nothing else gets in:

- the API (``services.api.uploads.validate_upload``) accepts an upload only when its ``content_type`` is one
  of these tokens, compared exactly (no prefixes, no parameters, no case folding), and answers 400 otherwise:
  ``image/svg+xml``, ``image/``, ``image/jpeg\\r\\nX-Evil: 1`` and camera RAW types are refused before any
  URL is signed;
- the CLI (``shoebox_cli.inputs``) types each file by its extension from this table, and does not upload a
  file whose extension is not in it (it reports it as ``unsupported_type``);
- the page gets the same table from the API (``/static/media-types.js``, generated from ``BY_EXTENSION``)
  and keeps none of its own.

Camera RAW files (``.cr2``, ``.nef``, ``.dng``, ...) are not in the list: media_process has no RAW decoder
(libvips would read a TIFF-based RAW's undemosaiced sensor data or its small preview, never the photo).
The declared type is the client's claim: media_process still decides every file by its bytes.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Literal

import msgspec

Kind = Literal["photo", "video"]


class MediaType(msgspec.Struct, frozen=True):
    """One media type Shoebox reads: its exact token, whether it is a photo or a video, its extensions."""

    token: str
    kind: Kind
    #: lower-case, with the dot; the first is the usual one
    extensions: tuple[str, ...]


MEDIA_TYPES: tuple[MediaType, ...] = (
    MediaType("image/jpeg", "photo", (".jpg", ".jpeg", ".jpe", ".jfif")),
    MediaType("image/png", "photo", (".png",)),
    MediaType("image/gif", "photo", (".gif",)),
    MediaType("image/webp", "photo", (".webp",)),
    MediaType("image/tiff", "photo", (".tif", ".tiff")),
    MediaType("image/heic", "photo", (".heic",)),
    MediaType("image/heif", "photo", (".heif",)),
    MediaType("image/avif", "photo", (".avif",)),
    MediaType("video/mp4", "video", (".mp4",)),
    MediaType("video/quicktime", "video", (".mov", ".qt")),
    MediaType("video/x-m4v", "video", (".m4v",)),
    MediaType("video/3gpp", "video", (".3gp",)),
    # sniffed as video/3gpp (its "3g2a" brand): the same container, its own registered type
    MediaType("video/3gpp2", "video", (".3g2",)),
    MediaType("video/x-matroska", "video", (".mkv",)),
    MediaType("video/webm", "video", (".webm",)),
    MediaType("video/x-msvideo", "video", (".avi",)),
    # camcorders' AVCHD; not ".ts", which is far more often a TypeScript file than a video
    MediaType("video/mp2t", "video", (".mts", ".m2ts")),
)

#: token -> photo or video
KINDS: dict[str, Kind] = {m.token: m.kind for m in MEDIA_TYPES}
#: extension (lower-case, with the dot) -> token
BY_EXTENSION: dict[str, str] = {ext: m.token for m in MEDIA_TYPES for ext in m.extensions}


def kind_of(content_type: str) -> Kind | None:
    """``photo`` or ``video`` when ``content_type`` is exactly one of the tokens Shoebox reads, else None."""
    return KINDS.get(content_type)


def by_name(name: str) -> str | None:
    """The media type a file name's extension says (case-insensitive), or None when Shoebox reads no such
    file."""
    return BY_EXTENSION.get(PurePosixPath(name).suffix.lower())


def described() -> str:
    """The tokens, for a message that says what is accepted."""
    return ", ".join(m.token for m in MEDIA_TYPES)
