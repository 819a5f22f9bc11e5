"""The pipeline's values: regions clamp and map onto any image size; the actionable improvements."""

from __future__ import annotations

import msgspec

from services.enhance.model import Analysis, Edit, Improvement, PhaseResult, Region


def test_region_clamps_to_the_unit_square() -> None:
    r = Region(x=-0.2, y=0.5, w=2.0, h=0.8).clamped()
    assert (r.x, r.y, r.w, r.h) == (0.0, 0.5, 1.0, 0.5)


def test_region_maps_onto_the_image_being_edited() -> None:
    """The same normalised region lands on the same part of a small and a large copy of a picture."""
    r = Region(x=0.5, y=0.25, w=0.5, h=0.5)
    assert r.to_pixels(1024, 768) == (512, 192, 512, 384)
    assert r.to_pixels(4032, 3024) == (2016, 756, 2016, 1512)
    assert Region(x=1.0, y=1.0, w=0.0, h=0.0).to_pixels(10, 10) == (9, 9, 1, 1)


def test_actionable_improvements_are_high_then_medium_never_low() -> None:
    def imp(impact: str) -> Improvement:
        return msgspec.convert(
            {
                "type": "shadow-lift",
                "region": {"x": 0, "y": 0, "w": 1, "h": 1},
                "impact": impact,
                "instruction": "",
            },
            Improvement,
        )

    analysis = Analysis(score=6.0, improvements=(imp("low"), imp("medium"), imp("high")))
    assert [i.impact for i in analysis.actionable()] == ["high", "medium"]


def test_phase_result_round_trips_through_json() -> None:
    result = PhaseResult(phase="creative", edits=(Edit(name="exposure", amount=0.4),), note="brighter")
    assert msgspec.json.decode(msgspec.json.encode(result), type=PhaseResult) == result
