"""The offline triage evaluated on real photos: every keeper kept, every degraded frame discarded (issue 13;
issue 5 asked for >= 90 % precision and recall on discards, which the test still checks and prints).

Every photo under ``../shared/testdata/photos/{gps,cameras,orientation/*_1,heic}`` becomes a 1280 px working
copy (smaller photos upscaled with Lanczos, larger ones reduced), and from it:

- to discard: a heavy blur (gaussian σ 8-12), a deep underexposure (linear 0.06-0.10 of the encoded values:
  unrecoverably dark), a black frame (near 0 with sensor-like noise), a lens cap (noise a few levels above
  black and a faint leak of light), a "pocket" frame (fabric-like noise blurred hard, with a little of the
  scene's light, dimmed to low contrast), pure noise (σ 40-60 around mid grey), blown highlights (3-4x gain
  plus an offset that puts the median at white, so most pixels clip) and a fully blown frame (8x gain);
- to keep (keep when in doubt: reference §5.3): the clean copy; slightly dark (linear 0.6); a night street
  (darkened by a tone curve to a mean of 5-9 % with its detail kept); slightly soft (blur σ 1 and σ 2); mild
  noise (σ 6); a little overexposed (gain 1.3); the photo small on a white background; badly composed but
  clear (tilted 10-18°, an off-centre crop); and the original as it came, at its own size.

Each is written as a JPEG and run through the real photo pipeline (``process_photo``: decode, 1008 px signal
size, ``compute_signals``), then through ``OfflineTriage``. The test prints the signal distributions it
was calibrated on (with the judgement's derived ``unclipped_mean``), the verdicts
per degradation, and the scores. Against the rule before issue 13 (the mean alone) it fails: 8 of the 16
night streets, 14 of the 16 photos on white and 4 of the σ 2 ones discarded, all 16 frames of pure noise
kept (docs/triage.md).

Left out: the six 100 px EXIF-sample thumbnails in ``cameras`` (long side under ``MIN_LONG_SIDE``). Upscaled
12x to the working size, their *clean* copies measure sharpness 0.0008-0.0023, inside the σ 8-12 blur range
(0.0004-0.0019): at 1008 px they are as soft as the blurred copies, so labelling them "keep" would test the
upscaler, not the triage. (In production a photo that small is measured at its own size.)
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pillow_heif
import pytest
import pyvips

from services.media_process.model import Limits
from services.media_process.photo import process_photo
from services.selection.providers import OfflineTriage, TriageItem, unclipped_mean
from shared.events import catalogue as c
from tests.support.paths import TESTDATA

PHOTOS = TESTDATA / "photos"
WORKING_LONG_SIDE = 1280
MIN_LONG_SIDE = 300
MIN_PRECISION = MIN_RECALL = 0.90

Degrade = Callable[[pyvips.Image, int], pyvips.Image]


def _originals() -> list[Path]:
    return [
        *sorted((PHOTOS / "gps").glob("*.jpg")),
        *sorted((PHOTOS / "cameras").glob("*.jpg")),
        *sorted((PHOTOS / "orientation").glob("*_1.jpg")),
        *sorted((PHOTOS / "heic").iterdir()),
    ]


def _load(path: Path) -> pyvips.Image:
    """Upright 8-bit sRGB pixels of a test photo."""
    if path.suffix.lower() in (".heic", ".heif"):  # the pyvips wheel has no HEVC decoder
        rgb = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=True).to_pillow().convert("RGB")
        return pyvips.Image.new_from_memory(rgb.tobytes(), rgb.width, rgb.height, 3, "uchar")
    image = pyvips.Image.new_from_file(str(path)).autorot()
    return image.extract_band(0, n=3) if image.bands > 3 else image


def _working_copy(image: pyvips.Image) -> pyvips.Image:
    scale = WORKING_LONG_SIDE / max(image.width, image.height)
    return image.resize(scale, kernel="lanczos3").copy_memory()


def _u8(image: pyvips.Image) -> pyvips.Image:
    """Clip to 0..255 and cast to 8 bits (what a camera's encoder would do)."""
    return image.cast("uchar")  # libvips' cast clips out-of-range values


def _noise(image: pyvips.Image, sigma: float, mean: float, seed: int) -> pyvips.Image:
    bands = [
        pyvips.Image.gaussnoise(image.width, image.height, sigma=sigma, mean=mean, seed=seed + b)
        for b in range(3)
    ]
    return bands[0].bandjoin(bands[1:])


def _blown(image: pyvips.Image, i: int) -> pyvips.Image:
    gain = 3.0 + 0.5 * (i % 3)
    median = image.colourspace("b-w").percent(50)  # the luma half the pixels are under
    offset = max(40.0, 265.0 - gain * median)  # the median lands past white: most pixels clip
    return _u8(image.linear(gain, offset))


def _pocket(image: pyvips.Image, i: int) -> pyvips.Image:
    fabric = _noise(image, 60, 128, 1000 + i).gaussblur(12)
    return _u8((fabric * 0.7 + image.gaussblur(30) * 0.3).linear(0.15, 4))


def _lens_cap(image: pyvips.Image, i: int) -> pyvips.Image:
    """A covered lens: sensor noise a few levels above black, and a faint leak of the scene's light."""
    return _u8(_noise(image, 2.5, 5, 300 + i) + image.gaussblur(40) * 0.02)


def _night(image: pyvips.Image, i: int) -> pyvips.Image:
    """A night street: the photo darkened to a mean luma of 5-9 % by a tone curve, out = 0.6 in^g (g found
    by bisection, ~1.5-3), so its brightest parts stay at up to 60 % (lights, lit walls), its tones keep
    their order and its shadows their detail (the inverse curve gives the picture back), plus a little
    sensor noise (σ 1.5)."""
    target = 0.05 + 0.01 * (i % 5)
    luma = image.colourspace("b-w") / 255.0
    low, high = 0.5, 12.0
    for _ in range(30):
        gamma = (low + high) / 2
        low, high = (gamma, high) if (NIGHT_PEAK * luma**gamma).avg() > target else (low, gamma)
    darkened = (image / 255.0) ** ((low + high) / 2) * (NIGHT_PEAK * 255.0)
    return _u8(darkened + _noise(image, 1.5, 0, 400 + i))


NIGHT_PEAK = 0.6


def _white_background(image: pyvips.Image, i: int) -> pyvips.Image:
    """A bright product-style shot: the photo, reduced to 40-60 % of the frame's sides, on pure white."""
    scale = 0.4 + 0.1 * (i % 3)
    small = image.resize(scale, kernel="lanczos3")
    left, top = (image.width - small.width) // 2, (image.height - small.height) // 2
    return small.embed(left, top, image.width, image.height, extend="white")


def _tilted(image: pyvips.Image, i: int) -> pyvips.Image:
    """Badly composed: turned 10-18° and cut to the inner part (no black corners), at its own size."""
    angle = 10.0 + 4.0 * (i % 3)
    turned = image.rotate(angle)
    width, height = int(image.width * 0.62), int(image.height * 0.62)
    return turned.crop((turned.width - width) // 2, (turned.height - height) // 2, width, height)


def _off_centre(image: pyvips.Image, i: int) -> pyvips.Image:
    """Badly composed: a corner of the frame (55 % of each side), the subject cut off, at its own size."""
    width, height = int(image.width * 0.55), int(image.height * 0.55)
    corner = i % 4
    return image.crop(
        image.width - width if corner in (1, 3) else 0,
        image.height - height if corner >= 2 else 0,
        width,
        height,
    )


#: label "discard": what §5.3 says to throw away
DISCARDS: dict[str, Degrade] = {
    "heavy blur (σ 8-12)": lambda im, i: im.gaussblur(8 + 2 * (i % 3)),
    "deep underexposure (x0.06-0.10)": lambda im, i: _u8(im.linear(0.06 + 0.02 * (i % 3), 0)),
    "black frame": lambda im, i: _u8(_noise(im, 1.5, 2, 100 + i)),
    "lens cap": _lens_cap,
    "pocket frame": _pocket,
    "pure noise (σ 40-60)": lambda im, i: _u8(_noise(im, 40 + 10 * (i % 3), 128, 500 + i)),
    "blown highlights (x3-4)": _blown,
    "fully blown out (x8)": lambda im, i: _u8(im.linear(8.0, 60)),
}
#: label "keep": clean, or imperfect in ways a light edit fixes (keep when in doubt)
KEEPS: dict[str, Degrade] = {
    "clean": lambda im, i: im,
    "slightly dark (x0.6)": lambda im, i: _u8(im.linear(0.6, 0)),
    "night street (mean 5-9 %)": _night,
    "slight blur (σ 1)": lambda im, i: im.gaussblur(1),
    "slightly soft (σ 2)": lambda im, i: im.gaussblur(2),
    "mild noise (σ 6)": lambda im, i: _u8(im + _noise(im, 6, 0, 200 + i)),
    "a little overexposed (x1.3)": lambda im, i: _u8(im.linear(1.3, 0)),
    "white background": _white_background,
    "badly composed: tilted": _tilted,
    "badly composed: off-centre": _off_centre,
}
OWN_SIZE = "clean, at its own size"


class Labelled:
    def __init__(self, source: str, degradation: str, discard: bool, path: Path) -> None:
        self.source, self.degradation, self.discard, self.path = source, degradation, discard, path
        self.signals: c.PhotoSignals | None = None


def _build(tmp: Path) -> list[Labelled]:
    items: list[Labelled] = []
    loaded = [(path, _load(path)) for path in _originals()]
    usable = [(path, image) for path, image in loaded if max(image.width, image.height) >= MIN_LONG_SIDE]
    for i, (path, image) in enumerate(usable):
        work = _working_copy(image)
        for discard, table in ((True, DISCARDS), (False, KEEPS)):
            for n, (name, degrade) in enumerate(table.items()):
                out = tmp / f"{i:02}-{int(discard)}{n}.jpg"
                degrade(work, i).cast("uchar").jpegsave(str(out), Q=90)
                items.append(Labelled(path.name, name, discard, out))
        # and the photo as it came, at its own size (measured at 1008 px or its own size if smaller):
        # resampling to the working size smooths fine texture that a real file has
        out = tmp / f"{i:02}-own.jpg"
        image.jpegsave(str(out), Q=95)
        items.append(Labelled(path.name, OWN_SIZE, False, out))
    return items


def _measure(item: Labelled) -> None:
    item.signals = process_photo(item.path, "image/jpeg", Limits()).signals


def _range(values: list[float], fmt: str) -> str:
    return f"{min(values):{fmt}} / {statistics.median(values):{fmt}} / {max(values):{fmt}}"


@pytest.mark.slow
def test_offline_triage_precision_and_recall_on_discards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items = _build(tmp_path)
    with ThreadPoolExecutor(max_workers=2) as pool:  # libvips releases the GIL
        list(pool.map(_measure, items))
    triage = OfflineTriage()
    verdicts = {}
    for item in items:
        assert item.signals is not None
        verdicts[item.path] = triage.decide(
            TriageItem(
                key=str(item.path),
                name=item.path.name,
                kind="photo",
                media_type="image/jpeg",
                photo=item.signals,
            )
        )

    degradations = [*DISCARDS, *KEEPS, OWN_SIZE]
    lines = [
        "",
        f"offline triage evaluation: {len({i.source for i in items})} originals, "
        f"{len(items)} labelled photos",
        "",
        "signals (min / median / max) at the 1008 px signal size",
        f"{'':34} {'sharpness':>26}  {'exposure_mean':>20}"
        f"  {'highlights_clipped':>20}  {'shadows_clipped':>20}",
    ]
    for d in degradations:
        s = [i.signals for i in items if i.degradation == d and i.signals is not None]
        lines.append(
            f"{d:34} {_range([x.sharpness for x in s], '.4f'):>26}"
            f"  {_range([x.exposure_mean for x in s], '.3f'):>20}"
            f"  {_range([x.highlights_clipped for x in s], '.3f'):>20}"
            f"  {_range([x.shadows_clipped for x in s], '.3f'):>20}"
        )
    lines += [
        "",
        f"{'':34} {'luma_p1':>20}  {'luma_p99':>20}  {'structure':>20}  {'noise / luma_std':>20}"
        f"  {'mean of the unclipped':>22}",
    ]
    for d in degradations:
        s = [i.signals for i in items if i.degradation == d and i.signals is not None]
        lines.append(
            f"{d:34} {_range([x.luma_p1 or 0.0 for x in s], '.3f'):>20}"
            f"  {_range([x.luma_p99 or 0.0 for x in s], '.3f'):>20}"
            f"  {_range([x.structure or 0.0 for x in s], '.3f'):>20}"
            f"  {_range([(x.noise or 0.0) / max(x.luma_std or 0.0, 1e-6) for x in s], '.3f'):>20}"
            f"  {_range([unclipped_mean(x) for x in s], '.3f'):>22}"
        )
    lines += ["", f"{'degradation':34} {'label':>8} {'n':>4} {'discarded':>10}  reasons"]
    for d in degradations:
        group = [i for i in items if i.degradation == d]
        discarded = [i for i in group if verdicts[i.path].verdict == "discard"]
        reasons = sorted({re.split(r"[:;(.]", verdicts[i.path].reason)[0].strip() for i in group})
        label = "discard" if group[0].discard else "keep"
        lines.append(f"{d:34} {label:>8} {len(group):>4} {len(discarded):>10}  {'; '.join(reasons)}")
        for i in group:
            if (verdicts[i.path].verdict == "discard") != i.discard:
                lines.append(f"{'':36}wrong: {i.source}: {verdicts[i.path].reason}")

    tp = sum(1 for i in items if i.discard and verdicts[i.path].verdict == "discard")
    fp = sum(1 for i in items if not i.discard and verdicts[i.path].verdict == "discard")
    fn = sum(1 for i in items if i.discard and verdicts[i.path].verdict == "keep")
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    lines += [
        "",
        f"discards: precision {precision:.3f} ({tp}/{tp + fp}), recall {recall:.3f} ({tp}/{tp + fn})",
    ]
    with capsys.disabled():
        print("\n".join(lines))

    wrong = [i for i in items if (verdicts[i.path].verdict == "discard") != i.discard]
    assert len(items) >= 100
    assert precision >= MIN_PRECISION
    assert recall >= MIN_RECALL
    # keep when in doubt (issue 13): every keeper kept and every degraded discard discarded
    assert not wrong, [f"{i.source} {i.degradation}: {verdicts[i.path].reason}" for i in wrong]
