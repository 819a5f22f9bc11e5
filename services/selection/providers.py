"""AI providers for triage: the interface, and the offline provider that decides from measured signals.

A provider is given every processed file of a session (``TriageItem``: what media_process measured and
where its thumbnail is) plus the trip context, and returns exactly one keep/discard ``Verdict`` per item
with a one-line reason and a confidence in 0..1. The Gemini provider (a later issue) implements the same
``TriageProvider`` protocol; ``OfflineTriage`` is the default when no API key is configured.

The offline rules follow the reference system's criteria (../shared/docs/reference-system.md §5.3):
discard the unrecoverably dark, the blurred beyond recognition, the accidental (pocket, floor, black
frame), the blown out; videos under 2 s and near-uniform footage; keep when in doubt. A discard's
confidence grows with how far past its threshold the signal is; a keep's with how far it is from the
nearest discard threshold.

Calibration (``tests/selection/test_triage_evaluation.py`` prints the distributions): 16 real photos of
``../shared/testdata`` (Nikon Coolpix, Canon, Jolla, iPhone HEIC, the orientation scene) as 1280 px working
copies, each also degraded (gaussian blur σ 8-12, linear 0.06-0.10, a black frame with noise, a dim
hard-blurred noise "pocket" frame, 3-4x gain with most pixels clipped) and mildly imperfect (linear 0.6, blur
σ 1, noise σ 6, gain 1.3): 160 photos measured by the real photo pipeline at its 1008 px signal size. Each
threshold sits near the geometric middle of the gap between the classes it separates; the ranges measured
are in its comment. Nothing there is a night photo, a snow scene or a white wall: see the comments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from shared.events import catalogue as c

# --------------------------------------------------------------------------- the interface


class TriageItem(msgspec.Struct, frozen=True, kw_only=True):
    """One processed file as a provider sees it."""

    key: str  # the original's S3 key (the verdict's key)
    name: str  # the file name as uploaded
    kind: c.MediaKind
    media_type: str
    metadata: c.MediaMetadata = c.MediaMetadata()
    photo: c.PhotoSignals | None = None
    video: c.VideoSignals | None = None
    thumbnail: str | None = None  # S3 key of the 400 px JPEG (what an AI provider looks at)
    preview: str | None = None  # S3 key of a video's compressed MP4 preview (what an AI provider watches)


class ProviderError(Exception):
    """The provider could not produce verdicts (the AI service failed or answered nonsense)."""


@runtime_checkable
class TriageProvider(Protocol):
    """Keep or discard for every item: exactly one verdict per item, keyed by ``TriageItem.key``."""

    @property
    def name(self) -> str:
        """Recorded in ``triage.completed`` and the results file: "offline", "gemini"."""
        ...

    async def triage(self, items: Sequence[TriageItem], *, context: str) -> list[c.Verdict]:
        """``context`` is the trip as the user described it ("Weekend in Kyoto"); may be empty."""
        ...


# --------------------------------------------------------------------------- thresholds
# Photo signals are those of ``services.media_process.photo.compute_signals`` at the 1008 px working size.

#: mean luma (0..1) below which a photo is unrecoverably dark. Linear 0.06-0.10 copies measured 0.011-0.048;
#: the darkest photo to keep (linear 0.6 of the dimmest original) 0.125, clean photos 0.21 and up.
DARK_EXPOSURE = 0.07
#: at this mean luma a dark photo is as dark as it gets (confidence 0.99): 10x below the threshold
DARK_FULL = DARK_EXPOSURE / 10
#: mean luma below which, with at least ``BLACK_SHADOWS`` of the pixels at the black end, a frame is a
#: black frame (lens cap, pocket). Black frames with noise measured 0.006 with 90-93 % of pixels black;
#: the darkest underexposed copy (0.011, 54 % black) is called black too, which it nearly is.
BLACK_EXPOSURE = 0.02
BLACK_SHADOWS = 0.5
#: a dark photo with at least this fraction of pure-white pixels is a night shot with light sources (street
#: lights, a stage): kept. NOT calibrated (testdata has no night photo); every darkened copy, pocket and
#: black frame measured 0.000, and 0.2 % of a 1008 x 756 frame is ~1,500 pixels of lights.
NIGHT_HIGHLIGHTS = 0.002

#: sharpness below which a photo is blurred beyond recognition. Blur σ 8-12 copies measured 0.0004-0.0019;
#: the softest photos to keep (blur σ 1 of the denoised phone photos) 0.0095 and up, clean photos 0.026-0.72.
#: 0.005 is 2.6x above the blurred and 1.9x below the softest keep (the geometric middle is 0.0042; the
#: margin is left on the keep side, where a real 12 MP photo measures sharper than these upscaled ones).
BLUR_SHARPNESS = 0.005
BLUR_FULL = BLUR_SHARPNESS / 10

#: dim AND featureless: the accidental frame (inside a pocket, the floor at night, a finger over the lens)
#: too bright for ``DARK_EXPOSURE`` and with a little texture. Pocket frames measured mean luma 0.076-0.090
#: and sharpness 0.0049-0.0080; the only keep under a mean of 0.2 (linear 0.6 of the dimmest original)
#: measured 0.125 with sharpness 0.053. Both limits sit near the geometric middle of those gaps (0.106,
#: 0.021), and a frame must be under both to go.
DIM_EXPOSURE = 0.11
FEATURELESS_SHARPNESS = 0.02

#: blown out: mean luma at least this AND at least ``BLOWN_HIGHLIGHTS`` of the pixels pure white. Copies
#: with 3-4x gain (most pixels clipped) measured mean luma 0.84-0.97 with 8-77 % white (a colour cast keeps
#: the luma of a pixel with one clipped channel below white); the brightest keeps (gain 1.3) 0.27-0.67 with
#: at most 17 % white. As headroom (1 - mean): 0.22 sits 1.4-1.5x from both sides. A correctly exposed snow
#: scene can reach a mean of 0.8: it is kept only while under 5 % of it is pure white.
BLOWN_EXPOSURE = 0.78
BLOWN_HIGHLIGHTS = 0.05

#: videos shorter than this are discarded without looking: "too short, likely accidental" (reference §5.3)
SHORT_VIDEO_S = 2.0
#: ``VideoSignals.luma_mean`` below which near-uniform footage is called black (media_process's black level)
VIDEO_BLACK_LUMA = 0.08
#: media_process's flat-frame range: a frame whose 10-90 % luma range is under it is blank
VIDEO_FLAT_SPREAD = 0.06


#: wording only: a kept photo darker than this is called "dark but visible", one softer than this "slightly
#: soft" (4x the blur limit: the softest slight-blur copies measured 0.0095-0.018)
KEEP_SAYS_DARK = 0.2
KEEP_SAYS_SOFT = 4 * BLUR_SHARPNESS


# --------------------------------------------------------------------------- confidence
DISCARD_FLOOR = 0.6  # a discard just past its threshold
KEEP_FLOOR = 0.5  # a keep just inside one (a coin toss: kept because in doubt)
CEILING = 0.99


def _beyond(value: float, threshold: float, full: float) -> float:
    """0..1: how far ``value`` is past ``threshold`` towards ``full`` on a log scale (either direction)."""
    if value <= 0 or threshold <= 0 or full <= 0 or full == threshold:
        return 1.0 if (full < threshold) == (value < threshold) else 0.0
    return min(1.0, max(0.0, math.log(value / threshold) / math.log(full / threshold)))


def _discard_confidence(severity: float) -> float:
    return round(DISCARD_FLOOR + (CEILING - DISCARD_FLOOR) * min(1.0, max(0.0, severity)), 3)


def _keep_confidence(margin: float) -> float:
    return round(KEEP_FLOOR + (CEILING - KEEP_FLOOR) * min(1.0, max(0.0, margin)), 3)


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


# --------------------------------------------------------------------------- the offline provider
class OfflineTriage:
    """Deterministic and network-free: decides from the signals media_process measured."""

    @property
    def name(self) -> str:
        return "offline"

    async def triage(self, items: Sequence[TriageItem], *, context: str) -> list[c.Verdict]:
        return [self.decide(item) for item in items]

    def decide(self, item: TriageItem) -> c.Verdict:
        if item.kind == "video" and item.video is not None:
            return _video_verdict(item.key, item.video)
        if item.kind == "photo" and item.photo is not None:
            return _photo_verdict(item.key, item.photo)
        return c.Verdict(
            key=item.key,
            verdict="keep",
            reason="No quality signals were measured for this file; kept (keep when in doubt).",
            confidence=KEEP_FLOOR,
        )


def _discard(key: str, reason: str, severity: float) -> c.Verdict:
    return c.Verdict(key=key, verdict="discard", reason=reason, confidence=_discard_confidence(severity))


def _photo_verdict(key: str, s: c.PhotoSignals) -> c.Verdict:
    exposure, sharpness = s.exposure_mean, s.sharpness
    headroom = 1.0 - exposure  # how far the mean is from white
    blown_headroom = 1.0 - BLOWN_EXPOSURE

    if exposure < BLACK_EXPOSURE and s.shadows_clipped >= BLACK_SHADOWS:
        return _discard(
            key,
            f"Black frame: {_pct(s.shadows_clipped)} of it is pure black, likely taken by accident.",
            0.5 + 0.5 * _beyond(exposure, BLACK_EXPOSURE, BLACK_EXPOSURE / 10),
        )
    night = s.highlights_clipped >= NIGHT_HIGHLIGHTS and sharpness >= BLUR_SHARPNESS
    if exposure < DARK_EXPOSURE and not night:
        return _discard(
            key,
            f"Unrecoverably dark: mean brightness {_pct(exposure)}, too little light for an edit to bring "
            "back.",
            _beyond(exposure, DARK_EXPOSURE, DARK_FULL),
        )
    if exposure >= BLOWN_EXPOSURE and s.highlights_clipped >= BLOWN_HIGHLIGHTS:
        return _discard(
            key,
            f"Blown out: mean brightness {_pct(exposure)} with {_pct(s.highlights_clipped)} of it pure "
            "white; the detail is gone.",
            # 0 at the threshold, 1 at a mean of 98 % (headroom 0.02)
            _beyond(max(headroom, 1e-3), blown_headroom, 0.02),
        )
    if exposure < DIM_EXPOSURE and sharpness < FEATURELESS_SHARPNESS and not night:
        return _discard(
            key,
            f"Looks accidental (pocket, floor or a covered lens): dim ({_pct(exposure)}) and without any "
            "detail.",
            # the less certain of the two conditions decides
            min(
                _beyond(exposure, DIM_EXPOSURE, DARK_EXPOSURE),
                _beyond(sharpness, FEATURELESS_SHARPNESS, BLUR_SHARPNESS),
            ),
        )

    if sharpness < BLUR_SHARPNESS:
        return _discard(
            key,
            f"Blurred beyond recognition: no detail left (sharpness {sharpness:.4f}; usable photos "
            f"measure above {BLUR_SHARPNESS}).",
            _beyond(sharpness, BLUR_SHARPNESS, BLUR_FULL),
        )
    # Kept: the confidence is the margin to the nearest discard rule, full at 10x the blur limit, 3x the
    # dark limit and twice the blown-out headroom to white.
    margins = [
        _beyond(sharpness, BLUR_SHARPNESS, BLUR_SHARPNESS * 10),
        _beyond(max(headroom, 1e-3), blown_headroom, blown_headroom * 2),
    ]
    if not night:
        margins.append(_beyond(exposure, DARK_EXPOSURE, DARK_EXPOSURE * 3))
    confidence = _keep_confidence(min(margins))
    if night and exposure < DARK_EXPOSURE:
        reason = "A dark night shot with visible light sources; kept."
    elif exposure < KEEP_SAYS_DARK:
        reason = f"Dark but visible (mean brightness {_pct(exposure)}); a brightness edit can rescue it."
    elif sharpness < KEEP_SAYS_SOFT:
        reason = "Slightly soft but recognisable; kept (light sharpening may help)."
    elif s.highlights_clipped >= BLOWN_HIGHLIGHTS:
        reason = (
            f"Some highlights are lost ({_pct(s.highlights_clipped)} pure white), but the subject is clear."
        )
    else:
        reason = "Sharp enough and reasonably exposed."
    return c.Verdict(key=key, verdict="keep", reason=reason, confidence=confidence)


def _video_verdict(key: str, v: c.VideoSignals) -> c.Verdict:
    if v.duration_s < SHORT_VIDEO_S:
        return _discard(
            key,
            f"Too short ({v.duration_s:.1f} s), likely accidental.",
            (SHORT_VIDEO_S - max(v.duration_s, 0.0)) / SHORT_VIDEO_S,
        )
    if v.near_uniform:
        severity = max(0.0, 1.0 - v.luma_spread / (2 * VIDEO_FLAT_SPREAD))
        if v.luma_mean < VIDEO_BLACK_LUMA:
            reason = "Black or covered-lens footage (pocket or lens cap): nothing is visible."
        else:
            reason = "Near-uniform footage (a flat wall or a white-out): nothing to see."
        return _discard(key, reason, severity)
    margin = min(
        (v.duration_s - SHORT_VIDEO_S) / SHORT_VIDEO_S,
        v.luma_spread / (4 * VIDEO_FLAT_SPREAD),
    )
    return c.Verdict(
        key=key,
        verdict="keep",
        reason="Video with visible content; kept (its sharpness is not measured).",
        confidence=_keep_confidence(margin),
    )
