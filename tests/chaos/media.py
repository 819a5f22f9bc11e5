"""The chaos runs' session: the same 36 files every run, chosen from the reference media
(``../shared/testdata``, used in place: linked into a temporary folder, never copied into the repository).

Photos of nine cameras, EXIF orientations in both layouts, GPS photos, an iPhone HEIC and a HEIF, the
corrupt and the two invalid JPEGs, two real clips and two odd ones (a minimal MP4, an encrypted one), and
one pair of files with the same bytes under two names (``twin``): the CLI sets the second aside itself
(it is never uploaded by it), so the harness uploads that one through the API on its own, alongside the
CLI's uploads, and media_process has a duplicate to decide while the first is in flight.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.paths import TESTDATA

#: the session's files, relative to the reference media folder
FILES: tuple[str, ...] = (
    *(
        f"photos/cameras/{n}"
        for n in (
            "Canon_40D.jpg",
            "Konica_Minolta_DiMAGE_Z3.jpg",
            "Nikon_D70.jpg",
            "Panasonic_DMC-FZ30.jpg",
            "Pentax_K10D.jpg",
            "Samsung_Digimax_i50_MP3.jpg",
            "canon_hdr_NO.jpg",
            "canon_hdr_YES.jpg",
            "jolla.jpg",
        )
    ),
    "photos/heic/IMG_5195.HEIC",
    "photos/heic/samplefilehub.heif",
    "photos/broken/corrupted.jpg",
    "photos/broken/invalid_00971.jpg",
    "photos/broken/invalid_01088.jpg",
    *(f"photos/gps/DSCN00{n}.jpg" for n in ("10", "12", "21", "25", "27")),
    *(f"photos/orientation/landscape_{n}.jpg" for n in range(1, 9)),
    *(f"photos/orientation/portrait_{n}.jpg" for n in (1, 3, 6, 8)),
    "videos/real/carphone_pristine.mp4",
    "videos/real/bikes.mp4",
    "videos/odd/minimal.mp4",
    "videos/odd/short-cenc.mp4",
)
#: the same bytes as ``FILES[TWIN_OF]`` under another name: the 36th file
TWIN_OF = "photos/gps/DSCN0010.jpg"
TWIN = "photos/gps/DSCN0010 twin.jpg"
COUNT = len(FILES) + 1


def prepare(folder: Path) -> list[Path]:
    """Link the session's files into ``folder`` (the same tree as the reference media); returns them
    sorted. Raises ``FileNotFoundError`` when the reference media are not beside the checkout."""
    if not TESTDATA.is_dir():
        raise FileNotFoundError(f"the reference media are not at {TESTDATA}")
    out = []
    for rel, source in [*((f, f) for f in FILES), (TWIN, TWIN_OF)]:
        dest = folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists():
            _link(TESTDATA / source, dest)
        out.append(dest)
    return sorted(out)


def _link(source: Path, dest: Path) -> None:
    """A symlink: the CLI reads through it, and nothing is copied. (A hard link would do as well, but the
    reference media may be on another file system.)"""
    os.symlink(source.resolve(), dest)
