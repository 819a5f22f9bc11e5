"""The offline triage provider on hand-made signals: each discard rule, keep when in doubt, videos, and
confidences that grow with how far past a threshold a signal is."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from services.selection import providers as p
from services.selection.providers import OfflineTriage, TriageItem, TriageProvider
from shared.events import catalogue as c

OFFLINE = OfflineTriage()


def photo(**signals: Any) -> TriageItem:
    """A well exposed, sharp photo unless told otherwise."""
    s: dict[str, Any] = {
        "sharpness": 0.3,
        "exposure_mean": 0.45,
        "shadows_clipped": 0.001,
        "highlights_clipped": 0.01,
        "colour_cast": 8.0,
        "phash": "0123456789abcdef",
    }
    s.update(signals)
    return TriageItem(
        key="uploads/s/IMG_1.JPG",
        name="IMG_1.JPG",
        kind="photo",
        media_type="image/jpeg",
        photo=c.PhotoSignals(**s),
    )


def video(**signals: Any) -> TriageItem:
    s: dict[str, Any] = {"luma_mean": 0.4, "luma_spread": 0.5, "near_uniform": False, "duration_s": 12.0}
    s.update(signals)
    return TriageItem(
        key="uploads/s/MOV_1.MP4",
        name="MOV_1.MP4",
        kind="video",
        media_type="video/mp4",
        video=c.VideoSignals(**s),
    )


def decide(item: TriageItem) -> c.Verdict:
    return OFFLINE.decide(item)


def test_the_offline_provider_implements_the_interface() -> None:
    assert isinstance(OFFLINE, TriageProvider)
    items = [photo(), video()]
    verdicts = anyio.run(lambda: OFFLINE.triage(items, context="Weekend in Kyoto"))
    assert [v.key for v in verdicts] == [i.key for i in items]


def test_a_good_photo_is_kept_confidently() -> None:
    v = decide(photo())
    assert v.verdict == "keep"
    assert v.confidence >= 0.9
    assert v.reason and "\n" not in v.reason


@pytest.mark.parametrize(
    ("signals", "words"),
    [
        ({"exposure_mean": 0.006, "shadows_clipped": 0.96}, "Black frame"),
        ({"exposure_mean": 0.03, "shadows_clipped": 0.1, "highlights_clipped": 0.0}, "Unrecoverably dark"),
        ({"sharpness": 0.001}, "Blurred beyond recognition"),
        ({"exposure_mean": 0.93, "highlights_clipped": 0.6}, "Blown out"),
        ({"exposure_mean": 0.085, "sharpness": 0.008, "highlights_clipped": 0.0}, "Looks accidental"),
    ],
)
def test_each_discard_rule(signals: dict[str, Any], words: str) -> None:
    v = decide(photo(**signals))
    assert v.verdict == "discard", v
    assert v.reason.startswith(words), v.reason
    assert "\n" not in v.reason
    assert p.DISCARD_FLOOR <= v.confidence <= 1.0


@pytest.mark.parametrize(
    ("signals", "why"),
    [
        ({"exposure_mean": 0.12, "highlights_clipped": 0.0}, "dark but visible"),
        ({"sharpness": 0.008}, "slightly soft"),
        ({"exposure_mean": 0.1, "sharpness": 0.05, "highlights_clipped": 0.0}, "dim but detailed"),
        ({"exposure_mean": 0.7, "highlights_clipped": 0.15}, "bright, highlights partly lost"),
        ({"exposure_mean": 0.85, "highlights_clipped": 0.01}, "bright scene (snow), nothing clipped"),
        ({"exposure_mean": 0.05, "highlights_clipped": 0.01}, "night shot with lights"),
        ({"colour_cast": 45.0}, "a colour cast is fixable"),
    ],
)
def test_keep_when_in_doubt(signals: dict[str, Any], why: str) -> None:
    v = decide(photo(**signals))
    assert v.verdict == "keep", (why, v)
    assert 0.5 <= v.confidence <= 1.0


def test_keeps_near_a_threshold_are_less_confident_than_clear_keeps() -> None:
    clear = decide(photo()).confidence
    soft = decide(photo(sharpness=p.BLUR_SHARPNESS * 1.2)).confidence
    dim = decide(photo(exposure_mean=p.DARK_EXPOSURE * 1.1, highlights_clipped=0.0, sharpness=0.3)).confidence
    assert soft < clear and dim < clear
    assert soft < 0.6 and dim < 0.6


@pytest.mark.parametrize(
    ("field", "values", "extra"),
    [
        ("sharpness", [0.002, 0.001, 0.0004, 0.0001], {}),
        ("exposure_mean", [0.065, 0.045, 0.025], {"highlights_clipped": 0.0, "shadows_clipped": 0.1}),
        ("exposure_mean", [0.85, 0.88, 0.92, 0.99], {"highlights_clipped": 0.5}),
    ],
)
def test_discard_confidence_grows_with_the_distance_past_the_threshold(
    field: str, values: list[float], extra: dict[str, Any]
) -> None:
    verdicts = [decide(photo(**{field: x, **extra})) for x in values]
    assert all(v.verdict == "discard" for v in verdicts), verdicts
    confidences = [v.confidence for v in verdicts]
    assert confidences == sorted(confidences) and confidences[0] < confidences[-1], confidences


def test_a_video_under_two_seconds_is_discarded_as_too_short() -> None:
    v = decide(video(duration_s=1.2))
    assert v.verdict == "discard"
    assert v.reason == "Too short (1.2 s), likely accidental."
    assert decide(video(duration_s=0.3)).confidence > v.confidence
    assert decide(video(duration_s=2.0)).verdict == "keep"


def test_near_uniform_footage_is_discarded() -> None:
    black = decide(video(near_uniform=True, luma_mean=0.02, luma_spread=0.01))
    wall = decide(video(near_uniform=True, luma_mean=0.6, luma_spread=0.04))
    assert (black.verdict, wall.verdict) == ("discard", "discard")
    assert black.reason.startswith("Black or covered-lens footage")
    assert wall.reason.startswith("Near-uniform footage")
    assert black.confidence > wall.confidence


def test_an_ordinary_video_is_kept() -> None:
    v = decide(video())
    assert v.verdict == "keep" and v.confidence >= 0.9


def test_a_file_without_signals_is_kept() -> None:
    item = TriageItem(key="uploads/s/x.jpg", name="x.jpg", kind="photo", media_type="image/jpeg")
    v = decide(item)
    assert (v.verdict, v.confidence) == ("keep", 0.5)


# ----------------------------------------------------------------- keep when in doubt (issue 13)
#: a night street: mean 6 %, mostly black, its lights and lit walls bright, little noise next to its contrast
NIGHT = {"exposure_mean": 0.06, "shadows_clipped": 0.7, "highlights_clipped": 0.001, "sharpness": 0.05}
NIGHT_DETAIL = {"luma_p1": 0.0, "luma_p99": 0.9, "luma_std": 0.19, "noise": 0.004}


def test_a_dark_photo_is_judged_by_its_brightest_detail_not_its_mean() -> None:
    kept = decide(photo(**NIGHT, **NIGHT_DETAIL))
    assert kept.verdict == "keep", kept
    assert kept.reason.startswith("Dark but visible")
    # the same mean with its brightest detail at 8 %: nothing for an edit to bring up
    dim = decide(photo(**NIGHT, **{**NIGHT_DETAIL, "luma_p99": 0.08, "luma_std": 0.02}))
    assert dim.verdict == "discard" and dim.reason.startswith("Unrecoverably dark"), dim
    # and mostly black with bright detail (fireworks) is not a black frame
    fireworks = {**NIGHT, "exposure_mean": 0.015, "shadows_clipped": 0.9}
    assert decide(photo(**fireworks, **NIGHT_DETAIL)).verdict == "keep"
    assert decide(photo(**fireworks, **{**NIGHT_DETAIL, "luma_p99": 0.03})).reason.startswith("Black frame")


def test_a_dim_featureless_frame_with_bright_detail_is_not_a_pocket_shot() -> None:
    signals = {"exposure_mean": 0.09, "sharpness": 0.015, "highlights_clipped": 0.0, "luma_std": 0.1}
    assert decide(photo(**signals, luma_p99=0.5, noise=0.003)).verdict == "keep"
    pocket = decide(photo(**signals, luma_p99=0.11, noise=0.001))
    assert pocket.verdict == "discard" and pocket.reason.startswith("Looks accidental"), pocket


def test_a_subject_on_white_is_kept_and_a_blown_out_frame_is_not() -> None:
    # 75 % pure white, the rest at a mean of 42 %: a product shot
    white = decide(photo(exposure_mean=0.855, highlights_clipped=0.75, luma_p1=0.05, luma_p99=1.0))
    assert white.verdict == "keep", white
    assert white.reason.startswith("Bright with a white background")
    assert p.unclipped_mean(photo(exposure_mean=0.855, highlights_clipped=0.75).photo) == pytest.approx(0.42)
    # 50 % white and the rest at 86 %: blown
    blown = decide(photo(exposure_mean=0.93, highlights_clipped=0.5))
    assert blown.verdict == "discard" and blown.reason.startswith("Blown out"), blown


def test_a_frame_of_noise_is_discarded_and_a_grainy_photo_kept() -> None:
    # pure noise: "sharp" (its Laplacian is all noise) but nothing coarser than the grain
    noise = decide(photo(exposure_mean=0.5, sharpness=12.0, luma_std=0.1, noise=0.1, structure=0.04))
    assert noise.verdict == "discard" and noise.reason.startswith("No discernible subject"), noise
    # a photo of foliage: much fine texture (Immerkær's noise a third of its contrast), coarse structure
    grainy = decide(photo(sharpness=3.0, luma_std=0.25, noise=0.08, structure=0.77))
    assert grainy.verdict == "keep" and grainy.confidence >= 0.9, grainy
    # the less structure, the surer the discard
    flatter = decide(photo(exposure_mean=0.5, sharpness=12.0, luma_std=0.1, noise=0.1, structure=0.02))
    assert flatter.confidence > noise.confidence


def test_signals_measured_before_the_new_fields_keep_the_old_night_rule() -> None:
    old = {"exposure_mean": 0.05, "sharpness": 0.05, "shadows_clipped": 0.3}
    assert decide(photo(**old, highlights_clipped=0.01)).verdict == "keep"
    assert decide(photo(**old, highlights_clipped=0.0)).verdict == "discard"
    no_structure = photo(**old, highlights_clipped=0.01).photo
    assert no_structure is not None and no_structure.structure is None  # no noise rule without it
