"""A small sample trip, made on the spot, for ``shoebox demo`` when ``../shared/testdata`` is not there.

Photos drawn with libvips (gradients and shapes at a few sizes, with EXIF camera, capture time and GPS; one
stored sideways with EXIF orientation 6), a PNG, a 3-second MP4 from ffmpeg's test source, and the cases a
real card has: a truncated JPEG, a text file named ``.jpg`` and an exact copy of a photo in a subfolder.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pyvips

#: the trip's place (Lisbon), for the photos' GPS tags
_LAT = ("N", "38/1 42/1 3000/100")
_LON = ("W", "9/1 8/1 1200/100")


def _gradient(
    width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]
) -> pyvips.Image:
    y = pyvips.Image.xyz(width, height)[1] / max(1, height - 1)
    bands = [y * (b - t) + t for t, b in zip(top, bottom, strict=True)]
    image = bands[0].bandjoin(bands[1:]).cast("uchar").copy(interpretation="srgb")
    return image.copy_memory()


def _exif(
    image: pyvips.Image,
    *,
    taken: str,
    make: str = "Shoebox",
    model: str = "Sample Camera",
    gps: bool = True,
    orientation: int | None = None,
) -> pyvips.Image:
    image = image.copy()
    fields = {"exif-ifd0-Make": make, "exif-ifd0-Model": model, "exif-ifd2-DateTimeOriginal": taken}
    if gps:
        fields |= {
            "exif-ifd3-GPSLatitudeRef": _LAT[0],
            "exif-ifd3-GPSLatitude": _LAT[1],
            "exif-ifd3-GPSLongitudeRef": _LON[0],
            "exif-ifd3-GPSLongitude": _LON[1],
        }
    for name, value in fields.items():
        image.set_type(pyvips.GValue.gstr_type, name, value)
    if orientation is not None:
        image.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return image


def _sunset(width: int, height: int) -> pyvips.Image:
    image = _gradient(width, height, (250, 170, 90), (120, 50, 110))
    image = image.draw_circle([255, 225, 140], width // 2, int(height * 0.62), height // 7, fill=True)
    image = image.draw_rect([45, 30, 60], 0, int(height * 0.72), width, height, fill=True)
    for i in range(9):  # rooftops
        w = width // 9
        image = image.draw_rect(
            [70, 40, 70], i * w, int(height * (0.62 + 0.03 * (i % 3))), w - 6, height, fill=True
        )
    return image


def _harbour(width: int, height: int) -> pyvips.Image:
    image = _gradient(width, height, (150, 200, 240), (20, 70, 130))
    image = image.draw_rect([30, 90, 150], 0, height * 2 // 3, width, height // 3, fill=True)
    for i, x in enumerate(range(width // 10, width, width // 4)):
        hull = [200, 60, 50] if i % 2 else [240, 240, 235]
        image = image.draw_rect(hull, x, height * 2 // 3 - 30, width // 7, 34, fill=True)
        image = image.draw_line(
            [60, 50, 40], x + width // 14, height * 2 // 3 - 30, x + width // 14, height // 3
        )
    return image


def _tiles(size: int, cell: int) -> pyvips.Image:
    xyz = pyvips.Image.xyz(size, size)
    checker = ((xyz[0] / cell).floor() + (xyz[1] / cell).floor()) % 2
    image = (
        (checker == 0).ifthenelse([28, 68, 160], [242, 240, 232]).cast("uchar").copy(interpretation="srgb")
    )
    image = image.copy_memory()
    for cx in range(cell // 2, size, cell):
        for cy in range(cell // 2, size, cell):
            image = image.draw_circle([225, 180, 40], cx, cy, cell // 5, fill=True)
    return image


def _tower(width: int, height: int) -> pyvips.Image:
    image = _gradient(width, height, (120, 170, 225), (235, 225, 200))
    tower_w = width // 4
    x = (width - tower_w) // 2
    image = image.draw_rect([225, 215, 190], x, height // 4, tower_w, height, fill=True)
    image = image.draw_rect(
        [205, 190, 160], x - tower_w // 6, height // 4 - 24, tower_w + tower_w // 3, 30, fill=True
    )
    for row in range(3):  # windows
        image = image.draw_rect(
            [70, 60, 55],
            x + tower_w // 3,
            height // 3 + row * height // 6,
            tower_w // 3,
            height // 12,
            fill=True,
        )
    return image.draw_rect([60, 110, 60], 0, height * 7 // 8, width, height // 8, fill=True)


def _map(width: int, height: int) -> pyvips.Image:
    image = _gradient(width, height, (236, 230, 214), (222, 214, 196))
    image = image.draw_rect([160, 200, 230], 0, height * 3 // 4, width, height // 4, fill=True)  # the river
    for i in range(1, 6):
        image = image.draw_line([190, 180, 160], i * width // 6, 0, i * width // 6 - 40, height * 3 // 4)
    return image.draw_circle([210, 50, 50], width * 2 // 3, height // 2, 14, fill=True)


def _video(path: Path) -> bool:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=3:size=640x360:rate=25",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(path),
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    return True


def generate(dest: Path) -> list[Path]:
    """Write the sample trip into ``dest`` (created if needed); returns the files made, sorted.
    The video is left out when ffmpeg is not installed."""
    dest.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []

    def jpeg(name: str, image: pyvips.Image, **exif: object) -> Path:
        path = dest / name
        _exif(image, **exif).jpegsave(str(path), Q=85)  # type: ignore[arg-type]
        made.append(path)
        return path

    jpeg("lisbon-sunset.jpg", _sunset(1600, 1066), taken="2024:05:03 19:42:10")
    harbour = jpeg(
        "harbour.jpg", _harbour(1024, 768), taken="2024:05:04 09:15:00", make="Fujifilm", model="X100V"
    )
    jpeg("tiles.jpg", _tiles(640, 80), taken="2024:05:04 12:01:30", gps=False)
    # stored 1200x800 (turned a quarter to the left) with EXIF orientation 6: shown upright it is an 800x1200
    # portrait, as a phone held upright stores it
    jpeg("tower-portrait.jpg", _tower(800, 1200).rot270(), taken="2024:05:05 11:20:00", orientation=6)
    png = dest / "map.png"
    _map(800, 500).pngsave(str(png))
    made.append(png)
    clip = dest / "tram.mp4"
    if _video(clip):
        made.append(clip)
    data = harbour.read_bytes()
    broken = dest / "broken.jpg"
    broken.write_bytes(data[: len(data) // 3])  # cut off mid-scan, as a pulled card leaves it
    notes = dest / "notes.jpg"
    notes.write_text("Day 2: tram 28 to the castle, pastéis in Belém, fado in Alfama.\n", encoding="utf-8")
    copy = dest / "shared" / "harbour.jpg"  # the same photo, sent back by a friend
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes(data)
    made += [broken, notes, copy]
    return sorted(made)
