"""What the offline provider measures on an image: statistics from a small copy, and the quality metrics
(SSIM, mean CIEDE2000) the evaluation and the benchmark compare images with."""

from __future__ import annotations

import msgspec
import numpy as np
import numpy.typing as npt
import pyvips

#: the statistics' working size: percentiles and means move by < 1 level between 256 px and 12 MP
STATS_LONG_SIDE = 256
#: Rec. 601 luma weights (what JPEG's Y is made with)
LUMA = (0.299, 0.587, 0.114)

Pixels = npt.NDArray[np.float32]


class Stats(msgspec.Struct, frozen=True, kw_only=True):
    """An image's global signals, on 0..255 levels."""

    p_low: float  # 0.5th percentile of luma
    p_high: float  # 99.5th percentile of luma
    median: float
    contrast: float  # standard deviation of luma
    chroma: float  # mean |RGB - luma| (a cheap saturation)
    cast: tuple[float, float, float]  # per-channel gains that would make the midtones grey (grey-world)
    cast_strength: float  # how far from grey the midtones' mean is, as max |gain - 1|


def small(image: pyvips.Image, long_side: int = STATS_LONG_SIDE) -> Pixels:
    """``image`` shrunk to ``long_side`` (box filter: enough for statistics), float pixels."""
    factor = max(image.width, image.height) / long_side
    if factor > 1:
        image = image.resize(1 / factor, kernel="linear")
    data = np.ndarray(
        buffer=image.cast("uchar").write_to_memory(),
        dtype=np.uint8,
        shape=(image.height, image.width, image.bands),
    )
    return data.astype(np.float32)


def luma(pixels: Pixels) -> Pixels:
    """Luma (Rec. 601) of an H x W x 3 array."""
    return np.asarray(pixels[..., 0] * LUMA[0] + pixels[..., 1] * LUMA[1] + pixels[..., 2] * LUMA[2])


def stats(pixels: Pixels) -> Stats:
    """The global signals of an H x W x 3 array (``small``'s output)."""
    y = luma(pixels)
    p_low, median, p_high = (float(v) for v in np.percentile(y, (0.5, 50.0, 99.5)))
    # grey-world on the midtones only: clipped and near-black pixels say nothing about the light
    mid = (y > 20) & (y < 235)
    # picked from the flat (N x 3) view: the same rows as ``pixels[mid]``, a third of the time
    flat = pixels.reshape(-1, 3)
    chosen = flat[mid.ravel()] if int(mid.sum()) > 64 else flat
    means = chosen.mean(axis=0)
    grey = float(means.mean())
    gains = tuple(float(grey / max(m, 1.0)) for m in means)
    return Stats(
        p_low=p_low,
        p_high=p_high,
        median=median,
        contrast=float(y.std()),
        chroma=float(np.abs(pixels - y[..., None]).mean()),
        cast=(gains[0], gains[1], gains[2]),
        cast_strength=max(abs(g - 1.0) for g in gains),
    )


def ssim(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean SSIM of the two images' luma (Gaussian window sigma 1.5, the usual constants); same size."""
    x = a.colourspace("b-w")[0].cast("float")
    y = b.colourspace("b-w")[0].cast("float")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(im: pyvips.Image) -> pyvips.Image:
        return im.gaussblur(1.5, precision="float")

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    ratio = ((mx * my * 2 + c1) * (cxy * 2 + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ratio.avg())


def mean_de00(a: pyvips.Image, b: pyvips.Image) -> float:
    """Mean CIEDE2000 colour difference between two sRGB images of the same size (libvips' ``dE00``)."""
    return float(a.colourspace("lab").dE00(b.colourspace("lab")).avg())
