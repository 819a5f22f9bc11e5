"""The offline provider: classic corrections with libvips, each measured from the image and bounded.

Phase 1 measures the image on a 256 px copy (``measure.stats``) and folds white balance, levels and
exposure into ONE per-channel lookup table (one pass over the full image), then saturation (a 3 x 3
``recomb``), local contrast (a CLAHE gain map made on a 1/8 copy) and a noise-aware unsharp mask. Each
correction has a dead zone and a cap: a clean photo measures inside every dead zone and comes back nearly
untouched. Phase 2 scores the result and flags regions (a 3 x 3 grid) whose shadows are crushed or whose
highlights are blown; phase 3 lifts or recovers such a region under a feathered mask made on the image
being edited.
"""

from __future__ import annotations

import math

import numpy as np
import pyvips

from services.enhance.measure import LUMA, Pixels, Stats, luma, small, stats
from services.enhance.model import Analysis, Edit, Impact, Improvement, Region
from services.enhance.provider import EditContext, EditOutcome
from shared.runtime import feedback_words
from shared.runtime.feedback_words import COMMON_FILLER, COMMON_VOCABULARY

#: white balance: daylight photos are warm on average; grey-world measured these log-gains (R, G, B) as the
#: median of the test data's clean photos, and a cast is measured from there, not from neutral grey
WB_PRIOR = (-0.12, -0.02, 0.17)
#: casts within this (log-gain, from the prior) are the scene's own light (a sunset, a forest), left alone
WB_DEAD_ZONE = 0.04
WB_STRENGTH = 0.9
WB_MAX_LOG_GAIN = math.log(1.3)
#: a cast this far from the prior is the scene's light (tungsten indoors, a sunset): the correction fades
#: from full at WB_FADE_START to none at WB_FADE_END (jolla's indoor shot measures 1.2-1.6); the size that
#: decides is the larger of the cast as measured and as measured on the range-stretched copy (a flat copy of
#: a tinted scene looks only mildly tinted: 0.5 instead of 1.2, and was "corrected" half-way)
WB_FADE_START, WB_FADE_END = 0.35, 0.6
#: levels: the stretch applied at most (x2.5), and what counts as already using the range
LEVELS_MAX_GAIN = 2.5
BLACK_OK, WHITE_OK = 6.0, 242.0
LEVELS_STRENGTH = 0.3
#: exposure: a median luma under this is dark; it is raised towards EXPOSURE_TARGET (gamma >= 0.55)
DARK_MEDIAN, EXPOSURE_TARGET, MIN_GAMMA = 55.0, 90.0, 0.6
#: local contrast: applied only under this global contrast (luma standard deviation), at most this strength
FLAT_CONTRAST, LOCAL_CONTRAST_MAX = 35.0, 0.6
#: saturation: raised only under this mean chroma, by at most x1.25
DULL_CHROMA, MAX_SATURATION = 7.0, 1.25
#: sharpening: the unsharp amount on a clean image; none once the noise estimate reaches NOISY
SHARPEN_AMOUNT, NOISY = 0.15, 6.0

Lut = np.ndarray  # 256 x 3 float, the per-channel curve being built


def identity_lut() -> Lut:
    return np.repeat(np.arange(256, dtype=np.float64)[:, None], 3, axis=1)


def apply_lut(image: pyvips.Image, lut: Lut) -> pyvips.Image:
    """``image`` through a 256 x 3 curve (one ``maplut``: a single pass whatever the curve holds)."""
    table = np.clip(np.rint(lut), 0, 255).astype(np.uint8).reshape(1, 256, 3)
    return image.maplut(pyvips.Image.new_from_array(table, interpretation="histogram").cast("uchar"))


def saturate(image: pyvips.Image, amount: float) -> pyvips.Image:
    """Saturation scaled by ``amount`` around each pixel's luma (one ``recomb``)."""
    rows = [[(1 - amount) * w for w in LUMA] for _ in range(3)]
    for i in range(3):
        rows[i][i] += amount
    return image.recomb(rows).cast("uchar")


def unsharp(image: pyvips.Image, amount: float) -> pyvips.Image:
    """An unsharp mask in RGB (negative ``amount`` softens): ``im + amount * (im - blur(im))``."""
    blurred = image.gaussblur(1.0, precision="integer")
    return (image + (image - blurred) * amount).cast("uchar")


def local_contrast(image: pyvips.Image, strength: float) -> pyvips.Image:
    """CLAHE-like local contrast: ``hist_local`` on a 1/8 copy's luma gives a gain map, blended by
    ``strength``, smoothed, enlarged and multiplied in (no halos: the map is smooth at full size)."""
    shrunk = image.shrink(8, 8) if min(image.width, image.height) >= 128 else image
    y = shrunk.colourspace("b-w")[0]
    eq = y.hist_local(32, 32, max_slope=2.5)
    gain = ((eq.cast("float") + 16) / (y.cast("float") + 16) - 1) * strength + 1
    gain = gain.gaussblur(2.0).copy_memory()
    gain = gain.resize(image.width / gain.width, vscale=image.height / gain.height, kernel="linear")
    return (image * gain).cast("uchar")


def noise_sigma(image: pyvips.Image) -> float:
    """The noise estimate: median |Laplacian| of a full-resolution centre crop (<= 512 px), as a sigma."""
    side = min(512, image.width, image.height)
    crop = image.crop((image.width - side) // 2, (image.height - side) // 2, side, side)
    y = crop.colourspace("b-w")[0].cast("short")
    lap = y.conv(pyvips.Image.new_from_array([[0, 1, 0], [1, -4, 1], [0, 1, 0]]), precision="integer")
    values = np.abs(
        np.ndarray(buffer=lap.cast("float").write_to_memory(), dtype=np.float32, shape=(side * side,))
    )
    return float(np.median(values)) * 1.4826 / math.sqrt(20)  # MAD of a Laplacian of white noise -> sigma


def _wb(
    lut: Lut, cast: tuple[float, float, float], scene: tuple[float, float, float], edits: list[Edit]
) -> None:
    """White balance towards the prior. ``scene`` is the cast measured on the range-stretched copy: it
    decides whether the cast is the scene's own light (faded out), whatever a flat contrast hid of it."""
    logs = np.log(np.asarray(cast)) - np.asarray(WB_PRIOR)
    scene_logs = np.log(np.asarray(scene)) - np.asarray(WB_PRIOR)
    size = float(np.abs(logs).max())
    scene_size = float(np.abs(scene_logs).max())
    if size <= WB_DEAD_ZONE:
        return
    fade = min(1.0, max(0.0, (WB_FADE_END - max(size, scene_size)) / (WB_FADE_END - WB_FADE_START)))
    excess = logs * ((size - WB_DEAD_ZONE) / size) * WB_STRENGTH * fade
    excess = np.clip(excess, -WB_MAX_LOG_GAIN, WB_MAX_LOG_GAIN)
    if not excess.any():
        return
    gains = np.exp(excess)
    # green is the anchor (what a camera's white balance does): a cast made by scaling red and blue is undone
    # exactly, luma included; keeping the cast image's luma instead kept its brightness error too
    gains /= float(gains[1])
    lut *= gains[None, :]
    edits.append(
        Edit(
            name="white-balance",
            amount=round(float(np.abs(np.log(gains)).max()), 3),
            detail="gains R {:.3f} G {:.3f} B {:.3f}".format(*tuple(gains)),
        )
    )


def stretched(pixels: Pixels, measured: Stats) -> Pixels:
    """The statistics copy with its luma range stretched to 0..255 (the same map on every channel): a flat
    copy of a tinted scene measures as tinted as the scene itself."""
    span = max(measured.p_high - measured.p_low, 1.0)
    return np.asarray(np.clip((pixels - measured.p_low) * (255.0 / span), 0, 255), dtype=np.float32)


def _levels(lut: Lut, p_low: float, p_high: float, edits: list[Edit]) -> None:
    lo = p_low * 0.9 if p_low > BLACK_OK else 0.0
    hi = min(255.0, p_high + 3) if p_high < WHITE_OK else 255.0
    if lo == 0.0 and hi == 255.0:
        return
    # half the way: a compressed range is often the scene's (haze, a low-key shot), so it is not fully undone
    lo *= LEVELS_STRENGTH
    hi = 255.0 - (255.0 - hi) * LEVELS_STRENGTH
    gain = min(255.0 / max(hi - lo, 1.0), LEVELS_MAX_GAIN)
    lut[:] = (lut - lo) * gain
    edits.append(Edit(name="levels", amount=round(gain, 3), detail=f"black {lo:.1f} white {hi:.1f}"))


def _exposure(lut: Lut, median: float, edits: list[Edit]) -> None:
    if median >= DARK_MEDIAN or median <= 1:
        return
    target = min(EXPOSURE_TARGET, median * 1.6)
    gamma = max(MIN_GAMMA, math.log(target / 255) / math.log(median / 255))
    _gamma(lut, gamma)
    edits.append(Edit(name="exposure", amount=round(1 / gamma - 1, 3), detail=f"gamma {gamma:.3f}"))


def _gamma(lut: Lut, gamma: float) -> None:
    lut[:] = 255.0 * (np.clip(lut, 0, 255) / 255.0) ** gamma


def _contrast_curve(lut: Lut, amount: float) -> None:
    """An S-curve (``amount`` > 0) or its flattening (< 0) around mid-grey, blended by ``amount``."""
    x = np.clip(lut, 0, 255) / 255.0
    s = x * x * (3 - 2 * x)  # smoothstep
    lut[:] = 255.0 * (x + amount * (s - x))


def _curve_stats(pixels: Pixels, lut: Lut) -> Pixels:
    """The 256 px statistics copy put through the curve built so far (so later steps measure its result)."""
    table = np.clip(np.rint(lut), 0, 255)
    idx = np.clip(pixels, 0, 255).astype(np.int64)
    return np.stack([table[idx[..., c], c] for c in range(3)], axis=-1).astype(np.float32)


#: the feedback vocabulary (``shared/runtime/feedback_words.py``'s, as the video provider's)
FEEDBACK = {**COMMON_VOCABULARY, "more contrasty": "contrast+"}
FILLER = COMMON_FILLER | {"photo", "picture", "image"}


def parse_feedback(sentence: str) -> tuple[list[str], list[str]]:
    """(the adjustments asked for, in order; the words not understood) of a feedback sentence."""
    return feedback_words.parse_feedback(sentence, FEEDBACK, FILLER)


class OfflineProvider:
    """Classic, measured, bounded corrections (no model, no network)."""

    name = "offline"

    def creative_edit(
        self, image: pyvips.Image, context: EditContext, feedback: str | None
    ) -> tuple[pyvips.Image, EditOutcome]:
        """Phase 1 (or a feedback pass when ``feedback`` is given: only what the words ask for)."""
        if feedback is not None:
            return self._feedback(image, feedback)
        pixels = small(image)
        first = stats(pixels)
        edits: list[Edit] = []
        lut = identity_lut()
        _wb(lut, first.cast, stats(stretched(pixels, first)).cast, edits)
        _levels(lut, first.p_low, first.p_high, edits)
        after_levels = stats(_curve_stats(pixels, lut))
        curved = len(edits)
        _exposure(lut, after_levels.median, edits)
        if edits:
            image = apply_lut(image, lut)
        # measured again only if the exposure step changed the curve (most photos: it did not)
        after = stats(_curve_stats(pixels, lut)) if len(edits) > curved else after_levels
        if after.chroma < DULL_CHROMA and after.chroma > 1.0:
            amount = min(MAX_SATURATION, DULL_CHROMA / after.chroma)
            image = saturate(image, amount)
            edits.append(Edit(name="vibrance", amount=round(amount - 1, 3)))
        if after.contrast < FLAT_CONTRAST:
            strength = min(LOCAL_CONTRAST_MAX, (FLAT_CONTRAST - after.contrast) / 30.0)
            image = local_contrast(image, strength)
            edits.append(Edit(name="local-contrast", amount=round(strength, 3)))
        sigma = noise_sigma(image)
        amount = SHARPEN_AMOUNT * max(0.0, 1.0 - sigma / NOISY)
        if amount >= 0.05:
            image = unsharp(image, amount)
            edits.append(Edit(name="sharpen", amount=round(amount, 3), detail=f"noise sigma {sigma:.2f}"))
        note = ", ".join(e.name for e in edits) or "nothing needed"
        return image, EditOutcome(edits=tuple(edits), note=note)

    def _feedback(self, image: pyvips.Image, sentence: str) -> tuple[pyvips.Image, EditOutcome]:
        adjustments, leftover = parse_feedback(sentence)
        edits: list[Edit] = []
        lut = identity_lut()
        curve = False
        for adjustment in adjustments:
            if adjustment in ("brighter", "darker"):
                _gamma(lut, 0.85 if adjustment == "brighter" else 1.18)
                edits.append(Edit(name="exposure", amount=0.18 if adjustment == "brighter" else -0.15))
                curve = True
            elif adjustment in ("warmer", "cooler"):
                sign = 1.0 if adjustment == "warmer" else -1.0
                lut *= np.array([1 + 0.06 * sign, 1.0, 1 - 0.06 * sign])[None, :]
                edits.append(Edit(name="white-balance", amount=0.06 * sign, detail=adjustment))
                curve = True
            elif adjustment in ("contrast+", "contrast-"):
                amount = 0.3 if adjustment == "contrast+" else -0.3
                _contrast_curve(lut, amount)
                edits.append(Edit(name="contrast", amount=amount))
                curve = True
        if curve:
            image = apply_lut(image, lut)
        for adjustment in adjustments:
            if adjustment in ("saturation+", "saturation-"):
                amount = 1.2 if adjustment == "saturation+" else 0.8
                image = saturate(image, amount)
                edits.append(Edit(name="vibrance", amount=round(amount - 1, 3)))
            elif adjustment in ("sharper", "softer"):
                amount = 0.6 if adjustment == "sharper" else -0.5
                image = unsharp(image, amount)
                edits.append(Edit(name="sharpen", amount=amount))
        said = ", ".join(e.name for e in edits) or "nothing"
        note = f"did: {said}"
        if leftover:
            note += f"; did not understand: {' '.join(leftover)}"
        return image, EditOutcome(edits=tuple(edits), note=note, not_understood=tuple(leftover))

    def analyse(self, image: pyvips.Image) -> Analysis:
        """Phase 2: a score from the global signals, and the 3 x 3 grid's crushed or blown regions."""
        pixels = small(image)
        s = stats(pixels)
        score = 10.0
        score -= min(3.0, max(0.0, DARK_MEDIAN - s.median) / 15.0)  # dark overall
        score -= min(2.0, max(0.0, s.median - 190.0) / 15.0)  # washed out
        score -= min(2.0, max(0.0, 40.0 - s.contrast) / 10.0)  # flat
        score -= min(2.0, max(0.0, s.cast_strength - 0.35) * 4.0)  # a strong cast left
        improvements = _regions(luma(pixels))
        score -= sum(1.0 if i.impact == "high" else 0.5 for i in improvements)
        score = round(min(10.0, max(0.0, score)), 2)
        summary = f"median {s.median:.0f}, contrast {s.contrast:.0f}, {len(improvements)} region(s) flagged"
        return Analysis(score=score, improvements=tuple(improvements), summary=summary)

    def surgical_edit(
        self, image: pyvips.Image, improvement: Improvement
    ) -> tuple[pyvips.Image, EditOutcome]:
        """Phase 3: a shadow lift or a highlight recovery under a feathered mask made on ``image``."""
        if improvement.type not in ("shadow-lift", "highlight-recovery"):
            return image, EditOutcome(note=f"the offline provider does not do {improvement.type}")
        mask = region_mask(image, improvement.region, shadows=improvement.type == "shadow-lift")
        if improvement.type == "shadow-lift":
            edited = image * (mask * 0.8 + 1)  # up to x1.8 in the darkest part of the region
            name, amount = "shadow-lift", 0.8
        else:
            edited = image - (image - 128) * (mask * 0.25)  # up to 25 % of the way back from the clip
            name, amount = "highlight-recovery", 0.25
        out = edited.cast("uchar")
        edit = Edit(name=name, amount=amount, region=improvement.region, detail=improvement.instruction)
        return out, EditOutcome(edits=(edit,), note=improvement.instruction)


def region_mask(image: pyvips.Image, region: Region, *, shadows: bool) -> pyvips.Image:
    """A 0..1 float mask the size of ``image``: the region (feathered) times how dark (or bright) each
    place is; made on a 1/8 copy of ``image`` itself and enlarged, so it fits the image being edited."""
    factor = 8 if min(image.width, image.height) >= 128 else 1
    shrunk = image.shrink(factor, factor) if factor > 1 else image
    y = shrunk.colourspace("b-w")[0].cast("float")
    weight = ((96 - y) / 96) if shadows else ((y - 200) / 55)
    weight = (weight > 0).ifthenelse(weight, 0)
    weight = (weight < 1).ifthenelse(weight, 1)
    left, top, w, h = region.to_pixels(shrunk.width, shrunk.height)
    box = pyvips.Image.black(shrunk.width, shrunk.height).draw_rect(1.0, left, top, w, h, fill=True)
    feather = max(1.0, 0.05 * min(shrunk.width, shrunk.height))
    mask = (box.cast("float").gaussblur(feather) * weight.gaussblur(1.5)).copy_memory()
    return mask.resize(image.width / mask.width, vscale=image.height / mask.height, kernel="linear")


def _regions(y: Pixels) -> list[Improvement]:
    """The 3 x 3 grid cells whose shadows are crushed or highlights blown (at most 3, worst first)."""
    h, w = y.shape
    found: list[tuple[float, Improvement]] = []
    for row in range(3):
        for col in range(3):
            cell = y[row * h // 3 : (row + 1) * h // 3, col * w // 3 : (col + 1) * w // 3]
            region = Region(x=col / 3, y=row / 3, w=1 / 3, h=1 / 3)
            crushed = float((cell < 24).mean())
            blown = float((cell > 250).mean())
            if crushed > 0.4 and float(cell.mean()) < 50:
                impact: Impact = "high" if crushed > 0.7 else "medium"
                found.append(
                    (
                        crushed,
                        Improvement(
                            type="shadow-lift",
                            region=region,
                            impact=impact,
                            instruction=f"lift the crushed shadows ({crushed:.0%} near black)",
                        ),
                    )
                )
            elif blown > 0.3:
                found.append(
                    (
                        blown,
                        Improvement(
                            type="highlight-recovery",
                            region=region,
                            impact="medium",
                            instruction=f"recover the blown highlights ({blown:.0%} clipped)",
                        ),
                    )
                )
    found.sort(key=lambda f: -f[0])
    return [i for _, i in found[:3]]
