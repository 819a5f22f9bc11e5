"""The evaluation's own measures (tests/support/video_eval.py) checked on known inputs: a measure that
cannot see the fault it is meant to catch would let the evaluation pass on anything."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support import video_eval
from tests.support.paths import TESTDATA

#: the smallest real clip (176 x 144, 4 s): cheap to degrade and measure
SOURCE = TESTDATA / "videos" / "real" / "carphone_pristine.mp4"


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("video-measures")
    return {
        "clean": video_eval.clean(SOURCE, folder / "clean.mp4", 0.0, 3.0),
        "darkened": video_eval.darkened(SOURCE, folder / "darkened.mp4", 0.0, 3.0),
        "shaken": video_eval.shaken(SOURCE, folder / "shaken.mp4", 0.0, 3.0),
    }


def test_phase_correlation_finds_a_known_translation() -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, size=(90, 160), dtype=np.uint8)
    # a smooth image (noise blurred by a box) so the windowed correlation has structure to lock on
    smooth = np.cumsum(np.cumsum(base.astype(np.float64), axis=0), axis=1)
    frame = (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    moved = np.roll(frame, shift=(3, -5), axis=(0, 1))
    ((dy, dx),) = video_eval.frame_shifts(np.stack([frame, moved]))
    assert (round(abs(dy)), round(abs(dx))) == (3, 5)
    assert np.hypot(dy, dx) == pytest.approx(np.hypot(3, 5), abs=0.3)


def test_the_shaken_copy_measures_far_more_motion(copies: dict[str, Path]) -> None:
    clean, shaken = video_eval.motion(copies["clean"]), video_eval.motion(copies["shaken"])
    assert shaken > 3 * clean, (clean, shaken)


def test_the_darkened_copy_measures_darker_and_flatter(copies: dict[str, Path]) -> None:
    clean = video_eval.luma(video_eval.luma_frames(copies["clean"], every=5))
    dark = video_eval.luma(video_eval.luma_frames(copies["darkened"], every=5))
    assert dark.mean < 0.65 * clean.mean
    assert dark.spread == pytest.approx(0.6 * clean.spread, rel=0.08)


def test_ssim_is_one_on_itself_and_drops_on_a_changed_copy(copies: dict[str, Path]) -> None:
    clean = video_eval.luma_frames(copies["clean"], every=5)
    dark = video_eval.luma_frames(copies["darkened"], every=5)
    assert video_eval.ssim(clean, clean) == pytest.approx(1.0)
    assert video_eval.ssim(clean, dark) < 0.9
    # one level of difference everywhere hardly moves SSIM: it scores structure, not offsets
    assert video_eval.ssim(clean, np.clip(clean.astype(np.int16) + 1, 0, 255).astype(np.uint8)) > 0.99


def test_fixtures_keep_length_and_frame_rate(copies: dict[str, Path]) -> None:
    infos = {name: video_eval.clip_info(path) for name, path in copies.items()}
    assert {i.frames for i in infos.values()} == {infos["clean"].frames}
    assert infos["shaken"].width < infos["clean"].width
