"""What the photo pipeline reads and what it writes: the sniffed media types and the JPEG qualities."""

from __future__ import annotations

#: the sniffed media types this pipeline reads
PHOTO_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/heic",
        "image/heif",
        "image/avif",
    }
)
HEIF_TYPES = frozenset({"image/heic", "image/heif"})
ISOBMFF_TYPES = frozenset({"image/heic", "image/heif", "image/avif"})
#: formats the AI steps and browsers should not be handed as they are: always get a converted JPEG
NON_WEB_TYPES = frozenset({"image/heic", "image/heif", "image/tiff", "image/avif", "image/gif"})

THUMBNAIL_QUALITY = 82
CONVERTED_QUALITY = 88
