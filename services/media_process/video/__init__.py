"""The video pipeline (``process_video``: see :mod:`.pipeline`), one module per stage.

- :mod:`.pipeline`: the entry point, and the order of work.
- :mod:`.boxes`: the MP4/MOV box structure (encryption, truncation) before any tool reads the file.
- :mod:`.probe`: ffprobe's answer as the video track and the clip's metadata.
- :mod:`.thumbnail`: the frame at 1 s as a JPEG.
- :mod:`.preview`: the H.264 preview and the luma signals from the same decode.
- :mod:`.reasons`: the sentences a rejected video is given.
"""

from services.media_process.video.boxes import BoxScan, scan_isobmff
from services.media_process.video.pipeline import process_video
from services.media_process.video.preview import (
    PREVIEW_MAX_S,
    PREVIEW_NAME,
    PREVIEW_REAL_TIME_FACTOR,
    make_preview,
    measure_signals,
    parse_signalstats,
    preview_deadline_s,
)
from services.media_process.video.probe import (
    Probed,
    VideoStream,
    capture_time,
    describe,
    frame_rate,
    iso6709,
    probe_video,
    rotation_of,
)
from services.media_process.video.thumbnail import THUMBNAIL_NAME, make_thumbnail

__all__ = [
    "PREVIEW_MAX_S",
    "PREVIEW_NAME",
    "PREVIEW_REAL_TIME_FACTOR",
    "THUMBNAIL_NAME",
    "BoxScan",
    "Probed",
    "VideoStream",
    "capture_time",
    "describe",
    "frame_rate",
    "iso6709",
    "make_preview",
    "make_thumbnail",
    "measure_signals",
    "parse_signalstats",
    "preview_deadline_s",
    "probe_video",
    "process_video",
    "rotation_of",
    "scan_isobmff",
]
