"""The offline video provider: recommendations derived from the analysis alone (no model, no network),
bounded, and neutral for a clip that needs nothing. See docs/video.md "Recommendations".

The constants below are the whole policy (the evaluation tunes them): levels are 8-bit luma as
signalstats reports them (limited range: 16 black, 235 white), shake is pixels at the analysis size's
reference ``SHAKE_REFERENCE_PX``.
"""

from __future__ import annotations

import math
from pathlib import Path

import msgspec

from services.video.model import Advice, Recommendations, VideoAnalysis, VideoContext
from shared.runtime import feedback_words
from shared.runtime.feedback_words import COMMON_FILLER, COMMON_VOCABULARY

#: exposure: a clip whose mean luma is below DARK_MEAN is lifted towards TARGET_MEAN (above BRIGHT_MEAN
#: it is brought down towards it); in between it is left alone
DARK_MEAN = 85.0
BRIGHT_MEAN = 170.0
TARGET_MEAN = 112.0
#: contrast: a clip whose 10th-90th percentile spread is below FLAT_SPREAD is stretched towards
#: TARGET_SPREAD, the gain never above MAX_GAIN (the same gain lifts a dark clip)
FLAT_SPREAD = 75.0
TARGET_SPREAD = 130.0
MAX_GAIN = 1.8
#: the gain never pushes the 90th percentile past this (no highlights clipped to lift the shadows)
HIGH_CEILING = 225.0
#: the midtone lift still missing after the gain comes from gamma, at most MAX_GAMMA (and at least 1/it)
MAX_GAMMA = 1.5
#: a clip whose spread is below BLANK_SPREAD is a blank scene (a white wall, a lens cap): left as it is
BLANK_SPREAD = 8.0
#: saturation: a dull clip (mean SATAVG below DULL_SATURATION but above GREY_SATURATION: a grey scene
#: stays grey) is boosted towards it, at most MAX_SATURATION
DULL_SATURATION = 6.0
GREY_SATURATION = 2.0
MAX_SATURATION = 1.15
#: white balance: a mean chroma offset beyond CAST_LIMIT levels, and beyond CAST_OF_SATURATION of the
#: clip's mean saturation (a colourful scene's mean is off neutral without any cast: a meadow, a sunset),
#: is corrected by CAST_SHARE of it, CAST_FULL levels being warmth/tint 1 (render.BALANCE_LEVELS)
CAST_LIMIT = 6.0
CAST_OF_SATURATION = 0.7
CAST_SHARE = 0.5
CAST_FULL = 20.0
#: stabilise when the shake (px at SHAKE_REFERENCE_PX) passes SHAKE_MIN, fully at SHAKE_FULL
SHAKE_REFERENCE_PX = 320
SHAKE_MIN = 2.5
SHAKE_FULL = 8.0
#: stabilisation strength given at SHAKE_MIN (it grows to 1 at SHAKE_FULL)
STABILISE_FLOOR = 0.3
#: denoise from the noise estimate: none up to NOISE_FLOOR, 1 at NOISE_FULL
NOISE_FLOOR = 4.0
NOISE_FULL = 12.0
#: sharpen a soft clip (blurdetect above SOFT_BLUR) that is not noisy, up to MAX_SHARPEN
SOFT_BLUR = 9.0
MAX_SHARPEN = 0.5
#: feedback steps
STEP_BRIGHT = 0.04
STEP_GAMMA = 1.12
STEP_CONTRAST = 1.12
STEP_SATURATION = 1.15
STEP_WARMTH = 0.25
STEP_SHARPEN = 0.3
STEP_STABILISE = 0.5


def recommend_from(analysis: VideoAnalysis) -> Recommendations:
    """Bounded recommendations from the analysis alone (a clean clip gets neutral ones)."""
    reasons: list[str] = []
    low, mean, high = analysis.luma_low, analysis.luma_mean, analysis.luma_high
    spread = max(1.0, high - low)
    blank = spread < BLANK_SPREAD
    gain = 1.0
    pivot = mean
    if blank:
        reasons.append("a blank scene: tones left alone")
    elif mean < DARK_MEAN and mean - low > 1.0:
        # lift a dark clip by stretching it up from its black point
        gain = max(gain, (TARGET_MEAN - low) / (mean - low))
        pivot = low
        reasons.append(f"dark (mean luma {mean:.0f})")
    if spread < FLAT_SPREAD and not blank:
        gain = max(gain, TARGET_SPREAD / spread)
        reasons.append(f"flat (spread {spread:.0f})")
    if gain > 1.0 and high - pivot > 1.0:
        gain = max(1.0, min(gain, (HIGH_CEILING - pivot) / (high - pivot)))
    gain = min(gain, MAX_GAIN)
    after = gain * (mean - pivot) + pivot
    gamma = 1.0
    if blank:
        pass
    elif after < DARK_MEAN and 0 < after < 255:
        gamma = _clamp(math.log(after / 255) / math.log(TARGET_MEAN / 255), 1.0, MAX_GAMMA)
    elif mean > BRIGHT_MEAN and mean < 255:
        gamma = _clamp(math.log(mean / 255) / math.log(TARGET_MEAN / 255), 1 / MAX_GAMMA, 1.0)
        reasons.append(f"bright (mean luma {mean:.0f})")
    # eq: out = c*(in - 127.5) + 127.5 + 255*brightness; we want out = gain*(in - pivot) + pivot
    brightness = ((1 - gain) * pivot + 127.5 * gain - 127.5) / 255 if gain != 1.0 else 0.0

    saturation = 1.0
    if GREY_SATURATION < analysis.saturation < DULL_SATURATION:
        saturation = min(MAX_SATURATION, DULL_SATURATION / analysis.saturation)
        reasons.append(f"dull colour (saturation {analysis.saturation:.1f})")

    warmth = tint = 0.0
    # +v is red, +u is blue: too warm means v - u is high; too magenta means u + v is high
    warm_cast = (analysis.cast_v - analysis.cast_u) / 2
    magenta_cast = (analysis.cast_u + analysis.cast_v) / 2
    limit = max(CAST_LIMIT, CAST_OF_SATURATION * analysis.saturation)
    if abs(warm_cast) > limit:
        warmth = _clamp(-warm_cast * CAST_SHARE / CAST_FULL, -1.0, 1.0)
        reasons.append("a warm cast" if warm_cast > 0 else "a cool cast")
    if abs(magenta_cast) > limit:
        tint = _clamp(-magenta_cast * CAST_SHARE / CAST_FULL, -1.0, 1.0)
        reasons.append("a magenta cast" if magenta_cast > 0 else "a green cast")

    shake = analysis.shake * SHAKE_REFERENCE_PX / max(1, analysis.analysis_px)
    stabilise = 0.0
    if shake > SHAKE_MIN:
        ramp = (shake - SHAKE_MIN) / (SHAKE_FULL - SHAKE_MIN)
        stabilise = _clamp(STABILISE_FLOOR + (1 - STABILISE_FLOOR) * ramp, 0.0, 1.0)
        reasons.append(f"shaky ({shake:.1f} px per frame)")
    denoise = _clamp((analysis.noise - NOISE_FLOOR) / (NOISE_FULL - NOISE_FLOOR), 0.0, 1.0)
    if denoise > 0:
        reasons.append(f"noisy (sigma {analysis.noise:.1f})")
    sharpen = 0.0
    if analysis.blur > SOFT_BLUR and denoise == 0:
        sharpen = _clamp((analysis.blur - SOFT_BLUR) / SOFT_BLUR, 0.0, MAX_SHARPEN)
        reasons.append("soft")
    if analysis.trim_in_s is not None or analysis.trim_out_s is not None:
        reasons.append("; ".join(analysis.notes) or "unusable start or end")
    return Recommendations(
        brightness=round(_clamp(brightness, -0.5, 0.5), 4),
        contrast=round(_clamp(gain, 0.5, 2.0), 4),
        gamma=round(gamma, 4),
        saturation=round(saturation, 4),
        warmth=round(warmth, 4),
        tint=round(tint, 4),
        stabilise=round(stabilise, 3),
        denoise=round(denoise, 3),
        sharpen=round(sharpen, 3),
        trim_in_s=analysis.trim_in_s,
        trim_out_s=analysis.trim_out_s,
        reason=("Corrected: " + ", ".join(reasons) + ".") if reasons else "The clip needs nothing.",
    )


#: the feedback vocabulary (``shared/runtime/feedback_words.py``'s, as the photo provider's, plus steadiness)
FEEDBACK = {
    **COMMON_VOCABULARY,
    "steadier": "steadier",
    "more stable": "steadier",
    "less shaky": "steadier",
    "stabilise": "steadier",
    "stabilize": "steadier",
}
FILLER = COMMON_FILLER | {"video", "clip", "movie"}


def parse_feedback(sentence: str) -> tuple[list[str], list[str]]:
    """(the adjustments asked for, in order of appearance, each once; the words not understood)."""
    return feedback_words.parse_feedback(sentence, FEEDBACK, FILLER)


def apply_feedback(recs: Recommendations, adjustments: list[str]) -> Recommendations:
    """``recs`` moved one step per adjustment, kept inside the bounds."""
    r = recs
    for adjustment in adjustments:
        if adjustment == "brighter":
            r = msgspec.structs.replace(r, brightness=r.brightness + STEP_BRIGHT, gamma=r.gamma * STEP_GAMMA)
        elif adjustment == "darker":
            r = msgspec.structs.replace(r, brightness=r.brightness - STEP_BRIGHT, gamma=r.gamma / STEP_GAMMA)
        elif adjustment in ("contrast+", "contrast-"):
            factor = STEP_CONTRAST if adjustment == "contrast+" else 1 / STEP_CONTRAST
            r = msgspec.structs.replace(r, contrast=r.contrast * factor)
        elif adjustment in ("saturation+", "saturation-"):
            factor = STEP_SATURATION if adjustment == "saturation+" else 1 / STEP_SATURATION
            r = msgspec.structs.replace(r, saturation=r.saturation * factor)
        elif adjustment in ("warmer", "cooler"):
            step = STEP_WARMTH if adjustment == "warmer" else -STEP_WARMTH
            r = msgspec.structs.replace(r, warmth=r.warmth + step)
        elif adjustment == "sharper":
            r = msgspec.structs.replace(r, sharpen=r.sharpen + STEP_SHARPEN)
        elif adjustment == "softer":
            if r.sharpen > 0:
                r = msgspec.structs.replace(r, sharpen=r.sharpen - STEP_SHARPEN)
            else:
                r = msgspec.structs.replace(r, denoise=r.denoise + STEP_SHARPEN)
        elif adjustment == "steadier":
            r = msgspec.structs.replace(r, stabilise=max(r.stabilise, STABILISE_FLOOR) + STEP_STABILISE)
    return bounded(r)


def bounded(r: Recommendations) -> Recommendations:
    """``r`` with every value inside ``Recommendations``' bounds."""
    return msgspec.structs.replace(
        r,
        brightness=round(_clamp(r.brightness, -0.5, 0.5), 4),
        contrast=round(_clamp(r.contrast, 0.5, 2.0), 4),
        gamma=round(_clamp(r.gamma, 0.5, 2.0), 4),
        saturation=round(_clamp(r.saturation, 0.0, 2.0), 4),
        warmth=round(_clamp(r.warmth, -1.0, 1.0), 4),
        tint=round(_clamp(r.tint, -1.0, 1.0), 4),
        stabilise=round(_clamp(r.stabilise, 0.0, 1.0), 3),
        denoise=round(_clamp(r.denoise, 0.0, 1.0), 3),
        sharpen=round(_clamp(r.sharpen, 0.0, 1.0), 3),
    )


class OfflineVideoProvider:
    """Recommendations from the analysis (the ``VideoProvider`` protocol; no model, no network)."""

    name = "offline"

    async def recommend(
        self,
        analysis: VideoAnalysis,
        *,
        preview: Path | None,
        context: VideoContext,
        feedback: str | None = None,
        previous: Advice | None = None,
    ) -> Advice:
        """From the analysis; with ``feedback``, ``previous`` (or the analysis' own) moved by its words."""
        base = previous.recommendations if previous is not None else recommend_from(analysis)
        if feedback is None:
            return Advice(recommendations=base)
        adjustments, leftover = parse_feedback(feedback)
        moved = apply_feedback(base, adjustments)
        said = ", ".join(adjustments) if adjustments else "nothing I know"
        reason = f"Feedback ({said}) applied to the previous pass."
        return Advice(
            recommendations=msgspec.structs.replace(moved, reason=reason),
            not_understood=tuple(leftover),
        )


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))
