"""The thumbnail: the frame at 1 s (the first frame of a short clip), upright, fit into the thumbnail box."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import ffmpeg

from services.media_process.model import Limits, Rejected
from services.media_process.video.probe import Probed
from services.media_process.video.reasons import TRUNCATED, UNDECODABLE
from shared.runtime import ffmpeg as tools

log = logging.getLogger("shoebox.media_process.video")  # one logger for the whole video pipeline

THUMBNAIL_NAME = "thumbnail.jpg"
_THUMBNAIL_AT_S = 1.0
#: clips shorter than this get their first frame as the thumbnail
_SHORT_CLIP_S = 1.2


def make_thumbnail(path: Path, probed: Probed, limits: Limits, workdir: Path) -> bytes:
    """JPEG of the frame at 1 s (the first frame of a short clip), upright, fit into the thumbnail box."""
    out = workdir / THUMBNAIL_NAME
    short = probed.duration_s is not None and probed.duration_s < _SHORT_CLIP_S
    attempts = [None] if short else [_THUMBNAIL_AT_S, None]
    runs: list[tools.ToolRun] = []
    for at in attempts:
        out.unlink(missing_ok=True)
        run = tools.run_ffmpeg(_thumbnail_node(path, probed, limits, out, at), limits.ffmpeg_timeout_s)
        runs.append(run)
        if run.timed_out:
            out.unlink(missing_ok=True)
            raise Rejected(
                "undecodable",
                f"Decoding a frame of the video took longer than {limits.ffmpeg_timeout_s:g} s, so it was "
                "given up.",
            )
        if run.ok and out.is_file() and out.stat().st_size > 0:
            data = out.read_bytes()
            out.unlink()
            return data
    out.unlink(missing_ok=True)
    runs[-1].raise_for_invocation(outputs=[out])
    log.info("no frame decoded: %s", runs[-1].describe())
    if any("partial file" in r.stderr for r in runs):
        raise Rejected("truncated", TRUNCATED)
    raise Rejected("undecodable", UNDECODABLE)


def _thumbnail_node(path: Path, probed: Probed, limits: Limits, out: Path, at: float | None) -> Any:
    seek = {"ss": at} if at is not None else {}
    # -autorotate is ffmpeg's default; said explicitly because the thumbnail depends on it
    stream = tools.safe_input(path, autorotate=1, **seek)[str(probed.stream.index)]
    stream = square_pixels(stream, probed)
    box = limits.thumbnail_px
    stream = stream.filter(
        "scale", f"min({box},iw)", f"min({box},ih)", force_original_aspect_ratio="decrease"
    )
    return ffmpeg.output(stream, str(out), vframes=1, an=None, sn=None, dn=None, **{"q:v": 3})


def square_pixels(stream: Any, probed: Probed) -> Any:
    """Anamorphic video (non-square pixels) stretched to its display aspect before any other scaling."""
    if probed.stream.square_pixels:
        return stream
    return stream.filter("scale", "round(iw*sar)", "ih").filter("setsar", 1)
