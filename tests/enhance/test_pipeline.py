"""``enhance_photo`` on real files: upright whatever the EXIF orientation, HEIC in -> JPEG out, sRGB profile
embedded, EXIF kept with orientation 1, a 400 px thumbnail, the phases reported in order."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import pyvips

from services.enhance.model import PhaseResult
from services.enhance.offline import OfflineProvider
from services.enhance.pipeline import enhance_photo
from tests.support.paths import TESTDATA

PHOTOS = TESTDATA / "photos"
ORIENTED = sorted((PHOTOS / "orientation").glob("*.jpg"))


#: libvips' built-in sRGB profile, as ``encode`` embeds it
SRGB = bytes(
    pyvips.Image.new_from_buffer(
        pyvips.Image.black(1, 1, bands=3).copy(interpretation="srgb").jpegsave_buffer(profile="srgb"), ""
    ).get("icc-profile-data")
)


def decoded(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


@pytest.mark.parametrize("path", ORIENTED, ids=lambda p: p.name)
def test_every_orientation_comes_out_upright_with_orientation_1(path: Path) -> None:
    """All 16 files show the same scene: upright, each output matches the orientation-1 file's output."""
    kind = path.name.split("_")[0]
    result = enhance_photo(path, OfflineProvider())
    reference = enhance_photo(PHOTOS / "orientation" / f"{kind}_1.jpg", OfflineProvider())
    out, ref = decoded(result.jpeg), decoded(reference.jpeg)
    assert (out.width, out.height) == (ref.width, ref.height)
    assert out.get("orientation") == 1
    # same picture, same way up: mean absolute difference small (a wrong turn gives tens of levels)
    diff = np.abs(out.numpy().astype(np.int16) - ref.numpy().astype(np.int16)).mean()
    assert diff < 6


def test_heic_in_jpeg_out_with_srgb_profile_and_thumbnail() -> None:
    phases: list[PhaseResult] = []
    result = enhance_photo(PHOTOS / "heic" / "IMG_5195.HEIC", OfflineProvider(), on_phase=phases.append)
    assert result.jpeg[:2] == b"\xff\xd8"
    out = decoded(result.jpeg)
    assert (out.width, out.height) == (2566, 3313)  # portrait as libheif turns it
    assert bytes(out.get("icc-profile-data")) == SRGB
    thumb = decoded(result.thumbnail)
    assert max(thumb.width, thumb.height) == 400
    assert [p.phase for p in phases][:2] == ["creative", "analysis"]
    assert result.edits == tuple(e for p in phases for e in p.edits)


def test_an_embedded_icc_profile_is_converted_to_srgb_and_exif_is_kept() -> None:
    result = enhance_photo(PHOTOS / "cameras" / "Nikon_D70.jpg", OfflineProvider())
    out = decoded(result.jpeg)
    assert bytes(out.get("icc-profile-data")) == SRGB
    assert "exif-data" in out.get_fields()
    assert out.get("exif-ifd0-Make").startswith("NIKON")


def test_a_small_photo_keeps_its_size_and_its_thumbnail_is_not_enlarged() -> None:
    result = enhance_photo(PHOTOS / "cameras" / "Canon_40D.jpg", OfflineProvider())
    assert (decoded(result.thumbnail).width, result.width) == (100, 100)


def test_phase_3_runs_on_flagged_regions_at_most_three_times(tmp_path: Path) -> None:
    image = pyvips.Image.new_from_file(str(PHOTOS / "gps" / "DSCN0025.jpg"))
    crushed = (image * 0.05).cast("uchar")  # every region crushed
    path = tmp_path / "dark.jpg"
    crushed.jpegsave(str(path))
    phases: list[PhaseResult] = []
    enhance_photo(path, OfflineProvider(), on_phase=phases.append, threshold=11.0)
    surgical = [p for p in phases if p.phase == "surgical"]
    assert 1 <= len(surgical) <= 3
    assert [p.step for p in surgical] == list(range(1, len(surgical) + 1))


def test_a_feedback_pass_skips_analysis_and_reports_itself() -> None:
    phases: list[PhaseResult] = []
    enhance_photo(
        PHOTOS / "gps" / "DSCN0025.jpg", OfflineProvider(), feedback="warmer", on_phase=phases.append
    )
    assert [p.phase for p in phases] == ["feedback"]
    assert phases[0].edits[0].name == "white-balance"
