"""The photo pipeline (``process_photo``: see :mod:`.pipeline`), one module per stage.

- :mod:`.pipeline`: the entry point, and the order of work.
- :mod:`.formats`: the media types it reads, the JPEG qualities it writes.
- :mod:`.header`: validation and metadata from the header, before any pixel is decoded.
- :mod:`.decode`: the one decode to the working size, the full-quality decodes for a converted copy.
- :mod:`.pixels`: the working image in memory, scaled, turned upright, 8-bit sRGB, encoded.
- :mod:`.signals`: quality signals and the perceptual hash.
- :mod:`.rejection`: decoder failures as reason codes and plain sentences.

Process-wide libvips setting made here: the operation cache is off (``pyvips.cache_set_max(0)``). Every file
is processed once, so the cache would only hold decoded images in memory and could hand back a stale result
for a reused temp file path.
"""

import pyvips

from services.media_process.photo.formats import CONVERTED_QUALITY, PHOTO_TYPES, THUMBNAIL_QUALITY
from services.media_process.photo.pipeline import process_photo
from services.media_process.photo.signals import compute_signals, phash_distance, phash_of_grey32

pyvips.cache_set_max(0)

__all__ = [
    "CONVERTED_QUALITY",
    "PHOTO_TYPES",
    "THUMBNAIL_QUALITY",
    "compute_signals",
    "phash_distance",
    "phash_of_grey32",
    "process_photo",
]
