"""The scale benchmark's photos: N distinct JPEGs of 2-12 MP that look (to a JPEG encoder) like photos.

Each photo is a function of its index and ``VERSION`` alone, so the set is made once, kept in a cache folder
outside the repository (``~/.cache/shoebox-bench/scale-photos-vN/``), grown when a run asks for more, and
made again only when ``VERSION`` changes (the folders of older versions are removed then).

What a photo is, and why:

- **Size**: 2-12 MP, from a low-discrepancy sequence (the golden ratio's multiples mod 1), so every run of
  100 consecutive files has about the same spread of sizes: the first and the last hundred files of a run
  carry the same work, which the benchmark's first/last-hundred throughput comparison needs.
- **Content**: a sky-to-ground gradient, two octaves of Perlin noise (texture at two scales), a few flat
  shapes (edges), a text label and Gaussian sensor noise, at JPEG quality 88: about 0.13 bytes a pixel,
  0.3-2.1 MB a file, 0.89 MB on average (the issue's set of 1,000 phone photos was 860 MB). Flat colour
  would compress to a few KB and leave out the decode and upload cost of a real file.
- **Metadata**: four in five carry EXIF (a phone's make and model, a capture time that moves forward
  through the trip; half of those GPS), one in ten of those stored sideways with orientation 6, as a phone
  held upright stores it; the rest have none, like screenshots and edited exports.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import multiprocessing
import os
import random
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import msgspec

#: bump when a photo's pixels, size or metadata change: the cache is made again
VERSION = 1
MIN_MP, MAX_MP = 2.0, 12.0
QUALITY = 88
_GOLDEN = (math.sqrt(5) - 1) / 2
_PHONES = (
    ("Apple", "iPhone 13 Pro"),
    ("Apple", "iPhone 15"),
    ("samsung", "SM-S911B"),
    ("Google", "Pixel 8"),
    ("FUJIFILM", "X100V"),
)
_TRIP_START = dt.datetime(2024, 5, 3, 8, 0, 0)


class Spec(msgspec.Struct, frozen=True):
    """What photo ``index`` is (before its pixels are drawn)."""

    index: int
    width: int
    height: int
    exif: bool
    gps: bool
    sideways: bool

    @property
    def name(self) -> str:
        return f"IMG_{self.index:04d}.jpg"

    @property
    def megapixels(self) -> float:
        return self.width * self.height / 1e6


class Made(msgspec.Struct, frozen=True):
    """A cache folder holding at least the photos asked for."""

    directory: Path
    files: list[Path]
    generated: int  # made by this call (0: all were cached)
    generate_s: float  # wall time making them
    total_bytes: int


def default_cache() -> Path:
    return Path.home() / ".cache" / "shoebox-bench"


def spec(index: int) -> Spec:
    """Photo ``index``'s size and metadata: deterministic, sizes spread evenly over 2-12 MP."""
    rnd = random.Random(f"scale-photos-v{VERSION}:{index}")
    mp = MIN_MP + (MAX_MP - MIN_MP) * ((index * _GOLDEN) % 1.0)
    aspect = rnd.choice((4 / 3, 4 / 3, 4 / 3, 3 / 2, 16 / 9))
    width = int(math.sqrt(mp * 1e6 * aspect))
    exif = rnd.random() < 0.8
    return Spec(
        index=index,
        width=width,
        height=int(width / aspect),
        exif=exif,
        gps=exif and rnd.random() < 0.5,
        sideways=exif and rnd.random() < 0.1,
    )


def draw(s: Spec) -> bytes:
    """The JPEG of photo ``s`` (0.05-0.2 s a megapixel on one core, by the load)."""
    import pyvips

    rnd = random.Random(f"scale-photos-v{VERSION}:{s.index}:pixels")
    w, h = s.width, s.height
    cell = rnd.randint(max(64, w // 12), max(128, w // 4))
    # the coarse texture is smooth: drawn at a quarter of the size and enlarged (a quarter of the cost)
    coarse = pyvips.Image.perlin(w // 4 + 1, h // 4 + 1, cell_size=max(16, cell // 4), seed=s.index)
    coarse = coarse.resize(4).crop(0, 0, w, h)
    fine = pyvips.Image.perlin(w, h, cell_size=max(8, cell // 10), seed=s.index + 100_000)
    y = pyvips.Image.xyz(w, h)[1] / h
    top = [rnd.randint(60, 200) for _ in range(3)]
    bottom = [rnd.randint(20, 150) for _ in range(3)]
    image = (y * [b - t for t, b in zip(top, bottom, strict=True)] + top) + coarse * 40 + fine * 22
    image = image.cast("uchar").copy(interpretation="srgb")
    # buildings and suns (hard edges, as real scenes have), drawn on a quarter-size layer: pyvips copies
    # the image for every draw call, which at full size cost more than the rest of the photo
    qw, qh = w // 4 + 1, h // 4 + 1
    layer = pyvips.Image.black(qw, qh, bands=4).copy(interpretation="srgb").copy_memory()
    for _ in range(rnd.randint(4, 12)):
        colour = [rnd.randint(0, 255) for _ in range(3)] + [255]
        if rnd.random() < 0.5:
            x, top_y = rnd.randrange(qw), rnd.randrange(qh // 3, qh)
            layer = layer.draw_rect(colour, x, top_y, rnd.randint(qw // 30, qw // 6), qh, fill=True)
        else:
            r = rnd.randint(qh // 40 + 1, qh // 8 + 1)
            layer = layer.draw_circle(colour, rnd.randrange(qw), rnd.randrange(qh), r, fill=True)
    layer = layer.resize(4, kernel="nearest").crop(0, 0, w, h)
    image = layer[3].ifthenelse(layer[0:3], image)
    text = pyvips.Image.text(s.name, dpi=max(72, w // 8))
    label = pyvips.Image.black(w, h).insert(text, w // 20, h // 20)
    image = label.ifthenelse([250, 250, 245], image, blend=True)
    # sensor noise from one 1024 px tile (a full-size gaussnoise costs more than the rest of the photo)
    tile = pyvips.Image.gaussnoise(1024, 1024, sigma=rnd.uniform(3.0, 5.5), seed=s.index)
    noise = tile.replicate(w // 1024 + 1, h // 1024 + 1).crop(0, 0, w, h)
    image = (image + noise).cast("uchar").copy(interpretation="srgb")
    if s.sideways:  # stored turned a quarter to the left; orientation 6 shows it upright
        image = image.rot270()
    if s.exif:
        image = image.copy()
        make, model = _PHONES[s.index % len(_PHONES)]
        taken = _TRIP_START + dt.timedelta(minutes=7 * s.index, seconds=s.index % 53)
        fields = {
            "exif-ifd0-Make": make,
            "exif-ifd0-Model": model,
            "exif-ifd2-DateTimeOriginal": taken.strftime("%Y:%m:%d %H:%M:%S"),
        }
        if s.gps:
            lat, lon = 38.70 + (s.index % 97) / 5000, 9.14 + (s.index % 89) / 5000
            fields |= {
                "exif-ifd3-GPSLatitudeRef": "N",
                "exif-ifd3-GPSLatitude": _dms(lat),
                "exif-ifd3-GPSLongitudeRef": "W",
                "exif-ifd3-GPSLongitude": _dms(lon),
            }
        for name, value in fields.items():
            image.set_type(pyvips.GValue.gstr_type, name, value)
        if s.sideways:
            image.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data: bytes = image.jpegsave_buffer(Q=QUALITY, strip=not s.exif)
    return data


def _dms(degrees: float) -> str:
    d = int(degrees)
    m = int((degrees - d) * 60)
    s = round(((degrees - d) * 60 - m) * 60 * 100)
    return f"{d}/1 {m}/1 {s}/100"


def _write(directory: str, index: int) -> int:
    """Make photo ``index`` in ``directory`` (atomically: a killed run leaves no half file)."""
    s = spec(index)
    path = Path(directory) / s.name
    data = draw(s)
    tmp = path.with_name(f".{s.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return len(data)


def ensure(
    count: int,
    cache: Path | None = None,
    *,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> Made:
    """At least photos 1..``count`` in the cache folder of this ``VERSION``; makes the missing ones in
    ``workers`` processes (spawned: libvips is not fork-safe once started)."""
    root = cache or default_cache()
    directory = root / f"scale-photos-v{VERSION}"
    directory.mkdir(parents=True, exist_ok=True)
    for stale in root.glob("scale-photos-v*"):  # a photo set of another version: never used again
        if stale != directory and stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    for tmp in directory.glob(".*.tmp"):  # left by a killed run
        with contextlib.suppress(OSError):
            tmp.unlink()
    wanted = list(range(1, count + 1))
    missing = [i for i in wanted if not (directory / spec(i).name).is_file()]
    started = time.perf_counter()
    if missing:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for done, _ in enumerate(pool.map(_write, [str(directory)] * len(missing), missing), 1):
                if progress is not None:
                    progress(done, len(missing))
    files = [directory / spec(i).name for i in wanted]
    return Made(
        directory=directory,
        files=files,
        generated=len(missing),
        generate_s=round(time.perf_counter() - started, 1),
        total_bytes=sum(p.stat().st_size for p in files),
    )


def link_set(made: Made, dest: Path) -> Path:
    """A folder of exactly ``made.files`` (hard links, else symbolic ones): the job's input folder."""
    dest.mkdir(parents=True, exist_ok=True)
    for src in made.files:
        target = dest / src.name
        try:
            os.link(src, target)
        except OSError:  # another filesystem
            target.symlink_to(src)
    return dest
