"""AI providers for triage: the interface, and the offline provider that decides from measured signals.

A provider is given every processed file of a session (``TriageItem``: what media_process measured and
where its thumbnail is) plus the trip context, and returns exactly one keep/discard ``Verdict`` per item
with a one-line reason and a confidence in 0..1. The Gemini provider (a later issue) implements the same
``TriageProvider`` protocol; ``OfflineTriage`` is the default when no API key is configured.

The offline rules follow the reference system's criteria (../shared/docs/reference-system.md §5.3):
discard the unrecoverably dark, the blurred beyond recognition, the accidental (pocket, floor, black
frame), the blown out, the frame without a subject (noise); videos under 2 s and near-uniform footage;
keep when in doubt: dark-but-visible, slightly soft, badly composed but clear. They judge what an edit
could recover, not the mean alone (issue 13): a dark photo is discarded only when its brightest detail
(``luma_p99``) is dim too, a bright one only when what is not pure white is pale too (``unclipped_mean``),
and a frame of noise is told by how little of its contrast is coarse (``structure``). A discard's
confidence grows with how far past its threshold the signal is; a keep's with how far it is from the
nearest discard threshold.

Calibration (``tests/selection/test_triage_evaluation.py`` prints the distributions): 16 real photos of
``../shared/testdata`` (Nikon Coolpix, Canon, Jolla, iPhone HEIC, the orientation scene) as 1280 px working
copies, each degraded 8 ways (gaussian blur σ 8-12, linear 0.06-0.10, a black frame with noise, a lens cap,
a dim hard-blurred noise "pocket" frame, pure noise, 3-4x and 8x gain with most pixels clipped) and kept 10
ways (clean; linear 0.6; a night street darkened by a tone curve to a mean of 5-9 %; blur σ 1 and σ 2; noise
σ 6; gain 1.3; the photo small on a white background; tilted; an off-centre crop), and each as it came:
304 photos measured by
the real photo pipeline at its 1008 px signal size. Each threshold sits near the geometric middle of the gap
between the classes it separates; the ranges measured are in its comment. Not in the set: a snow scene
(see ``BLOWN_HIGHLIGHTS``), a real (not simulated) night photo.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from shared.events import catalogue as c

# every AI provider's error (shared/runtime/ai.py): named from here by selection's modules and tests
from shared.runtime.ai import ProviderError as ProviderError

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
# The ranges quoted are those ``tests/selection/test_triage_evaluation.py`` prints (issue 13's set: 16
# originals made 18 ways each, and as they came: 304 photos); each threshold sits near the geometric
# middle of the gap it splits.

#: mean luma (0..1) under which a photo is dark; it is discarded as unrecoverably dark only when its
#: brightest detail is dim too (``DETAIL_LEVEL``). Linear 0.06-0.10 copies measured 0.011-0.048, the night
#: streets to keep 0.049-0.099 (the mean alone cannot tell them apart: issue 13).
DARK_EXPOSURE = 0.07
#: at this mean luma a dark photo is as dark as it gets (confidence 0.99): 10x below the threshold
DARK_FULL = DARK_EXPOSURE / 10
#: ``luma_p99`` (the brightest detail) at or above which a dark frame holds a picture a brightness edit
#: brings back: its lit part spans at least ~40 of the 256 levels. Linear 0.06-0.10 copies measured
#: 0.039-0.098, lens caps 0.035-0.043, pocket frames 0.090-0.114; night streets (darkened to a mean of
#: 5-9 % by a tone curve that keeps their detail) 0.235-0.600, every other keep 0.40 and up. 0.16 is the
#: geometric middle of 0.114 and 0.235 (1.4x from either side).
DETAIL_LEVEL = 0.16
#: mean luma below which, with at least ``BLACK_SHADOWS`` of the pixels at the black end, a frame is a
#: black frame (lens cap, pocket). Black frames with noise measured 0.006 with 90-93 % of pixels black.
BLACK_EXPOSURE = 0.02
BLACK_SHADOWS = 0.5
#: without ``luma_p99`` (files measured before issue 13): a dark photo with at least this fraction of
#: pure-white pixels is a night shot with light sources (street lights, a stage) and kept
NIGHT_HIGHLIGHTS = 0.002

#: sharpness below which a photo is blurred beyond recognition. Blur σ 8-12 copies measured 0.0004-0.0019;
#: the softest photos to keep (blur σ 2 of the upscaled small originals) 0.0029 and up, σ 1 0.0095 and up,
#: clean photos 0.020-0.85. 0.0024 is the geometric middle of the gap (1.25x from either side): in doubt,
#: a soft photo is kept.
BLUR_SHARPNESS = 0.0024
BLUR_FULL = BLUR_SHARPNESS / 10

#: dim AND featureless AND no bright detail: the accidental frame (inside a pocket, the floor at night, a
#: finger over the lens) too bright for ``DARK_EXPOSURE`` and with a little texture. Pocket frames
#: measured mean luma 0.076-0.090 and sharpness 0.0049-0.0080; a night street can be as dim and barely
#: sharper (0.024), which is why its bright detail (``DETAIL_LEVEL``) exempts it.
DIM_EXPOSURE = 0.11
FEATURELESS_SHARPNESS = 0.02

#: ``structure`` (the share of the luma's spread left in 32 x 32 block means) under which the frame is
#: noise with no subject. Pure noise measured 0.045-0.062 (black frames 0.061-0.076: discarded as black
#: first), every photo to keep 0.757-0.982 (lens caps 0.39-0.71, blown frames 0.31 and up: discarded by
#: their own rules first); 0.2 is 3.2x above and 3.8x below. (Before
#: issue 13 pure noise scored as very sharp, its Laplacian all noise, and was kept. The pixel-level
#: ``noise / luma_std`` does not separate them: fine texture counts as noise, and real 640 px photos of
#: foliage measured up to 0.33 against pure noise's 0.61-0.76.)
STRUCTURE_MIN = 0.2

#: blown out: mean luma at least this AND at least ``BLOWN_HIGHLIGHTS`` of the pixels pure white AND the
#: rest bright too (``BLOWN_REST``). Copies with 3-8x gain measured mean luma 0.84-1.0 with 8-96 % white;
#: a subject on a white background 0.77-0.93 with 64-85 % white: only what is not white tells them apart.
BLOWN_EXPOSURE = 0.78
BLOWN_HIGHLIGHTS = 0.05
#: ``unclipped_mean`` (the mean luma of the pixels that are not pure white) at or above which nothing
#: dark is left for an edit to bring the picture back from. Blown copies measured 0.70-0.96, subjects on
#: white 0.22-0.52 (their subject is exposed as the original was); 0.6 is 1.17x / 1.15x from them.
BLOWN_REST = 0.6

#: videos shorter than this are discarded without looking: "too short, likely accidental" (reference §5.3)
SHORT_VIDEO_S = 2.0
#: ``VideoSignals.luma_mean`` below which near-uniform footage is called black (media_process's black level)
VIDEO_BLACK_LUMA = 0.08
#: media_process's flat-frame range: a frame whose 10-90 % luma range is under it is blank
VIDEO_FLAT_SPREAD = 0.06


#: wording only: a kept photo darker than this is called "dark but visible", one softer than this "slightly
#: soft" (4x the blur limit)
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


def unclipped_mean(s: c.PhotoSignals) -> float:
    """Mean luma (0..1) of the pixels that are not pure white: the subject's exposure when a white
    background (or a clipped sky) fills the rest. Pure-white pixels count as 1 (they are 253-255 / 255)."""
    if s.highlights_clipped >= 1.0:
        return 1.0
    return min(1.0, max(0.0, (s.exposure_mean - s.highlights_clipped) / (1.0 - s.highlights_clipped)))


def _bright_detail(s: c.PhotoSignals) -> bool:
    """Does a dark frame hold detail a brightness edit can bring back?"""
    if s.luma_p99 is None:  # measured before issue 13: the old night rule (light sources, not blurred)
        return s.highlights_clipped >= NIGHT_HIGHLIGHTS and s.sharpness >= BLUR_SHARPNESS
    return s.luma_p99 >= DETAIL_LEVEL


def _photo_verdict(key: str, s: c.PhotoSignals) -> c.Verdict:
    """Keep when in doubt (reference §5.3): discard only what no edit recovers. A dark photo goes only
    when its brightest detail is dim too, a bright one only when what is not white is pale too."""
    exposure, sharpness = s.exposure_mean, s.sharpness
    headroom = 1.0 - exposure  # how far the mean is from white
    blown_headroom = 1.0 - BLOWN_EXPOSURE
    detail = _bright_detail(s)
    rest = unclipped_mean(s)

    # a frame of black with bright detail in it (fireworks, a lit window) is not a black frame
    lit = s.luma_p99 is not None and s.luma_p99 >= DETAIL_LEVEL
    if exposure < BLACK_EXPOSURE and s.shadows_clipped >= BLACK_SHADOWS and not lit:
        return _discard(
            key,
            f"Black frame: {_pct(s.shadows_clipped)} of it is pure black, likely taken by accident.",
            0.5 + 0.5 * _beyond(exposure, BLACK_EXPOSURE, BLACK_EXPOSURE / 10),
        )
    if exposure < DARK_EXPOSURE and not detail:
        brightest = "" if s.luma_p99 is None else f", its brightest detail {_pct(s.luma_p99)}"
        return _discard(
            key,
            f"Unrecoverably dark: mean brightness {_pct(exposure)}{brightest}, too little light for an "
            "edit to bring back.",
            _beyond(exposure, DARK_EXPOSURE, DARK_FULL),
        )
    if exposure >= BLOWN_EXPOSURE and s.highlights_clipped >= BLOWN_HIGHLIGHTS and rest >= BLOWN_REST:
        return _discard(
            key,
            f"Blown out: mean brightness {_pct(exposure)} with {_pct(s.highlights_clipped)} of it pure "
            "white and the rest pale; the detail is gone.",
            # 0 at the threshold, 1 at a mean of 98 % (headroom 0.02)
            _beyond(max(headroom, 1e-3), blown_headroom, 0.02),
        )
    if exposure < DIM_EXPOSURE and sharpness < FEATURELESS_SHARPNESS and not detail:
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
    if s.structure is not None and s.structure < STRUCTURE_MIN:
        return _discard(
            key,
            f"No discernible subject: the frame is noise ({_pct(s.structure)} of its contrast is coarser "
            "than the grain).",
            _beyond(max(s.structure, 1e-3), STRUCTURE_MIN, STRUCTURE_MIN / 10),
        )
    if sharpness < BLUR_SHARPNESS:
        return _discard(
            key,
            f"Blurred beyond recognition: no detail left (sharpness {sharpness:.4f}; usable photos "
            f"measure above {BLUR_SHARPNESS}).",
            _beyond(sharpness, BLUR_SHARPNESS, BLUR_FULL),
        )
    return _photo_keep(key, s, detail, rest)


def _photo_keep(key: str, s: c.PhotoSignals, detail: bool, rest: float) -> c.Verdict:
    """A kept photo: the confidence is the margin to the nearest discard rule (full at 10x the blur limit,
    3x the dark limits, twice the blown-out headroom, 3x the structure limit); the reason says what
    an edit would do."""
    exposure, sharpness = s.exposure_mean, s.sharpness
    headroom, blown_headroom = 1.0 - exposure, 1.0 - BLOWN_EXPOSURE
    margins = [
        _beyond(sharpness, BLUR_SHARPNESS, BLUR_SHARPNESS * 10),
        # kept if the mean is below the blown-out limit OR what is not white is darker than pale
        max(
            _beyond(max(headroom, 1e-3), blown_headroom, blown_headroom * 2),
            _beyond(max(1.0 - rest, 1e-3), 1.0 - BLOWN_REST, (1.0 - BLOWN_REST) * 2),
        ),
    ]
    if s.luma_p99 is not None:  # dark is judged by the brightest detail, with the mean as a second say
        margins.append(
            max(
                _beyond(s.luma_p99, DETAIL_LEVEL, DETAIL_LEVEL * 3),
                _beyond(exposure, DARK_EXPOSURE, DARK_EXPOSURE * 3),
            )
        )
    elif not detail:
        margins.append(_beyond(exposure, DARK_EXPOSURE, DARK_EXPOSURE * 3))
    if s.structure is not None:
        margins.append(_beyond(max(s.structure, 1e-3), STRUCTURE_MIN, STRUCTURE_MIN * 3))
    confidence = _keep_confidence(min(margins))
    if exposure < DARK_EXPOSURE:
        brightest = (
            "visible light sources" if s.luma_p99 is None else f"its brightest detail at {_pct(s.luma_p99)}"
        )
        reason = f"Dark but visible: a night shot with {brightest}; a brightness edit brings it back."
    elif exposure < KEEP_SAYS_DARK:
        reason = f"Dark but visible (mean brightness {_pct(exposure)}); a brightness edit can rescue it."
    elif sharpness < KEEP_SAYS_SOFT:
        reason = "Slightly soft but recognisable; kept (light sharpening may help)."
    elif exposure >= BLOWN_EXPOSURE and s.highlights_clipped >= BLOWN_HIGHLIGHTS:
        reason = (
            f"Bright with a white background or sky ({_pct(s.highlights_clipped)} pure white), but the "
            f"subject is exposed (mean brightness {_pct(rest)} outside the white); kept."
        )
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
