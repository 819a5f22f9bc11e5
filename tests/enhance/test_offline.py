"""The offline provider: measured, bounded corrections; the analysis' regions; the feedback vocabulary."""

from __future__ import annotations

import pytest
import pyvips

from services.enhance.measure import luma, mean_de00, small, ssim
from services.enhance.model import Region
from services.enhance.offline import OfflineProvider, parse_feedback
from services.enhance.provider import EditContext
from tests.support.paths import TESTDATA

PHOTOS = TESTDATA / "photos"
CLEAN = [*sorted((PHOTOS / "gps").glob("*.jpg"))[:4], PHOTOS / "orientation" / "landscape_1.jpg"]


def load(path: object) -> pyvips.Image:
    return pyvips.Image.new_from_file(str(path)).autorot().copy_memory()


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: p.name)
def test_a_clean_photo_comes_back_nearly_untouched(path: object) -> None:
    image = load(path)
    out, _ = OfflineProvider().creative_edit(image, EditContext(), None)
    assert ssim(image, out.copy_memory()) >= 0.97


def test_an_underexposed_photo_is_brought_back() -> None:
    image = load(PHOTOS / "gps" / "DSCN0025.jpg")
    dark = (image * 0.45).cast("uchar").copy_memory()
    out, outcome = OfflineProvider().creative_edit(dark, EditContext(), None)
    assert {"levels"} <= {e.name for e in outcome.edits}
    assert mean_de00(image, out) < mean_de00(image, dark)
    assert ssim(image, out) > ssim(image, dark)


def test_the_analysis_flags_a_crushed_region_and_phase_3_lifts_it_under_a_mask() -> None:
    image = load(PHOTOS / "gps" / "DSCN0025.jpg")
    # crush the bottom-left third
    w, h = image.width // 3, image.height // 3
    crushed = image.insert((image.crop(0, 2 * h, w, h) * 0.08).cast("uchar"), 0, 2 * h).copy_memory()
    provider = OfflineProvider()
    analysis = provider.analyse(crushed)
    lifts = [i for i in analysis.actionable() if i.type == "shadow-lift"]
    assert lifts and lifts[0].region == Region(x=0.0, y=2 / 3, w=1 / 3, h=1 / 3)
    assert analysis.score < provider.analyse(image).score
    out, outcome = provider.surgical_edit(crushed, lifts[0])
    assert outcome.edits[0].region == lifts[0].region
    before, after = luma(small(crushed)), luma(small(out.copy_memory()))
    rows, cols = before.shape
    assert after[2 * rows // 3 :, : cols // 3].mean() > before[2 * rows // 3 :, : cols // 3].mean() * 1.3
    # the top-right third, far from the mask, is untouched
    assert abs(after[: rows // 3, 2 * cols // 3 :].mean() - before[: rows // 3, 2 * cols // 3 :].mean()) < 0.5


def test_feedback_vocabulary_and_what_was_not_understood() -> None:
    assert parse_feedback("Make it a bit brighter and warmer, more contrast please, and remove the dog") == (
        ["brighter", "warmer", "contrast+"],
        ["remove", "dog"],
    )
    assert parse_feedback("less saturated, cooler, softer") == (["saturation-", "cooler", "softer"], [])


def test_a_feedback_pass_does_what_it_says_and_says_what_it_did_not_understand() -> None:
    image = load(PHOTOS / "gps" / "DSCN0025.jpg")
    out, outcome = OfflineProvider().creative_edit(image, EditContext(), "brighter please, and add a rainbow")
    assert luma(small(out.copy_memory())).mean() > luma(small(image)).mean() + 5
    assert outcome.not_understood == ("add", "rainbow")
    assert "did not understand: add rainbow" in outcome.note
