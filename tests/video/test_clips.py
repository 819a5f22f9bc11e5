"""Every clip under ../shared/testdata/videos through ``enhance_video`` (offline provider): rendered, or
refused with a reason; every rendered file plays (ffprobe reads it, H.264 yuv420p at the source's frame rate,
duration within one frame of the source unless trimmed, audio when the source had it) and is upright (no
display matrix, width and height as the source is displayed). Also: metadata kept, progress reported, and
the rotation carried twice (the render's test-only fault) caught by the same check.

Each test-data clip is enhanced once per module (``outcomes``).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from services.video import pipeline, render
from services.video.model import VideoContext
from services.video.offline import OfflineVideoProvider
from shared.runtime import ffmpeg as tools
from tests.support.paths import TESTDATA

pytestmark = pytest.mark.slow

VIDEOS = TESTDATA / "videos"

#: what each clip must become: "rendered", or refused as unreadable (the reason must mention the word)
EXPECTED: dict[str, str] = {
    "real/bikes.mp4": "rendered",
    "real/bigbuckbunny.mp4": "rendered",
    "real/carphone_pristine.mp4": "rendered",
    "real/carphone_distorted.mp4": "rendered",
    "odd/minimal.mp4": "rendered",  # one dark frame, 0.06 s, with audio
    "odd/video_rotation_90.mp4": "rendered",  # one 100x60 frame shown 60x100
    "odd/white.mp4": "rendered",  # 10 s of white: left alone
    "odd/short-cenc.mp4": "encrypted",
    "odd/chunk_out_of_range.mp4": "damaged",
    "odd/bipbop_nonfragment_header.mp4": "decoded",  # its samples point past the end of the file
}


class Outcome(msgspec.Struct, kw_only=True):
    result: pipeline.VideoEnhanced | None = None
    refused: str | None = None
    phases: list[tuple[str, float | None]] = msgspec.field(default_factory=list)
    left: list[str] = msgspec.field(default_factory=list)


def enhance(src: Path, workdir: Path) -> Outcome:
    outcome = Outcome()

    async def on_phase(phase: str, percent: float | None, summary: str) -> None:
        outcome.phases.append((phase, percent))

    async def run() -> None:
        try:
            outcome.result = await pipeline.enhance_video(
                src,
                OfflineVideoProvider(),
                workdir=workdir,
                preview=None,
                context=VideoContext(name=src.name),
                max_duration_s=600.0,
                on_phase=on_phase,
            )
        except pipeline.Unreadable as exc:
            outcome.refused = exc.reason

    anyio.run(run)
    outcome.left = sorted(p.name for p in workdir.iterdir())
    return outcome


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    found = {str(p.relative_to(VIDEOS)) for p in VIDEOS.glob("*/*") if p.is_file()}
    assert found == set(EXPECTED), "a test clip was added or removed: say what it must become"
    return {
        name: enhance(VIDEOS / name, tmp_path_factory.mktemp(Path(name).stem)) for name in sorted(EXPECTED)
    }


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        check=True,
        capture_output=True,
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def video_stream(data: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in data["streams"] if s["codec_type"] == "video")


def upright_problems(out: Path, width: int, height: int) -> list[str]:
    """Why ``out`` would not play upright at the displayed ``width`` x ``height`` (empty: it does)."""
    stream = video_stream(probe(out))
    problems = [
        f"carries a rotation ({side.get('rotation')})"
        for side in stream.get("side_data_list") or []
        if side.get("side_data_type") == "Display Matrix"
    ]
    if (stream.get("tags") or {}).get("rotate") not in (None, "0"):
        problems.append(f"carries a rotate tag {stream['tags']['rotate']}")
    if (stream["width"], stream["height"]) != (width - width % 2, height - height % 2):
        problems.append(f"stored {stream['width']}x{stream['height']}, displayed {width}x{height}")
    return problems


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_clip_is_rendered_or_refused_with_a_reason(outcomes: dict[str, Outcome], name: str) -> None:
    outcome = outcomes[name]
    if EXPECTED[name] != "rendered":
        assert outcome.result is None
        assert outcome.refused is not None and EXPECTED[name] in outcome.refused
        assert outcome.left == [], "a refused clip leaves nothing in the work dir"
        return
    result = outcome.result
    assert result is not None, outcome.refused
    assert outcome.left == sorted([result.video.name, result.thumbnail.name])
    source = probe(VIDEOS / name)
    rendered = probe(result.video)
    stream = video_stream(rendered)
    assert stream["codec_name"] == "h264" and stream["pix_fmt"] == "yuv420p"
    assert stream["avg_frame_rate"] == video_stream(source)["avg_frame_rate"], "full frame rate"
    assert "mp4" in rendered["format"]["format_name"]
    fps = result.analysis.fps
    duration = float(rendered["format"]["duration"])
    trimmed = result.advice.recommendations.trim_in_s or result.advice.recommendations.trim_out_s
    if not trimmed:
        assert abs(duration - float(source["format"]["duration"])) <= 1 / fps + 1e-3
    assert abs(duration - result.duration_s) <= 1 / fps + 1e-3
    had_audio = any(s["codec_type"] == "audio" for s in source["streams"])
    assert any(s["codec_type"] == "audio" for s in rendered["streams"]) == had_audio
    assert upright_problems(result.video, result.analysis.width, result.analysis.height) == []
    thumb = video_stream(probe(result.thumbnail))
    assert max(thumb["width"], thumb["height"]) == min(
        400, max(result.analysis.width, result.analysis.height)
    )


def test_progress_is_reported_in_order(outcomes: dict[str, Outcome]) -> None:
    phases = outcomes["real/bikes.mp4"].phases
    assert phases[0] == ("analysing", None) and phases[1] == ("rendering", 0.0)
    percents = [p for name, p in phases[1:] if name == "rendering"]
    assert percents == sorted(percents) and all(p is not None and 0 <= p < 100 for p in percents)


def test_progress_lines_reach_the_callback(tmp_path: Path) -> None:
    seen: list[float] = []
    node = tools.safe_input(VIDEOS / "real/bikes.mp4").video.output(
        str(tmp_path / "o.mp4"), vcodec="libx264", preset="ultrafast"
    )
    run = tools.run_ffmpeg_progress(node, 120, seen.append)
    assert run.ok and seen and seen == sorted(seen)
    assert seen[-1] == pytest.approx(10.0, abs=0.05), "the final report is the whole clip"


def test_the_rotation_carried_twice_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guarantee's check goes red on the fault (frames turned AND the display matrix kept)."""
    monkeypatch.setattr(render, "FAULT_ROTATE_TWICE", True)
    outcome = enhance(VIDEOS / "odd/video_rotation_90.mp4", tmp_path)
    assert outcome.result is not None
    problems = upright_problems(outcome.result.video, 60, 100)
    assert problems and "carries a rotation" in problems[0]


def test_creation_metadata_is_kept(tmp_path: Path) -> None:
    src = tmp_path / "phone.mov"
    tags = {
        "creation_time": "2024-06-10T18:12:00.000000Z",
        "com.apple.quicktime.location.ISO6709": "+54.5447-003.0169+092.000/",
        "com.apple.quicktime.make": "Apple",
        "com.apple.quicktime.model": "iPhone 15 Pro",
        "com.apple.quicktime.creationdate": "2024-06-10T19:12:00+0100",
    }
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            "-movflags",
            "use_metadata_tags",
            *(arg for k, v in tags.items() for arg in ("-metadata", f"{k}={v}")),
            str(src),
        ],
        check=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    outcome = enhance(src, work)
    assert outcome.result is not None
    kept = {k.lower(): v for k, v in probe(outcome.result.video)["format"]["tags"].items()}
    for key, value in tags.items():
        assert kept.get(key.lower()) == value, key


def test_a_clip_that_starts_on_black_is_trimmed_with_its_audio(tmp_path: Path) -> None:
    src = tmp_path / "pocket.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=black:size=320x240:rate=25:duration=1.5",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=3",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=4.5",
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1:a=0[v]",
            "-map",
            "[v]",
            "-map",
            "2:a",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
            str(src),
        ],
        check=True,
    )
    work = tmp_path / "work"
    work.mkdir()
    outcome = enhance(src, work)
    result = outcome.result
    assert result is not None
    assert result.analysis.trim_in_s == pytest.approx(1.5, abs=0.11)
    assert "black" in result.analysis.notes[0]
    assert result.filters[0].startswith("trim 1.5")
    rendered = probe(result.video)
    assert float(rendered["format"]["duration"]) == pytest.approx(3.0, abs=0.1)
    audio = next(s for s in rendered["streams"] if s["codec_type"] == "audio")
    assert audio["codec_name"] == "aac" and float(audio["duration"]) == pytest.approx(3.0, abs=0.1)
