"""The 720p clip enhanced whole (analysis + render) against a bare ffmpeg render of the same filter graph.

The input: ``videos/real/bigbuckbunny.mp4`` (1280 x 720, 25 fps, 5.3 s, AAC audio), used in place. Each case
is timed ``--video-samples`` times after one warm run, the two figures of a case alternating so a burst of
load on the shared cores hits both:

- **enhance_video**: the whole item as the service runs it: ffprobe, the one analysis decode, the provider,
  the render (vidstabdetect first when stabilising) with its progress read, the thumbnail of the result;
- **floor: bare ffmpeg**: the same render's command lines (``render.detect_node`` when stabilising, then
  ``render.render_node`` with the recommendations ``enhance_video`` chose), run once each with no probe, no
  analysis, no progress and no thumbnail.

Cases: ``offline`` (the offline provider's own choice for this clip), ``eq+hqdn3d+unsharp`` (fixed
recommendations: brightness +0.04, contrast 1.1, denoise 0.3, sharpen 0.3), and the same with stabilisation
0.5 (two passes). Figures: the ratio whole / floor (target <= 1.5x), and the render's speed as a multiple of
real time (clip seconds per floor second; target >= 1.5x for ``eq+hqdn3d+unsharp`` with the default preset,
stabilisation off). Apart, for the docs and the ``too_long`` default: ``nlmeans`` (ffmpeg's default
strength) with the same eq and unsharp, rendered over the first ``--nlmeans-seconds`` of the clip only (it
runs at a small fraction of real time), one run.

Targets are printed (PASS/MISS), never asserted.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import ffmpeg
import msgspec
from rich.table import Table

from benchmarks._common import summary_ms
from services.video import analyse, render
from services.video.model import Advice, Recommendations, VideoAnalysis, VideoContext
from services.video.offline import OfflineVideoProvider
from services.video.pipeline import VideoEnhanced, enhance_video
from services.video.provider import VideoProvider
from shared.runtime import ffmpeg as tools
from tests.support.paths import TESTDATA

SOURCE = TESTDATA / "videos" / "real" / "bigbuckbunny.mp4"
TARGET_RATIO = 1.5
TARGET_REALTIME = 1.5
#: the case the real-time target is about (the issue's "eq, hqdn3d and unsharp": 1.75x measured)
REALTIME_CASE = "eq+hqdn3d+unsharp"
TIMEOUT_S = 900.0
#: the preset the service renders with: enhance_video's default
DEFAULT_PRESET: str = inspect.signature(enhance_video).parameters["preset"].default
#: the cores this process may use (the CPU-time figures are spread over them)
CORES = len(os.sched_getaffinity(0))
BASE = Recommendations(brightness=0.04, contrast=1.1, denoise=0.3, sharpen=0.3, reason="benchmark")


def add_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--video-samples", type=int, default=3, help="runs timed per figure (3)")
    group.add_argument("--video-preset", default=DEFAULT_PRESET, help=f"x264 preset ({DEFAULT_PRESET})")
    group.add_argument(
        "--nlmeans-seconds", type=float, default=0.5, help="seconds of the clip rendered with nlmeans (0.5)"
    )


class Fixed:
    """A provider that recommends the same thing for every clip."""

    def __init__(self, name: str, recs: Recommendations) -> None:
        self.name = name
        self.recs = recs

    async def recommend(
        self,
        analysis: VideoAnalysis,
        *,
        preview: Path | None,
        context: VideoContext,
        feedback: str | None = None,
        previous: Advice | None = None,
    ) -> Advice:
        return Advice(recommendations=self.recs)


def whole(provider: VideoProvider, workdir: Path, preset: str) -> VideoEnhanced:
    """``enhance_video`` on the clip, as the service calls it (no preview: the offline path)."""
    run = functools.partial(
        enhance_video,
        SOURCE,
        provider,
        workdir=workdir,
        preview=None,
        context=VideoContext(name=SOURCE.name),
        preset=preset,
        max_duration_s=TIMEOUT_S,
    )
    return anyio.run(run)


def floor(clip: analyse.Clip, recs: Recommendations, workdir: Path, preset: str) -> None:
    """The bare render: the pipeline's own ffmpeg command lines for ``recs``, nothing around them."""
    transforms: Path | None = None
    if recs.stabilise > render.EPSILON:
        transforms = workdir / "floor.trf"
        _ok(tools.run_ffmpeg(render.detect_node(SOURCE, clip, recs, transforms), TIMEOUT_S))
    out = workdir / "floor.mp4"
    _ok(
        tools.run_ffmpeg(
            render.render_node(SOURCE, clip, recs, out, preset=preset, transforms=transforms), TIMEOUT_S
        )
    )


def nlmeans_render(clip: analyse.Clip, workdir: Path, seconds: float, preset: str) -> float:
    """Wall seconds to render the first ``seconds`` of the clip with nlmeans (ffmpeg's defaults), eq and
    unsharp, encoded as the render encodes (the audio left out: it is copied, it costs nothing)."""
    video = (
        tools.safe_input(SOURCE, t=seconds)
        .video.filter("nlmeans")
        .filter("eq", brightness=BASE.brightness, contrast=BASE.contrast)
        .filter("unsharp", 5, 5, round(BASE.sharpen * render.SHARPEN_MAX, 3))
        .filter("format", "yuv420p")
    )
    out = ffmpeg.output(
        video, str(workdir / "nlmeans.mp4"), vcodec="libx264", preset=preset, crf=render.CRF, an=None
    )
    wall, _ = _timed(lambda: _ok(tools.run_ffmpeg(out, TIMEOUT_S)))
    return wall


def _ok(run: tools.ToolRun) -> None:
    if not run.ok:
        raise RuntimeError(run.describe())


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its waited-for children (the ffmpeg runs)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``fn()``."""
    wall, cpu = time.perf_counter(), _cpu_s()
    fn()
    return time.perf_counter() - wall, _cpu_s() - cpu


def measure_case(
    provider: VideoProvider, clip: analyse.Clip, folder: Path, samples: int, preset: str
) -> dict[str, Any]:
    """One case: a warm run (it also says which recommendations the floor renders), then ``samples``
    alternating timings of the whole item and its floor, in wall and in CPU time."""
    work = folder / provider.name.replace("+", "_")
    work.mkdir()
    result = whole(provider, work, preset)
    recs = result.advice.recommendations
    times: dict[str, list[tuple[float, float]]] = {"whole": [], "floor": []}
    for _ in range(samples):
        times["whole"].append(_timed(lambda: whole(provider, work, preset)))
        times["floor"].append(_timed(lambda: floor(clip, recs, work, preset)))
    p50 = {
        (name, kind): statistics.median(t[i] for t in runs)
        for name, runs in times.items()
        for i, kind in enumerate(("wall", "cpu"))
    }
    ratio, cpu_ratio = p50["whole", "wall"] / p50["floor", "wall"], p50["whole", "cpu"] / p50["floor", "cpu"]
    return {
        "edits": list(result.filters),
        "whole_ms": summary_ms([t[0] for t in times["whole"]]),
        "floor_ms": summary_ms([t[0] for t in times["floor"]]),
        "whole_cpu_ms": summary_ms([t[1] for t in times["whole"]]),
        "floor_cpu_ms": summary_ms([t[1] for t in times["floor"]]),
        "ratio_p50": round(ratio, 2),
        "ratio_cpu_p50": round(cpu_ratio, 2),
        "verdict_ratio": "PASS" if ratio <= TARGET_RATIO else "MISS",
        "verdict_ratio_cpu": "PASS" if cpu_ratio <= TARGET_RATIO else "MISS",
        # clip seconds rendered per second of the bare render: wall, and CPU spread over the cores (what
        # the wall time would be with the cores to itself, if the render kept them all busy)
        "render_x_realtime": round(clip.duration_s / p50["floor", "wall"], 2),
        "render_x_realtime_cpu": round(clip.duration_s / (p50["floor", "cpu"] / CORES), 2),
        "whole_x_realtime": round(clip.duration_s / p50["whole", "wall"], 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    samples = 1 if args.quick else args.video_samples
    preset = args.video_preset
    clip = analyse.probe_clip(SOURCE, TIMEOUT_S)
    cases: list[VideoProvider] = [
        OfflineVideoProvider(),
        Fixed(REALTIME_CASE, BASE),
        Fixed(REALTIME_CASE + "+vidstab", msgspec.structs.replace(BASE, stabilise=0.5)),
    ]
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        folder = Path(tmp)
        figures = {provider.name: measure_case(provider, clip, folder, samples, preset) for provider in cases}
        nl_s = nlmeans_render(clip, folder, args.nlmeans_seconds, preset)
    realtime = figures[REALTIME_CASE]["render_x_realtime"]
    realtime_cpu = figures[REALTIME_CASE]["render_x_realtime_cpu"]
    return {
        "input": f"{SOURCE.name} ({clip.width}x{clip.height}, {clip.fps:g} fps, {clip.duration_s:.2f} s)",
        "preset": preset,
        "cases": figures,
        "nlmeans": {
            "seconds": args.nlmeans_seconds,
            "wall_s": round(nl_s, 2),
            "x_realtime": round(args.nlmeans_seconds / nl_s, 3),
        },
        "cores": CORES,
        "verdict_realtime": "PASS" if realtime >= TARGET_REALTIME else "MISS",
        "verdict_realtime_cpu": "PASS" if realtime_cpu >= TARGET_REALTIME else "MISS",
    }


def tables(result: dict[str, Any]) -> list[Table]:
    table = Table(title=f"video: {result['input']}, preset {result['preset']}, {result['cores']} cores")
    columns = (
        "case",
        "edits",
        "whole p50 s",
        "floor p50 s",
        "ratio wall / cpu",
        "render x real time wall / cpu",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in ("case", "edits") else "right")
    for name, case in result["cases"].items():
        table.add_row(
            name,
            "; ".join(case["edits"]) or "none (re-encode)",
            f"{case['whole_ms']['p50'] / 1000:.2f}",
            f"{case['floor_ms']['p50'] / 1000:.2f}",
            f"{case['ratio_p50']} {case['verdict_ratio']} / "
            f"{case['ratio_cpu_p50']} {case['verdict_ratio_cpu']}",
            f"{case['render_x_realtime']} / {case['render_x_realtime_cpu']}",
        )
    nl = result["nlmeans"]
    table.add_row(
        "nlmeans+eq+unsharp",
        f"first {nl['seconds']:g} s only, one run",
        "",
        f"{nl['wall_s']:.2f}",
        "",
        f"{nl['x_realtime']}",
    )
    table.caption = (
        f"targets: whole <= {TARGET_RATIO}x the floor; {REALTIME_CASE} render >= {TARGET_REALTIME}x "
        f"real time: {result['verdict_realtime']} (wall) / {result['verdict_realtime_cpu']} (CPU/cores). "
        "cpu: CPU seconds of this process and its ffmpeg children, robust to other load on the cores"
    )
    return [table]
