"""The video evaluation (issue 15's "Done when"): real clips degraded in known ways come back better, and a
clean clip comes back nearly untouched, through ``enhance_video`` whole with the offline provider.

Three short stretches of real clips (720p animation with audio, a 640 x 272 street scene that pans, a
176 x 144 hand-held phone clip), each as three copies made by tests/support/video_eval.py (its docstring
says how): clean, darkened (luma x 0.6) and shaken (a seeded per-frame random translation). Every copy goes
through ``enhance_video``; the figures are measured on the pixels, independently of the pipeline's own
analysis (phase correlation, not vidstab; numpy SSIM, not ffmpeg's):

- darkened: the result's luma mean AND spread are closer to the clean copy's than the darkened copy's
  were, each gap shrunk by at least ``MIN_GAP_CUT`` (so a re-encode that drifts by a level cannot pass);
- shaken: the result's inter-frame motion is at least ``MIN_MOTION_CUT`` (50 %) below the shaken copy's;
- clean: sampled frames' luma mean within ``CLEAN_LUMA_LEVELS`` (3) of the clean copy's and SSIM >=
  ``CLEAN_SSIM`` (0.95).

Each check can fail, and the controls at the end show it doing so: the same copies through a provider that
does the wrong thing (stabilisation off, no correction, a brightness push, a contrast push with the mean
kept) are caught by the same checks, each by the figure meant to catch it.
The table is printed (``pytest -s``).
"""

from __future__ import annotations

import functools
from pathlib import Path

import anyio
import msgspec
import pytest

from services.video.model import Advice, Recommendations, VideoAnalysis, VideoContext
from services.video.offline import OfflineVideoProvider
from services.video.pipeline import VideoEnhanced, enhance_video
from services.video.provider import VideoProvider
from tests.support import video_eval
from tests.support.paths import TESTDATA

pytestmark = pytest.mark.slow

REAL = TESTDATA / "videos" / "real"


class Stretch(msgspec.Struct, frozen=True):
    """A few seconds of a real clip: its source, where it starts and how long it is."""

    source: Path
    start_s: float
    duration_s: float


#: three seconds each: enough frames for the stabiliser's smoothing window, short enough for 2 cores
STRETCHES = {
    "bigbuckbunny": Stretch(REAL / "bigbuckbunny.mp4", 0.5, 3.0),
    "bikes": Stretch(REAL / "bikes.mp4", 3.0, 3.0),
    "carphone": Stretch(REAL / "carphone_pristine.mp4", 0.0, 3.0),
}
KINDS = ("clean", "darkened", "shaken")
MIN_GAP_CUT = 0.25
MIN_MOTION_CUT = 0.5
CLEAN_LUMA_LEVELS = 3.0
CLEAN_SSIM = 0.95
MAX_DURATION_S = 600.0


def make_copies(folder: Path) -> dict[tuple[str, str], Path]:
    """(stretch, kind) -> the degraded copy, written into ``folder``."""
    makers = {"clean": video_eval.clean, "darkened": video_eval.darkened, "shaken": video_eval.shaken}
    return {
        (name, kind): makers[kind](s.source, folder / f"{name}-{kind}.mp4", s.start_s, s.duration_s)
        for name, s in STRETCHES.items()
        for kind in KINDS
    }


def enhance(src: Path, workdir: Path, provider: VideoProvider) -> VideoEnhanced:
    """``src`` through the whole pipeline (no preview, as the offline service runs it)."""
    workdir.mkdir(parents=True, exist_ok=True)
    run = functools.partial(
        enhance_video,
        src,
        provider,
        workdir=workdir,
        preview=None,
        context=VideoContext(name=src.name),
        max_duration_s=MAX_DURATION_S,
    )
    return anyio.run(run)


class Overriding:
    """A provider that asks the offline one, then overrides some recommendations: the controls' faults."""

    name = "offline-overridden"

    def __init__(self, **overrides: float) -> None:
        self.inner = OfflineVideoProvider()
        self.overrides = overrides

    async def recommend(
        self,
        analysis: VideoAnalysis,
        *,
        preview: Path | None,
        context: VideoContext,
        feedback: str | None = None,
        previous: Advice | None = None,
    ) -> Advice:
        advice = await self.inner.recommend(
            analysis, preview=preview, context=context, feedback=feedback, previous=previous
        )
        recs = msgspec.structs.replace(advice.recommendations, **self.overrides)
        return msgspec.structs.replace(advice, recommendations=recs)


class Neutral:
    """A provider that changes nothing (the result is a re-encode)."""

    name = "neutral"

    async def recommend(
        self,
        analysis: VideoAnalysis,
        *,
        preview: Path | None,
        context: VideoContext,
        feedback: str | None = None,
        previous: Advice | None = None,
    ) -> Advice:
        return Advice(recommendations=Recommendations(reason="a control: nothing changed"))


# --- the checks: each returns what is wrong (nothing: passed) ----------------------------------------------


class Row(msgspec.Struct, frozen=True, kw_only=True):
    """One copy's figures before and after, as the table prints them."""

    stretch: str
    kind: str
    provider: str
    filters: tuple[str, ...]
    figures: dict[str, float]
    problems: tuple[str, ...]


def check_darkened(clean: Path, darkened: Path, result: Path) -> tuple[dict[str, float], list[str]]:
    """Luma mean and spread: the result's gaps to the clean copy's each at most 1 - MIN_GAP_CUT of the
    darkened copy's."""
    ref, dark, out = (
        video_eval.luma(video_eval.luma_frames(p, every=video_eval.SAMPLE_EVERY))
        for p in (clean, darkened, result)
    )
    figures = {
        "clean mean": ref.mean,
        "dark mean": dark.mean,
        "out mean": out.mean,
        "clean spread": ref.spread,
        "dark spread": dark.spread,
        "out spread": out.spread,
    }
    problems = []
    for what, r, d, o in (
        ("mean", ref.mean, dark.mean, out.mean),
        ("spread", ref.spread, dark.spread, out.spread),
    ):
        before, after = abs(d - r), abs(o - r)
        if after > (1 - MIN_GAP_CUT) * before:
            problems.append(
                f"luma {what}: gap {before:.1f} -> {after:.1f} (needs <= {(1 - MIN_GAP_CUT) * before:.1f})"
            )
    return figures, problems


def check_shaken(clean: Path, shaken: Path, result: Path) -> tuple[dict[str, float], list[str]]:
    """Inter-frame motion: the result's at least MIN_MOTION_CUT below the shaken copy's."""
    figures = {
        "clean motion": video_eval.motion(clean),
        "shaken motion": video_eval.motion(shaken),
        "out motion": video_eval.motion(result),
    }
    cut = 1 - figures["out motion"] / figures["shaken motion"]
    figures["motion cut"] = cut
    problems = [] if cut >= MIN_MOTION_CUT else [f"motion cut by {cut:.0%} (needs >= {MIN_MOTION_CUT:.0%})"]
    return figures, problems


def check_clean(clean: Path, result: Path) -> tuple[dict[str, float], list[str]]:
    """Sampled frames: luma mean within CLEAN_LUMA_LEVELS, SSIM >= CLEAN_SSIM."""
    ref = video_eval.luma_frames(clean, every=video_eval.SAMPLE_EVERY)
    out = video_eval.luma_frames(result, every=video_eval.SAMPLE_EVERY)
    if ref.shape != out.shape:
        return {}, [f"frames differ: {ref.shape} vs {out.shape} (trimmed, resized or frames dropped)"]
    shift = abs(video_eval.luma(out).mean - video_eval.luma(ref).mean)
    score = video_eval.ssim(ref, out)
    problems = []
    if shift > CLEAN_LUMA_LEVELS:
        problems.append(f"luma mean moved {shift:.1f} levels (needs <= {CLEAN_LUMA_LEVELS})")
    if score < CLEAN_SSIM:
        problems.append(f"SSIM {score:.3f} (needs >= {CLEAN_SSIM})")
    return {"luma shift": shift, "ssim": score}, problems


def evaluate(
    stretch: str, kind: str, copies: dict[tuple[str, str], Path], workdir: Path, provider: VideoProvider
) -> Row:
    """One copy through the pipeline and its check."""
    src = copies[stretch, kind]
    result = enhance(src, workdir / f"{stretch}-{kind}-{provider.name}", provider)
    clean = copies[stretch, "clean"]
    if kind == "darkened":
        figures, problems = check_darkened(clean, src, result.video)
    elif kind == "shaken":
        figures, problems = check_shaken(clean, src, result.video)
    else:
        figures, problems = check_clean(clean, result.video)
    return Row(
        stretch=stretch,
        kind=kind,
        provider=provider.name,
        filters=result.filters,
        figures={k: round(v, 3) for k, v in figures.items()},
        problems=tuple(problems),
    )


def table(rows: list[Row]) -> str:
    lines = [f"{'stretch':<13} {'copy':<9} {'provider':<19} verdict  figures / edits"]
    for r in rows:
        figures = ", ".join(f"{k} {v:g}" for k, v in r.figures.items())
        lines.append(
            f"{r.stretch:<13} {r.kind:<9} {r.provider:<19} {'FAIL' if r.problems else 'ok':<8} {figures}"
        )
        lines.append(f"{'':<52} edits: {'; '.join(r.filters) or 'none'}")
        lines.extend(f"{'':<52} !! {p}" for p in r.problems)
    return "\n".join(lines)


@pytest.fixture(scope="module")
def copies(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    return make_copies(tmp_path_factory.mktemp("video-eval-copies"))


@pytest.fixture(scope="module")
def rows(
    copies: dict[tuple[str, str], Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[tuple[str, str], Row]:
    """Every copy through the offline pipeline, once for the module; the table printed."""
    workdir = tmp_path_factory.mktemp("video-eval-out")
    provider = OfflineVideoProvider()
    out = {key: evaluate(*key, copies, workdir, provider) for key in copies}
    print("\nvideo evaluation (offline provider)\n" + table(list(out.values())))
    return out


@pytest.mark.parametrize("stretch", STRETCHES)
def test_a_darkened_copy_comes_back_closer_to_the_original(
    stretch: str, rows: dict[tuple[str, str], Row]
) -> None:
    row = rows[stretch, "darkened"]
    assert not row.problems, (row.problems, row.filters, row.figures)


@pytest.mark.parametrize("stretch", STRETCHES)
def test_a_shaken_copy_comes_back_with_half_the_motion(
    stretch: str, rows: dict[tuple[str, str], Row]
) -> None:
    row = rows[stretch, "shaken"]
    assert not row.problems, (row.problems, row.filters, row.figures)


@pytest.mark.parametrize("stretch", STRETCHES)
def test_a_clean_clip_is_left_nearly_untouched(stretch: str, rows: dict[tuple[str, str], Row]) -> None:
    row = rows[stretch, "clean"]
    assert not row.problems, (row.problems, row.filters, row.figures)


# --- the controls: the same checks catch a provider that does the wrong thing ------------------------------


@pytest.mark.parametrize(
    ("kind", "provider", "caught"),
    [
        pytest.param("shaken", Overriding(stabilise=0.0), ("motion cut",), id="shaken-stabilisation-off"),
        pytest.param("darkened", Neutral(), ("luma mean", "luma spread"), id="darkened-not-corrected"),
        pytest.param("clean", Overriding(brightness=0.05), ("luma mean moved",), id="clean-brightened"),
        # contrast x1.5 about bigbuckbunny's mean luma (118: eq pivots on 127.5, the brightness puts the
        # mean back), so only SSIM can catch it
        pytest.param(
            "clean", Overriding(contrast=1.5, brightness=0.0186), ("SSIM",), id="clean-more-contrast"
        ),
    ],
)
def test_the_checks_catch_a_wrong_render(
    kind: str,
    provider: VideoProvider,
    caught: tuple[str, ...],
    copies: dict[tuple[str, str], Path],
    tmp_path: Path,
) -> None:
    row = evaluate("bigbuckbunny", kind, copies, tmp_path, provider)
    print("\ncontrol\n" + table([row]))
    found = {c for c in caught for p in row.problems if p.startswith(c)}
    assert found == set(caught), f"the {kind} check should have said {caught}: {row.problems}, {row.figures}"
