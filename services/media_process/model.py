"""What the media pipelines take and give back: plain values, no S3, no events.

``photo.process_photo`` and ``video.process_video`` are synchronous (libvips and ffmpeg release the GIL or
run in a child process); the handler runs them in a worker thread and uploads what they return.
A file the pipeline refuses raises ``Rejected`` with a stable reason code and a sentence a person reads.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from shared.events import catalogue as c
from shared.runtime.config import MediaSettings


class Rejected(Exception):
    """The file is refused: ``code`` is part of the event contract, ``message`` is for a person."""

    def __init__(self, code: c.RejectCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: c.RejectCode = code
        self.message = message


class Limits(MediaSettings, frozen=True, kw_only=True):
    """Input limits and output sizes: the media settings (``SHOEBOX_MEDIA_*``, with their defaults there)
    and the checks that apply them."""

    @classmethod
    def of(cls, media: MediaSettings) -> Limits:
        """The limits the process's settings give (``settings.media``)."""
        return cls(**msgspec.structs.asdict(media))

    def check_size(self, kind: c.MediaKind, size: int) -> None:
        """Refuse an empty or over-limit file from its byte count alone (before any download or decode)."""
        if size == 0:
            raise Rejected("empty", "The file is empty (0 bytes).")
        limit = self.max_video_bytes if kind == "video" else self.max_photo_bytes
        if size > limit:
            raise Rejected(
                "too_large", f"The {kind} is {_size_text(size)}; the limit is {_size_text(limit)}."
            )

    def check_pixels(self, kind: c.MediaKind, width: int, height: int) -> None:
        """Refuse an image, or a video's frames, of more than ``max_pixels`` pixels, from the dimensions its
        header gives (before any pixel is decoded); dimensions below 1 are undecodable."""
        photo = kind == "photo"
        if width <= 0 or height <= 0:
            raise Rejected(
                "undecodable",
                f"The {'image' if photo else 'video'} header gives impossible dimensions "
                f"({width} x {height}).",
            )
        if width * height > self.max_pixels:
            raise Rejected(
                "too_many_pixels",
                f"{'The image is' if photo else 'The video frames are'} {width:,} x {height:,} pixels "
                f"({_megapixels(width * height)} megapixels); the limit is {_megapixels(self.max_pixels)} "
                "megapixels.",
            )


def _megapixels(n: int) -> str:
    return f"{n / 1e6:,.1f}".removesuffix(".0")


def _size_text(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.1f} MB"


class PhotoResult(msgspec.Struct, frozen=True, kw_only=True):
    media_type: str  # e.g. "image/jpeg", sniffed
    metadata: c.MediaMetadata  # width/height as displayed (after orientation)
    signals: c.PhotoSignals
    thumbnail: bytes  # JPEG, long side = Limits.thumbnail_px (or smaller for smaller images), upright, sRGB
    converted: bytes | None = None  # JPEG when the original is HEIC/HEIF/TIFF/... or larger than the limit


class VideoResult(msgspec.Struct, frozen=True, kw_only=True):
    media_type: str
    metadata: c.MediaMetadata  # width/height as displayed (after rotation), duration, codec, fps, rotation
    signals: c.VideoSignals
    thumbnail: bytes  # JPEG of the frame at 1 s (the first frame of a shorter clip), upright, long side 400
    preview: Path | None = None  # MP4 (H.264, <= 720p) written inside the given work dir; None if it failed
