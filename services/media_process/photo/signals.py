"""The photo's quality signals and perceptual hash, from the working image's pixels (see
``compute_signals``)."""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pyvips

from services.media_process.photo.pixels import Working, to_srgb8
from shared.events import catalogue as c

#: grey-level variance floor in the sharpness normalisation (a std of 5 levels): keeps flat, noisy frames
#: (pocket shots, a black sky) from scoring as sharp because their tiny contrast divides their sensor noise
_SHARPNESS_VARIANCE_FLOOR = 25.0
_HASH_SIZE = 32  # pHash: DCT of a 32 x 32 grey image ...
_HASH_BLOCK = 8  # ... of which the 8 x 8 lowest frequencies (DC row and column excluded) give 64 bits
#: cos(pi (2x + 1) u / 64) for u = 1..8 (the frequencies kept), x = 0..31
_DCT_COS = np.array(
    [
        [math.cos(math.pi * (2 * x + 1) * u / (2 * _HASH_SIZE)) for x in range(_HASH_SIZE)]
        for u in range(1, _HASH_BLOCK + 1)
    ]
)
#: colour cast on a box-shrunk copy: 8x (126 x 94 at 1008 x 756), 4x under 512 px, as it is under 64 px
CAST_SHRINKS = ((512, 8), (64, 4))


def compute_signals(rgb: pyvips.Image) -> c.PhotoSignals:
    """Quality signals of an upright 8-bit sRGB image at the working size (long side ~``Limits.signal_px``).

    - ``sharpness`` = var(Laplacian(Y)) / (var(Y) + 25), with Y the Rec.601 luma in 0..255 and the 4-neighbour
      Laplacian kernel. Dividing by the image's own grey-level variance makes it independent of exposure and
      contrast (a photo darkened to a third keeps its score); the floor of 25 keeps flat noisy frames low.
      Dimensionless; at 1008 px sharp photos score ~0.03-3, a σ=4 px blur at 12 MP drops it 5-50x. Compare
      values computed at the same working size only (small photos are measured at their own size).
    - ``exposure_mean``: mean luma / 255 (0 black, 1 white).
    - ``shadows_clipped`` / ``highlights_clipped``: fraction of pixels whose luma is below 3 / at least 253
      (its integer part, as libvips' cast to 8 bits truncates, is <= 2 / >= 253).
    - ``colour_cast``: distance of the mean (a*, b*) from neutral in CIELAB (D65), computed on a box-shrunk
      copy (8x: 126 x 94 means of 8 x 8 blocks at 1008 x 756; 4x under 512 px; none under 64 px). 0 = grey
      on average; ~10 is a visible cast; a scene dominated by one colour scores high too.
    - ``phash``: the classic DCT perceptual hash: Y squashed to 32 x 32 (each cell the mean of its block of
      pixels, the blocks as even as whole pixels allow), 2-D DCT-II, the 8 x 8 coefficients
      (u, v) in 1..8 (the DC row and column left out), one bit per coefficient above their median, row-major
      from the most significant bit, as 16 hex digits. Near-duplicates differ by a few bits; use
      ``phash_distance``.
    - ``luma_p1`` / ``luma_p99``: the 1st and 99th percentiles of the luma's 8-bit levels, / 255 (the darkest
      and the brightest detail); ``luma_std``: the luma's standard deviation / 255.
    - ``noise``: Immerkær's estimate of the noise's standard deviation in luma, / 255 (see ``_noise``); fine
      texture counts too, so a detailed photo measures some.
    - ``structure``: the standard deviation of the 32 x 32 block means (the phash's squashed luma) over
      ``luma_std``, at most 1: how much of the picture's contrast is coarse. ~0.7-1 for a photo, ~0.04 for
      pure noise (averaging ~750 pixels a block cancels it), 0 for a flat frame.
    """
    rgb = to_srgb8(rgb)
    return signals_of(Working(rgb, np.frombuffer(rgb.write_to_memory(), np.uint8)))


def signals_of(working: Working) -> c.PhotoSignals:
    """``compute_signals`` of the working image, read from its pixel array.

    numpy does the per-pixel work on the luma (a call costs microseconds where a libvips call costs
    ~0.1-0.3 ms and each of its sinks 1-4 ms of CPU at this size), in per-thread arrays reused from photo
    to photo (``_Scratch``). The luma is kept as 1000 Y = 299 R + 587 G + 114 B, whole numbers that float32
    holds exactly (so is their Laplacian); libvips' float luma (Rec.601 of the sRGB-encoded values,
    ``recomb([[0.299, 0.587, 0.114]])``) is that divided by 1000 and rounded, and "below 3" / "at least 253"
    (what truncating it to 8 bits puts in bins 0-2 / 253-255) are below 3000 / at least 253000 here, exactly.
    """
    rgb = working.image
    width, height = rgb.width, rgb.height
    total = width * height
    pixels = working.pixels.reshape(height, width, 3)
    # 1000 Y, in the middle of an array one pixel larger all round: the border is the Laplacian's
    padded = _SCRATCH.array("padded", (height + 2, width + 2), np.float32)
    grey = padded[1:-1, 1:-1]
    scratch = _SCRATCH.array("scratch", (height, width), np.float32)
    np.multiply(pixels[..., 0], np.float32(299), out=grey)
    np.multiply(pixels[..., 1], np.float32(587), out=scratch)
    grey += scratch
    np.multiply(pixels[..., 2], np.float32(114), out=scratch)
    grey += scratch
    mean, grey_var = _mean_var(grey, scratch)
    mean, grey_var = mean / _Y_SCALE, grey_var / _Y_SCALE**2

    # edge pixels repeated, as libvips' conv extends an image
    padded[0, 1:-1] = grey[0]
    padded[-1, 1:-1] = grey[-1]
    padded[:, 0] = padded[:, 1]
    padded[:, -1] = padded[:, -2]
    laplacian = _SCRATCH.array("laplacian", (height, width), np.float32)
    np.add(padded[:-2, 1:-1], padded[2:, 1:-1], out=laplacian)
    laplacian += padded[1:-1, :-2]
    laplacian += padded[1:-1, 2:]
    np.multiply(grey, np.float32(4), out=scratch)
    laplacian -= scratch
    lap_var = _spread(laplacian, scratch) / _Y_SCALE**2 if total > 1 else math.nan  # 1 px: no spread
    sharpness = lap_var / (grey_var + _SHARPNESS_VARIANCE_FLOOR)

    mask = _SCRATCH.array("mask", (height, width), np.bool_)
    shadows = np.count_nonzero(np.less(grey, 3 * _Y_SCALE, out=mask)) / total
    highlights = np.count_nonzero(np.greater_equal(grey, 253 * _Y_SCALE, out=mask)) / total

    noise = _noise(padded, laplacian, scratch)
    p1, p99 = _luma_percentiles(grey, scratch, (0.01, 0.99))

    luma_std = _finite(math.sqrt(grey_var) / 255.0) if math.isfinite(grey_var) else 0.0
    # the 32 x 32 block means of the phash; their spread next to the pixels' is the coarse structure
    squashed = _squash(_oriented(grey, working.orientation))

    shrink = next((factor for side, factor in CAST_SHRINKS if min(width, height) >= side), 1)
    small = _box_shrunk(rgb, shrink, working.orientation)
    lab = _mean_dev(small.colourspace("lab"))
    colour_cast = math.hypot(lab[1][0], lab[2][0])

    return c.PhotoSignals(
        sharpness=_finite(sharpness),
        exposure_mean=_finite(mean / 255.0),
        shadows_clipped=_finite(shadows),
        highlights_clipped=_finite(highlights),
        colour_cast=_finite(colour_cast),
        phash=phash_of_grey32(squashed),
        luma_p1=p1,
        luma_p99=p99,
        luma_std=luma_std,
        noise=_finite(noise),
        structure=_finite(min(1.0, float(np.std(squashed)) / _Y_SCALE / 255.0 / luma_std))
        if luma_std > 0
        else 0.0,
    )


def _luma_percentiles(
    grey: npt.NDArray[np.float32], scratch: npt.NDArray[np.float32], quantiles: tuple[float, ...]
) -> tuple[float, ...]:
    """Luma levels (0..1, in the 8-bit levels libvips' truncating cast gives) at ``quantiles`` of the
    pixels: the smallest level with at least that fraction of the pixels at or below it.

    A 256-bin histogram of the truncated levels (a bincount, ~1 ms at 1008 x 756), not a sort. The luma is
    whole numbers (1000 Y); times 0.001 in float32 a level can land a hair under its whole number (253000 ->
    252.99998), so 0.0001 is added before truncating: far above float32's error at 255 (~2e-5), far below
    the 0.001 step to the next value. (numpy's float floor_divide is exact but ~30x slower.) ``scratch``
    (same shape) is overwritten.
    """
    np.multiply(grey, np.float32(1 / _Y_SCALE), out=scratch)
    scratch += np.float32(1e-4)
    levels = _SCRATCH.array("levels", (grey.shape[0], grey.shape[1]), np.uint8)
    np.copyto(levels, scratch, casting="unsafe")
    cumulative = np.cumsum(np.bincount(levels.ravel(), minlength=256))
    total = int(cumulative[-1])
    return tuple(int(np.searchsorted(cumulative, max(1, math.ceil(q * total)))) / 255.0 for q in quantiles)


def _noise(
    padded: npt.NDArray[np.float32], out: npt.NDArray[np.float32], scratch: npt.NDArray[np.float32]
) -> float:
    """The standard deviation of the pixel noise in luma (0..1), by Immerkær's estimator (1996): the
    image convolved with [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] (the difference of two Laplacians, which
    cancels what is smooth to second order), sigma = sqrt(pi / 2) * mean |M| / 6 over the inner pixels.

    White noise of sigma s measures s; edges and fine texture add to it, so a detailed photo measures a
    little "noise" too; what matters to the triage is its size next to ``luma_std`` (a frame of pure noise
    measures about its own spread). ``padded`` is the luma with its border repeated one pixel all round;
    ``out`` and ``scratch`` (the luma's shape) are overwritten.
    """
    height, width = int(out.shape[0]), int(out.shape[1])
    if height < 3 or width < 3:
        return 0.0
    rows = _SCRATCH.array("rows", (height, width + 2), np.float32)
    twice = _SCRATCH.array("twice", (height, width + 2), np.float32)
    np.add(padded[:-2], padded[2:], out=rows)  # second difference down the columns
    np.multiply(padded[1:-1], np.float32(2), out=twice)
    rows -= twice
    np.add(rows[:, :-2], rows[:, 2:], out=out)  # ... then along the rows
    np.multiply(rows[:, 1:-1], np.float32(2), out=scratch)
    out -= scratch
    np.abs(out, out=out)
    inner = float(out[1:-1, 1:-1].sum(dtype=np.float64))
    return math.sqrt(math.pi / 2) * inner / (6 * (width - 2) * (height - 2)) / _Y_SCALE / 255.0


class _Scratch(threading.local):
    """Work arrays for the signals, one set per thread, kept from one photo to the next.

    A fresh 3 MB array costs ~1.4 ms of page faults here (~1.8 us per 4 KB page), more than the arithmetic
    done on it; the signals used to allocate ~18 MB per photo. Arrays for images above ``_SCRATCH_MAX_PX``
    are not kept (the working size is 1008 x 756, at most 1008 x 1008).
    """

    def __init__(self) -> None:
        self.arrays: dict[str, npt.NDArray[Any]] = {}

    def array(self, name: str, shape: tuple[int, int], dtype: type[np.generic]) -> npt.NDArray[Any]:
        size = shape[0] * shape[1]
        if size > _SCRATCH_MAX_PX:
            return np.empty(shape, dtype)
        flat = self.arrays.get(name)
        if flat is None or flat.size < size:
            flat = self.arrays[name] = np.empty(max(size, _SCRATCH_MIN_PX), dtype)
        return flat[:size].reshape(shape)


_Y_SCALE = 1000  # the signals' luma is 1000 Y (whole numbers)
_SCRATCH_MAX_PX = 1024 * 1024 * 2
_SCRATCH_MIN_PX = 1010 * 1010
_SCRATCH = _Scratch()


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two ``phash`` values (0 = same picture; <= 10 is a near-duplicate)."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _mean_dev(image: pyvips.Image) -> list[tuple[float, float]]:
    """(mean, standard deviation) of each band, in one pass (``vips_stats``)."""
    stats = image.stats()
    raw = stats.write_to_memory()
    values = struct.unpack(f"<{len(raw) // 8}d", raw)  # (bands + 1) rows of 10 doubles
    return [(values[row * 10 + 4], values[row * 10 + 5]) for row in range(1, image.bands + 1)]


def _mean_var(values: npt.NDArray[np.float32], scratch: npt.NDArray[np.float32]) -> tuple[float, float]:
    """Mean and sample variance (libvips' ``deviate`` squared); ``scratch`` (same shape) is overwritten.

    Two passes of numpy's pairwise float32 sums (~0.2 ms each at 1008 x 756): the deviations are squared
    after the mean is taken off, so a bright, flat image loses no digits to cancellation.
    """
    n = values.size
    mean = float(values.sum()) / n
    if n < 2:
        return mean, math.nan
    np.subtract(values, np.float32(mean), out=scratch)
    return mean, float(np.square(scratch, out=scratch).sum()) / (n - 1)


def _box_shrunk(image: pyvips.Image, factor: int, orientation: int) -> pyvips.Image:
    """``image`` box-shrunk by ``factor``, in the blocks of the image as ``orientation`` displays it.

    libvips rounds the block count and fills a partial last block with copies of the edge row (or column);
    where the orientation reverses an axis, the upright image's last block is the stored image's first, so
    the stored image is padded (or cut) at its start instead.
    """
    if factor == 1:
        return image
    width, height = image.width, image.height
    dx = (width + factor // 2) // factor * factor - width if orientation in (2, 3, 7, 8) else 0
    dy = (height + factor // 2) // factor * factor - height if orientation in (3, 4, 6, 7) else 0
    if dx or dy:
        image = image.embed(dx, dy, width + dx, height + dy, extend="copy")
    return image.shrink(factor, factor)


def _spread(values: npt.NDArray[np.float32], scratch: npt.NDArray[np.float32]) -> float:
    """Sample variance of values whose mean is ~0 next to their spread (a Laplacian): no second pass to
    take the mean off first. ``scratch`` (same shape) is overwritten."""
    n = values.size
    total = float(values.sum())
    squares = float(np.square(values, out=scratch).sum())
    return max(squares - total * total / n, 0.0) / (n - 1)


def _oriented(array: npt.NDArray[Any], orientation: int) -> npt.NDArray[Any]:
    """A view of ``array`` (rows x columns) as the EXIF orientation displays it (libvips' ``autorot``)."""
    views = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1, :],
        5: lambda a: a.T,
        6: lambda a: a[::-1, :].T,
        7: lambda a: a[::-1, ::-1].T,
        8: lambda a: a[:, ::-1].T,
    }
    view = views.get(orientation)
    return array if view is None else view(array)


def _squash(grey: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """``grey`` squashed to 32 x 32: the mean of each block (blocks of whole pixels, as even as they can
    be: 31 or 32 columns by 23 or 24 rows at 1008 x 756). A side under 32 px is stretched instead."""
    squashed: npt.NDArray[Any] = grey
    # along memory's rows first (numpy reduces a contiguous axis ~4x faster); a turned view has them as
    # its columns
    axes = (1, 0) if abs(grey.strides[1]) <= abs(grey.strides[0]) else (0, 1)
    for axis in axes:
        n = squashed.shape[axis]
        if n >= _HASH_SIZE:
            edges = (np.arange(_HASH_SIZE + 1) * n) // _HASH_SIZE
            sums = np.add.reduceat(squashed, edges[:-1], axis=axis)
            counts = np.diff(edges).reshape((1, -1) if axis == 1 else (-1, 1))
            squashed = sums.astype(np.float64) / counts
        else:
            squashed = np.take(squashed, (np.arange(_HASH_SIZE) * n) // _HASH_SIZE, axis=axis)
    return np.asarray(squashed, dtype=np.float64)


def phash_of_grey32(pixels: Sequence[float] | npt.NDArray[np.floating[Any]]) -> str:
    """The pHash bits of a 32 x 32 grey image given row-major (see ``compute_signals``)."""
    grey = np.asarray(pixels, dtype=np.float64).reshape(_HASH_SIZE, _HASH_SIZE)
    # separable DCT-II, only the coefficients kept: (v, u) = (1..8, 1..8), v-major
    coeffs = (_DCT_COS @ grey @ _DCT_COS.T).ravel()
    median = float(np.median(coeffs))
    bits = 0
    for value in (coeffs > median).tolist():
        bits = (bits << 1) | value
    return f"{bits:016x}"


def _finite(value: float) -> float:
    return float(value) if math.isfinite(value) else 0.0
