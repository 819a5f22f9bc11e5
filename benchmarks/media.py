"""Photo and video processing speed: shoebox's photo pipeline against bare libvips and Pillow, 2 workers.

Issue 4, "task bench -- media". Everything runs IN ONE RUN, on the same files, in the same pool of worker
processes (``ProcessPoolExecutor``, spawn, ``--workers`` 2), one implementation at a time, in rounds whose
order rotates; each figure is the median over the rounds (a warm-up round first, not counted).

Photo implementations (each takes a path and produces a 400 px JPEG thumbnail, encoded into memory):

- **shoebox**: ``sniff`` of the first 4 KB + ``photo.process_photo`` with conversion OFF
  (``Limits(convert_long_side_px=10**9)``): header validation, EXIF metadata, one shrink-on-load decode to
  the 1008 px working image (sRGB), the quality signals, the 400 px upright thumbnail. No emulator, no S3,
  no SHA-256 (the handler hashes while it downloads).
- **vipsthumbnail-equivalent**: ``pyvips.Image.thumbnail(path, 400).jpegsave_buffer(Q=85, strip=True)``,
  the call the ``vipsthumbnail`` CLI makes (the CLI is not in the pyvips wheel): a thumbnail and nothing
  else.
  The encode differs a little from shoebox's (Q 82, optimised Huffman tables) and from the CLI's default
  (Q 75, metadata kept, and a file written): ``VIPS_JPEG``.
- **Pillow draft**: the same work as shoebox with Pillow: ``Image.open`` (header), ``getexif`` (metadata,
  the project's own EXIF reader), ``draft("RGB", ...)`` so libjpeg decodes at 1/2, 1/4 or 1/8 scale
  straight to the working size, ``exif_transpose``, the embedded ICC profile applied with ImageCms, the
  same signals computed with Pillow (``ImageStat``, ``ImageFilter.Kernel``, ``ImageCms`` Lab on the same
  box-shrunk copy as shoebox's, ``photo.signals.CAST_SHRINKS``, ``histogram``) at the same working size, the
  same pHash DCT, and a 400 px LANCZOS thumbnail, JPEG q82 with optimised Huffman tables.
- **plain Pillow**: the same without ``draft``: a full-resolution decode, then ``resize`` (with
  ``reducing_gap``, Pillow's fast path) to the working size.
- reference rows on the 12 MP sets, to locate the cost: ``thumbnail(path, 1008)`` (what a bare thumbnail
  costs at the signal working size), and ``jpegload shrink=4`` + a 400 px thumbnail (libvips' own
  shrink-on-load decode, which shoebox falls back to, and a thumbnail, without signals, metadata or colour
  handling).

Inputs, generated once into ``.bench/media-inputs/`` (git-ignored) and reused:

- **real-derived 12 MP**: real test photos (``gps/``, ``cameras/``, ``orientation/``) cropped to 4:3,
  upscaled to 4032 x 3024 (3024 x 4032 if stored portrait) with lanczos3, mildly sharpened, with a little
  gaussian noise, saved as JPEG q92 with their EXIF (and ICC profile, and orientation tag) kept;
- **synthetic 12 MP**: gradients, perlin and worley noise and sensor-like noise, JPEG q92, no EXIF;
- **small real photos**: the test-data JPEGs under 1 MP, as they are;
- videos: ``../shared/testdata/videos/real`` and a generated 10 s 1080p30 clip (``testsrc2``).

Video: per clip, ``video.probe_video``, ``video.make_thumbnail`` and ``video.make_preview`` (the preview
and the luma signals, from one decode) timed on their own, sequentially (ffmpeg uses its own threads),
reported as wall-clock and as a multiple of the clip's duration. Probe and thumbnail: one untimed run,
then the median of 2 x ``--video-rounds``; preview: the median of ``--video-rounds`` (the untimed runs
before it warm the same file).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import multiprocessing
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import cache, partial
from pathlib import Path
from typing import Any

import PIL
import pyvips
from PIL import Image, ImageCms, ImageFilter, ImageOps, ImageStat
from rich.table import Table

from benchmarks._common import ROOT
from services.media_process import photo, video
from services.media_process.exif import read_exif
from services.media_process.model import Limits
from services.media_process.photo.decode import load_for_signals
from services.media_process.photo.header import exif_info, read_header
from services.media_process.photo.pixels import icc_is_srgb, thumbnail_jpeg
from services.media_process.photo.signals import CAST_SHRINKS, signals_of
from services.media_process.sniff import HEAD_BYTES, sniff

TESTDATA = ROOT.parent / "shared" / "testdata"
INPUTS = ROOT / ".bench" / "media-inputs"
GENERATOR_VERSION = 2

#: conversion off: the benchmark measures validate + metadata + signals + thumbnail
LIMITS = Limits(convert_long_side_px=10**9)
THUMB_PX = LIMITS.thumbnail_px
SIGNAL_PX = LIMITS.signal_px

SHOEBOX = "shoebox"
VIPS = "vipsthumbnail"
DRAFT = "pillow_draft"
PLAIN = "pillow_plain"
REF_1008 = "ref_thumbnail_1008"
REF_DECODE = "ref_decode_1008_thumb_400"
LABELS = {
    SHOEBOX: "shoebox process_photo (validate + EXIF + signals + 400 px thumbnail)",
    VIPS: "vipsthumbnail-equivalent: pyvips thumbnail 400 px",
    DRAFT: "Pillow with draft (same work)",
    PLAIN: "plain Pillow, full decode (same work)",
    REF_1008: "ref: pyvips thumbnail(path, 1008) -> JPEG",
    REF_DECODE: "ref: jpegload shrink=4 (1008 px) + 400 px thumbnail",
}
#: the vipsthumbnail-equivalent's encode (and the reference rows'), into memory: Q 85, metadata stripped,
#: Huffman tables not optimised. Neither the CLI's default (Q 75, metadata kept, written to a file) nor
#: shoebox's (Q 82, optimised tables, no metadata, Pillow's encoder): at 400 px either encode costs ~0.3 ms
#: more (of ~50 ms per 12 MP file); docs/benchmarks.md gives the figures.
VIPS_JPEG: dict[str, Any] = {"Q": 85, "strip": True}
#: shoebox files/s divided by theirs must reach this (issue 4)
TARGETS = {VIPS: 0.85, DRAFT: 1.0, PLAIN: 3.0}

REAL_SOURCES = (
    "gps/DSCN0010.jpg",
    "gps/DSCN0021.jpg",
    "gps/DSCN0029.jpg",
    "gps/DSCN0040.jpg",
    "gps/DSCN0042.jpg",
    "cameras/Canon_40D.jpg",  # 100 x 68: an extreme upscale
    "cameras/jolla.jpg",  # 8 MP: close to a real 12 MP photo
    "cameras/canon_hdr_NO.jpg",  # stored landscape, EXIF orientation 6
    "orientation/landscape_6.jpg",  # orientation 6 and a non-sRGB ICC profile ("Generic RGB")
)
SYNTHETIC = ("gradient", "perlin", "worley", "mixed")
SETS = ("real_12mp", "synthetic_12mp", "small_real")
SET_LABELS = {
    "real_12mp": "real-derived 12 MP",
    "synthetic_12mp": "synthetic 12 MP",
    "small_real": "small real photos (< 1 MP, as they are)",
    "all_12mp": "all 12 MP",
}
VIDEO_1080P = "testsrc2-1080p30-10s.mp4"


# ------------------------------------------------------------------------------------------ inputs
def _derive_12mp(source: Path, out: Path, seed: int) -> None:
    """A 12 MP JPEG from a real photo: crop to 4:3, lanczos3 upscale, mild sharpen, noise, q92, EXIF kept."""
    image = pyvips.Image.new_from_file(str(source))  # as stored: the orientation tag stays meaningful
    w, h = image.width, image.height
    tw, th = (4032, 3024) if w >= h else (3024, 4032)
    if w * th > h * tw:
        cw = round(h * tw / th)
        image = image.crop((w - cw) // 2, 0, cw, h)
    else:
        ch = round(w * th / tw)
        image = image.crop(0, (h - ch) // 2, w, ch)
    image = image.resize(tw / image.width, vscale=th / image.height, kernel="lanczos3")
    image = image.sharpen(sigma=1.0, m2=2)
    noise = pyvips.Image.gaussnoise(tw, th, sigma=3, mean=0, seed=seed)
    image = (image + noise).cast("uchar").copy(interpretation="srgb")
    image.jpegsave(str(out), Q=92)  # not stripped: EXIF, ICC and orientation go along


def _synthetic_12mp(kind: str, out: Path, seed: int) -> None:
    w, h = 4032, 3024
    x = pyvips.Image.xyz(w, h)
    gx, gy = x[0] * (255.0 / w), x[1] * (255.0 / h)

    def perlin(cell: int, s: int) -> pyvips.Image:
        return pyvips.Image.perlin(w, h, cell_size=cell, seed=s)  # -1..1

    if kind == "gradient":
        bands = [gx, gy, (gx + gy) * 0.5]
    elif kind == "perlin":
        octaves = [perlin(512, seed) + perlin(128, seed + 1) * 0.5 + perlin(32, seed + 2) * 0.25]
        base = octaves[0] * 85 + 128
        bands = [base, base * 0.8 + gy * 0.2, base * 0.6 + gx * 0.3]
    elif kind == "worley":
        cells = pyvips.Image.worley(w, h, cell_size=192, seed=seed)  # distance to the nearest point
        stone = 235 - cells * 1.2
        bands = [stone * 0.9, stone * 0.75 + 20, stone * 0.6 + 40]
    else:  # mixed: gradient lit by perlin, with worley cell edges
        light = perlin(384, seed) * 0.35 + 0.65
        edges = pyvips.Image.worley(w, h, cell_size=256, seed=seed + 3) < 6
        bands = [gx * light, gy * light, (255 - gx) * light]
        bands = [(edges).ifthenelse(30, b) for b in bands]
    image = bands[0].bandjoin(bands[1:])
    noise = pyvips.Image.gaussnoise(w, h, sigma=5, mean=0, seed=seed + 7)
    image = (image + noise).cast("uchar").copy(interpretation="srgb")
    image.jpegsave(str(out), Q=92)


def _make_video(out: Path) -> None:
    source = "testsrc2=size=1920x1080:rate=30:duration=10"
    argv = ["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", source, "-pix_fmt", "yuv420p"]
    subprocess.run([*argv, str(out)], check=True, timeout=300)


def prepare_inputs(regenerate: bool = False) -> dict[str, Any]:
    """Generate what is missing in ``.bench/media-inputs`` (all of it with ``regenerate``); the file sets."""
    manifest_path = INPUTS / "manifest.json"
    manifest: dict[str, Any] = {}
    if manifest_path.is_file() and not regenerate:
        manifest = json.loads(manifest_path.read_text())
    if manifest.get("version") != GENERATOR_VERSION:
        shutil.rmtree(INPUTS, ignore_errors=True)
        manifest = {}
    INPUTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    made: list[str] = []
    real: list[Path] = []
    for i, rel in enumerate(REAL_SOURCES):
        out = INPUTS / f"real-{Path(rel).stem}.jpg"
        if not out.is_file():
            _derive_12mp(TESTDATA / "photos" / rel, out, seed=100 + i)
            made.append(out.name)
        real.append(out)
    synthetic: list[Path] = []
    for i, kind in enumerate(SYNTHETIC):
        out = INPUTS / f"synthetic-{kind}.jpg"
        if not out.is_file():
            _synthetic_12mp(kind, out, seed=200 + 10 * i)
            made.append(out.name)
        synthetic.append(out)
    clip = INPUTS / VIDEO_1080P
    if not clip.is_file():
        _make_video(clip)
        made.append(clip.name)
    manifest = {"version": GENERATOR_VERSION, "files": sorted(p.name for p in INPUTS.iterdir())}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    small = sorted(
        p
        for d in ("cameras", "gps", "orientation")
        for p in (TESTDATA / "photos" / d).glob("*.jpg")
        if _pixels(p) < 1_000_000
    )
    videos = [*sorted((TESTDATA / "videos" / "real").glob("*.mp4")), clip]
    return {
        "sets": {"real_12mp": real, "synthetic_12mp": synthetic, "small_real": small},
        "videos": videos,
        "generated": made,
        "generate_s": round(time.perf_counter() - started, 1),
    }


def _pixels(path: Path) -> int:
    image = pyvips.Image.new_from_file(str(path))
    return int(image.width * image.height)


# ------------------------------------------------------------------------ Pillow: the same work
_SRGB = ImageCms.createProfile("sRGB")


@cache
def _to_lab() -> ImageCms.ImageCmsTransform:
    return ImageCms.buildTransform(_SRGB, ImageCms.createProfile("LAB"), "RGB", "LAB")


#: the 4-neighbour Laplacian; /4 + 128 keeps 8-bit results of -512..508 unclipped (variance x 16 below)
_LAPLACIAN = ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], scale=4, offset=128)


def pillow_signals(rgb: Image.Image) -> dict[str, Any]:
    """``photo.compute_signals``'s definitions computed with Pillow (on 8-bit luma, ``convert("L")``)."""
    grey = rgb.convert("L")  # Rec.601 luma, rounded
    stat = ImageStat.Stat(grey)
    mean, grey_var = stat.mean[0], stat.var[0]
    w, h = grey.size
    lap = grey.filter(_LAPLACIAN).crop((1, 1, w - 1, h - 1))  # Pillow leaves the 1 px border unfiltered
    lap_var = ImageStat.Stat(lap).var[0] * 16
    hist = grey.histogram()
    total = sum(hist) or 1
    # the same box-shrunk copy as shoebox's (photo.signals.CAST_SHRINKS: 8x from 512 px, 4x from 64 px)
    shrink = next((factor for side, factor in CAST_SHRINKS if min(rgb.size) >= side), 1)
    small = rgb.reduce(shrink) if shrink > 1 else rgb
    lab = ImageStat.Stat(_to_lab().apply(small))
    a, b = lab.mean[1] - 128, lab.mean[2] - 128  # LAB mode: a*, b* offset by 128
    grey32 = grey.resize((32, 32), Image.Resampling.BILINEAR)
    return {
        "sharpness": lap_var / (grey_var + 25.0),
        "exposure_mean": mean / 255.0,
        "shadows_clipped": sum(hist[:3]) / total,
        "highlights_clipped": sum(hist[253:]) / total,
        "colour_cast": math.hypot(a, b),
        "phash": photo.phash_of_grey32([float(v) for v in grey32.tobytes()]),
    }


@cache
def _to_srgb(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform:
    source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    return ImageCms.buildTransform(source, _SRGB, mode, "RGB", ImageCms.Intent.PERCEPTUAL)


def _pillow_srgb(im: Image.Image) -> Image.Image:
    icc = im.info.get("icc_profile")
    if icc and not icc_is_srgb(icc) and im.mode in ("RGB", "CMYK"):
        with contextlib.suppress(ImageCms.PyCMSError):
            im = _to_srgb(bytes(icc), im.mode).apply(im)
    return im if im.mode == "RGB" else im.convert("RGB")


def _fitted(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    w, h = size
    scale = min(1.0, long_side / max(w, h))
    return max(1, round(w * scale)), max(1, round(h * scale))


def pillow_process(path: Path, *, draft: bool) -> tuple[bytes, dict[str, Any]]:
    """Validate (header), EXIF, decode to the working size, upright sRGB, signals, 400 px thumbnail."""
    with Image.open(path) as im:  # reads the header only; the format comes from the content
        if im.format not in ("JPEG", "PNG", "WEBP", "TIFF", "GIF"):
            raise ValueError(f"not a photo: {im.format}")
        w, h = im.size
        if w * h > LIMITS.max_pixels:
            raise ValueError("too many pixels")
        info = read_exif(im.getexif())
        if draft:
            im.draft("RGB", _fitted((w, h), SIGNAL_PX))  # libjpeg scales while decoding
        im.load()
        working: Image.Image = im
        if max(working.size) > SIGNAL_PX:
            working = working.resize(
                _fitted(working.size, SIGNAL_PX), Image.Resampling.LANCZOS, reducing_gap=2.0
            )
        working = ImageOps.exif_transpose(working) or working
        working = _pillow_srgb(working)
    signals = pillow_signals(working)
    thumb = working.resize(_fitted(working.size, THUMB_PX), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, "JPEG", quality=photo.THUMBNAIL_QUALITY, optimize=True)
    signals["orientation"] = info.orientation
    return out.getvalue(), signals


# ------------------------------------------------------------------------------ the pool's work
# Every implementation encodes its JPEG into memory and returns its size: none writes a file.
def _shoebox(path: Path) -> int:
    with path.open("rb") as f:
        sniffed = sniff(f.read(HEAD_BYTES))
    if sniffed is None:
        raise ValueError(f"{path} is not a photo")
    return len(photo.process_photo(path, sniffed.media_type, LIMITS).thumbnail)


def _vips_thumbnail(path: Path) -> int:
    return len(pyvips.Image.thumbnail(str(path), THUMB_PX).jpegsave_buffer(**VIPS_JPEG))


def _pillow_draft(path: Path) -> int:
    return len(pillow_process(path, draft=True)[0])


def _pillow_plain(path: Path) -> int:
    return len(pillow_process(path, draft=False)[0])


def _ref_thumbnail_1008(path: Path) -> int:
    return len(pyvips.Image.thumbnail(str(path), SIGNAL_PX).jpegsave_buffer(**VIPS_JPEG))


def _ref_decode(path: Path) -> int:
    image = pyvips.Image.new_from_file(str(path), shrink=4, access="sequential")
    return len(image.thumbnail_image(THUMB_PX).jpegsave_buffer(**VIPS_JPEG))


WORK: dict[str, Callable[[Path], int]] = {
    SHOEBOX: _shoebox,
    VIPS: _vips_thumbnail,
    DRAFT: _pillow_draft,
    PLAIN: _pillow_plain,
    REF_1008: _ref_thumbnail_1008,
    REF_DECODE: _ref_decode,
}


def _task(impl: str, path: str) -> tuple[float, float]:
    """One file through one implementation, in a pool worker: (wall s, CPU s of this process)."""
    cpu, wall = time.process_time(), time.perf_counter()
    WORK[impl](Path(path))
    return time.perf_counter() - wall, time.process_time() - cpu


def _worker_init() -> None:
    pyvips.cache_set_max(0)  # also set by importing photo; said here for the baselines' sake


def _batch(pool: ProcessPoolExecutor, impl: str, paths: Sequence[Path], reps: int) -> dict[str, Any]:
    tasks = [str(p) for p in paths] * reps
    started = time.perf_counter()
    done = list(pool.map(_task, [impl] * len(tasks), tasks, chunksize=1))
    elapsed = time.perf_counter() - started
    return {"files": len(tasks), "wall_s": elapsed, "cpu_ms": [c * 1000 for _, c in done]}


def measure_photos(sets: Mapping[str, Sequence[Path]], args: argparse.Namespace) -> dict[str, Any]:
    """Files/s of every implementation on every set: rounds of interleaved batches, medians."""
    plan: list[tuple[str, str]] = []
    for name in SETS:
        impls = [SHOEBOX, VIPS, DRAFT, PLAIN] + ([REF_1008, REF_DECODE] if name != "small_real" else [])
        plan += [(name, impl) for impl in impls]
    reps = {name: max(1, math.ceil(args.min_batch / len(sets[name]))) for name in SETS}
    rounds: list[dict[tuple[str, str], dict[str, Any]]] = []
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(args.workers, mp_context=ctx, initializer=_worker_init) as pool:
        for r in range(1 + args.photo_rounds):  # round 0: warm-up (imports, profiles, page cache)
            order = plan[r % len(plan) :] + plan[: r % len(plan)]
            results = {
                key: _batch(pool, key[1], sets[key[0]], 1 if r == 0 else reps[key[0]]) for key in order
            }
            if r > 0:
                rounds.append(results)
    out: dict[str, Any] = {}
    for name, impl in plan:
        samples = [rd[(name, impl)] for rd in rounds]
        rates = [s["files"] / s["wall_s"] for s in samples]
        cpu = sorted(c for s in samples for c in s["cpu_ms"])
        out.setdefault(name, {})[impl] = {
            "files_per_s": round(statistics.median(rates), 2),
            "files_per_s_min_max": [round(min(rates), 2), round(max(rates), 2)],
            "cpu_ms_per_file_p50": round(statistics.median(cpu), 1),
            "cpu_ms_per_file_mean": round(statistics.fmean(cpu), 1),
            "files_per_batch": samples[0]["files"],
        }
    # all 12 MP files together: per round, total files over total time; then the median
    for impl in [SHOEBOX, VIPS, DRAFT, PLAIN, REF_1008, REF_DECODE]:
        per_round = [
            sum(rd[(n, impl)]["files"] for n in ("real_12mp", "synthetic_12mp"))
            / sum(rd[(n, impl)]["wall_s"] for n in ("real_12mp", "synthetic_12mp"))
            for rd in rounds
        ]
        cpu = sorted(
            c for rd in rounds for n in ("real_12mp", "synthetic_12mp") for c in rd[(n, impl)]["cpu_ms"]
        )
        out.setdefault("all_12mp", {})[impl] = {
            "files_per_s": round(statistics.median(per_round), 2),
            "files_per_s_min_max": [round(min(per_round), 2), round(max(per_round), 2)],
            "cpu_ms_per_file_p50": round(statistics.median(cpu), 1),
            "cpu_ms_per_file_mean": round(statistics.fmean(cpu), 1),
        }
    # ratios from the rounds' paired batches (run seconds apart, so under about the same load)
    ratios: dict[str, Any] = {}
    for name in ("all_12mp", *SETS):
        ratios[name] = {}
        for base, target in TARGETS.items():
            paired = [_rate(rd, name, SHOEBOX) / _rate(rd, name, base) for rd in rounds]
            ratio = statistics.median(paired)
            by_cpu = out[name][base]["cpu_ms_per_file_mean"] / out[name][SHOEBOX]["cpu_ms_per_file_mean"]
            ratios[name][base] = {
                "ratio": round(ratio, 3),
                "cpu_ratio": round(by_cpu, 3),  # theirs / ours, CPU time per file: less sensitive to load
                "cpu_verdict": "PASS" if by_cpu >= target else "MISS",
                "min_max": [round(min(paired), 3), round(max(paired), 3)],
                "target": target,
                "verdict": "PASS" if ratio >= target else "MISS",
            }
    return {"rates": out, "ratios": ratios, "reps": reps}


def _rate(rd: Mapping[tuple[str, str], Mapping[str, Any]], name: str, impl: str) -> float:
    names = ("real_12mp", "synthetic_12mp") if name == "all_12mp" else (name,)
    files: int = sum(rd[(n, impl)]["files"] for n in names)
    return files / float(sum(rd[(n, impl)]["wall_s"] for n in names))


def agreement(sets: Mapping[str, Sequence[Path]]) -> dict[str, Any]:
    """How close the Pillow implementations' signals are to shoebox's (same work, not the same code)."""
    rows: list[dict[str, float]] = []
    for path in [*sets["real_12mp"], *sets["synthetic_12mp"]]:
        result = photo.process_photo(path, "image/jpeg", LIMITS)
        ours, our_thumb = result.signals, pyvips.Image.new_from_buffer(result.thumbnail, "")
        for draft in (True, False):
            thumb, theirs = pillow_process(path, draft=draft)
            their_thumb = pyvips.Image.new_from_buffer(thumb, "")
            same_size = (their_thumb.width, their_thumb.height) == (our_thumb.width, our_thumb.height)
            rows.append(
                {
                    "draft": float(draft),
                    "thumb_diff": float((their_thumb.cast("float") - our_thumb).abs().avg())
                    if same_size
                    else float("inf"),
                    "sharpness_ratio": theirs["sharpness"] / ours.sharpness if ours.sharpness else 1.0,
                    "exposure_diff": abs(theirs["exposure_mean"] - ours.exposure_mean),
                    "colour_cast_diff": abs(theirs["colour_cast"] - ours.colour_cast),
                    "phash_bits": float(photo.phash_distance(theirs["phash"], ours.phash)),
                }
            )

    def summary(draft: bool) -> dict[str, Any]:
        sel = [r for r in rows if r["draft"] == float(draft)]
        return {
            "sharpness_ratio_min_max": [
                round(min(r["sharpness_ratio"] for r in sel), 3),
                round(max(r["sharpness_ratio"] for r in sel), 3),
            ],
            "exposure_diff_max": round(max(r["exposure_diff"] for r in sel), 4),
            "colour_cast_diff_max": round(max(r["colour_cast_diff"] for r in sel), 2),
            "phash_bits_max": int(max(r["phash_bits"] for r in sel)),
            "phash_bits_median": statistics.median(r["phash_bits"] for r in sel),
            "thumbnail_mean_abs_diff_max": round(max(r["thumb_diff"] for r in sel), 2),
        }

    return {DRAFT: summary(True), PLAIN: summary(False)}


def breakdown(sets: Mapping[str, Sequence[Path]]) -> dict[str, Any]:
    """CPU ms per step of ``process_photo`` on each 12 MP file (this process, best of 3), median over files.

    The steps are the pipeline's own functions called one after the other, as ``process_photo`` does.
    """
    steps: dict[str, list[float]] = {}

    def best(name: str, fn: Callable[[], Any]) -> Any:
        times, out = [], None
        for _ in range(3):
            cpu = time.process_time()
            out = fn()
            times.append(time.process_time() - cpu)
        steps.setdefault(name, []).append(min(times) * 1000)
        return out

    for path in [*sets["real_12mp"], *sets["synthetic_12mp"]]:
        header = best("header (libvips, no pixels)", partial(read_header, path, "image/jpeg"))
        best("EXIF metadata", partial(exif_info, path, "image/jpeg", header))
        load = partial(load_for_signals, path, "image/jpeg", header, SIGNAL_PX)
        working = best("decode at 1008 px (+ sRGB)", load)
        best("signals", partial(signals_of, working))
        best("400 px thumbnail + JPEG", partial(thumbnail_jpeg, working, THUMB_PX))
        best("whole process_photo", partial(photo.process_photo, path, "image/jpeg", LIMITS))
        best("vipsthumbnail-equivalent", partial(_vips_thumbnail, path))
        best("libvips jpegload shrink=4 alone", partial(_decode_only, path))
    return {name: round(statistics.median(v), 1) for name, v in steps.items()}


def _decode_only(path: Path) -> Any:
    return pyvips.Image.new_from_file(str(path), shrink=4, access="sequential").write_to_memory()


# ------------------------------------------------------------------------------------------ video
def measure_videos(clips: Sequence[Path], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Per clip: probe, thumbnail and preview (+ luma signals) wall-clock, alone, one after the other."""
    limits = Limits()
    rows: list[dict[str, Any]] = []
    for clip in clips:
        with tempfile.TemporaryDirectory(prefix="shoebox-bench-video-") as tmp:
            workdir = Path(tmp)
            probed = video.probe_video(clip, limits)  # warm-up (page cache, ffprobe start-up)
            probes = []
            for _ in range(args.video_rounds * 2):
                started = time.perf_counter()
                video.probe_video(clip, limits)
                probes.append(time.perf_counter() - started)
            duration = probed.duration_s or float("nan")
            video.make_thumbnail(clip, probed, limits, workdir)  # warm-up (page cache, ffmpeg start-up)
            thumbs = []
            for _ in range(args.video_rounds * 2):
                started = time.perf_counter()
                video.make_thumbnail(clip, probed, limits, workdir)
                thumbs.append(time.perf_counter() - started)
            previews = []
            preview_bytes = 0
            for _ in range(args.video_rounds):
                started = time.perf_counter()
                preview, _frames = video.make_preview(clip, probed, limits, workdir)
                previews.append(time.perf_counter() - started)
                preview_bytes = preview.stat().st_size if preview else 0
            stream = probed.stream
            probe_s = statistics.median(probes)
            thumb_s, preview_s = statistics.median(thumbs), statistics.median(previews)
            rows.append(
                {
                    "clip": clip.name,
                    "codec": stream.codec,
                    "size": f"{stream.display_width}x{stream.display_height}",
                    "duration_s": round(duration, 2),
                    "probe_ms": round(probe_s * 1000, 1),
                    "thumbnail_ms": round(thumb_s * 1000, 1),
                    "thumbnail_x_realtime": round(thumb_s / duration, 4),
                    "preview_s": round(preview_s, 2),
                    "preview_x_realtime": round(preview_s / duration, 3),
                    "preview_kb": round(preview_bytes / 1024),
                }
            )
    return rows


# -------------------------------------------------------------------------------------------- CLI
def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--workers", type=int, default=2, help="photo pool processes (2)")
    group.add_argument("--photo-rounds", type=int, default=None, help="timed photo rounds (5; quick 2)")
    group.add_argument(
        "--min-batch", type=int, default=None, help="files per timed batch, at least (16; quick 8)"
    )
    group.add_argument("--video-rounds", type=int, default=None, help="preview runs per clip (3; quick 1)")
    group.add_argument("--regenerate", action="store_true", help="remake .bench/media-inputs")
    group.add_argument("--no-video", action="store_true", help="photos only")


def run(args: argparse.Namespace) -> dict[str, Any]:
    quick = getattr(args, "quick", False)
    args.workers = getattr(args, "workers", 2)
    args.photo_rounds = getattr(args, "photo_rounds", None) or (2 if quick else 5)
    args.min_batch = getattr(args, "min_batch", None) or (8 if quick else 16)
    args.video_rounds = getattr(args, "video_rounds", None) or (1 if quick else 3)
    inputs = prepare_inputs(getattr(args, "regenerate", False))
    sets: dict[str, list[Path]] = inputs["sets"]
    photos = measure_photos(sets, args)
    result: dict[str, Any] = {
        "config": {
            "workers": args.workers,
            "photo_rounds": args.photo_rounds,
            "reps_per_batch": photos["reps"],
            "conversion": "off (Limits(convert_long_side_px=10**9))",
            "signal_px": SIGNAL_PX,
            "thumbnail_px": THUMB_PX,
            "targets": TARGETS,
            "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
            "pillow": PIL.__version__,
            "vips_concurrency": os.environ.get("VIPS_CONCURRENCY"),
            "inputs": {k: [p.name for p in v] for k, v in sets.items()},
            "inputs_generated_now": inputs["generated"],
            "generate_s": inputs["generate_s"],
            "load_1m_before": round(os.getloadavg()[0], 2),
        },
        "labels": LABELS,
        "photos": photos["rates"],
        "ratios": photos["ratios"],
        "agreement": agreement(sets),
        "breakdown_cpu_ms": breakdown(sets),
    }
    if not getattr(args, "no_video", False):
        result["videos"] = measure_videos(inputs["videos"], args)
    result["config"]["load_1m_after"] = round(os.getloadavg()[0], 2)
    return result


# ----------------------------------------------------------------------------------------- tables
def tables(result: Mapping[str, Any]) -> list[Table]:
    cfg = result["config"]
    rates: Mapping[str, Any] = result["photos"]
    columns = ["all_12mp", *SETS]
    photos = Table(
        title=f"photos: files/s with {cfg['workers']} worker processes (median of {cfg['photo_rounds']} "
        "rounds; conversion OFF)",
        caption=f"libvips {cfg['libvips']}, Pillow {cfg['pillow']}. CPU ms/file = p50 of the worker's "
        "process CPU time per file (all its threads). Load average "
        f"{cfg['load_1m_before']} -> {cfg['load_1m_after']}.",
    )
    photos.add_column("implementation")
    for name in columns:
        photos.add_column(f"{SET_LABELS[name]}\nfiles/s", justify="right")
    photos.add_column("12 MP\nCPU ms/file", justify="right")
    for impl, label in LABELS.items():
        cells = [f"{rates[n][impl]['files_per_s']:.1f}" if impl in rates[n] else "-" for n in columns]
        photos.add_row(label, *cells, f"{rates['all_12mp'][impl]['cpu_ms_per_file_p50']:.1f}")

    ratios = Table(
        title="shoebox / baseline, files/s (median of the rounds' paired ratios; targets on the 12 MP sets)",
        caption="by CPU time: the baseline's mean CPU time per file / shoebox's (all 12 MP files), what the "
        "files/s ratio comes to when the 2 workers have the 2 cores to themselves; on a shared machine the "
        "files/s ratios move with the other load",
    )
    ratios.add_column("baseline")
    ratios.add_column("target", justify="right")
    for name in columns:
        ratios.add_column(SET_LABELS[name], justify="right")
    ratios.add_column("all 12 MP\nby CPU time", justify="right")
    for base, target in TARGETS.items():
        cells = []
        for name in columns:
            r = result["ratios"][name][base]
            if name in ("all_12mp", "real_12mp", "synthetic_12mp"):
                colour = "green" if r["verdict"] == "PASS" else "red"
                cells.append(f"{r['ratio']:.2f}x [{colour}]{r['verdict']}[/{colour}]")
            else:
                cells.append(f"{r['ratio']:.2f}x")
        r = result["ratios"]["all_12mp"][base]
        colour = "green" if r["cpu_verdict"] == "PASS" else "red"
        cpu_cell = f"{r['cpu_ratio']:.2f}x [{colour}]{r['cpu_verdict']}[/{colour}]"
        ratios.add_row(LABELS[base], f">= {target:g}x", *cells, cpu_cell)

    agree = Table(title="same work? Pillow signals against shoebox's on the 12 MP files")
    for col in (
        "implementation", "sharpness ratio", "exposure |diff|", "colour cast |diff|", "pHash bits",
        "thumbnail |diff|",
    ):  # fmt: skip
        agree.add_column(col, justify="left" if col == "implementation" else "right")
    for impl, a in result["agreement"].items():
        lo, hi = a["sharpness_ratio_min_max"]
        agree.add_row(
            LABELS[impl],
            f"{lo:.2f} .. {hi:.2f}",
            f"<= {a['exposure_diff_max']:.4f}",
            f"<= {a['colour_cast_diff_max']:.2f}",
            f"median {a['phash_bits_median']:g}, max {a['phash_bits_max']}",
            f"<= {a['thumbnail_mean_abs_diff_max']:.1f} levels",
        )
    steps = Table(
        title="where shoebox's time goes: CPU ms per 12 MP file, one process, best of 3, median over files",
        caption="the steps are process_photo's own functions, called in its order; the last two rows are "
        "references",
    )
    steps.add_column("step")
    steps.add_column("CPU ms", justify="right")
    for name, ms in result["breakdown_cpu_ms"].items():
        steps.add_row(name, f"{ms:.1f}")
    out = [photos, ratios, agree, steps]
    if "videos" in result:
        vids = Table(
            title="video, per clip (one at a time; x realtime = wall / clip duration)",
            caption="preview = H.264 <= 720p + the luma signals from the same decode",
        )
        for col in (
            "clip", "codec", "size", "duration s", "probe ms", "thumbnail ms", "thumbnail x rt",
            "preview s", "preview x rt", "preview KB",
        ):  # fmt: skip
            vids.add_column(col, justify="left" if col in ("clip", "codec", "size") else "right")
        for v in result["videos"]:
            vids.add_row(
                v["clip"],
                str(v["codec"]),
                v["size"],
                f"{v['duration_s']:.2f}",
                f"{v['probe_ms']:.0f}",
                f"{v['thumbnail_ms']:.0f}",
                f"{v['thumbnail_x_realtime']:.3f}",
                f"{v['preview_s']:.2f}",
                f"{v['preview_x_realtime']:.3f}",
                str(v["preview_kb"]),
            )
        out.append(vids)
    return out
