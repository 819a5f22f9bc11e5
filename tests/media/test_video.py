"""process_video on every video under ../shared/testdata and on small generated clips: what each file
becomes (processed, or rejected with which reason), its metadata, an upright thumbnail, a preview that is
never upscaled, the luma signals, and that nothing is left behind.

Each test-data file is processed once per module (``outcomes``); generated clips are 2 s at 320x240.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import subprocess
import tempfile
from pathlib import Path

import msgspec
import pytest
import pyvips

from services.media_process import video
from services.media_process.model import Limits, Rejected, VideoResult
from services.media_process.video import preview as video_preview
from shared.events import catalogue as c
from shared.runtime import ffmpeg as tools
from tests.support.paths import TESTDATA

VIDEOS = TESTDATA / "videos"
LIMITS = Limits()

#: what each file under testdata/videos must become, and why
EXPECTED: dict[str, str] = {
    "real/bikes.mp4": "processed",
    "real/bigbuckbunny.mp4": "processed",
    "real/carphone_pristine.mp4": "processed",
    # the same clip re-encoded at a very low bit rate: ugly, but it decodes
    "real/carphone_distorted.mp4": "processed",
    # one 320x240 frame of flat dark grey (0.06 s): it decodes, so it is processed (and flagged near-uniform)
    "odd/minimal.mp4": "processed",
    # one 100x60 frame with a display matrix of -90 degrees: processed, shown 60x100
    "odd/video_rotation_90.mp4": "processed",
    # 10 s of pure white: processed and flagged near-uniform
    "odd/white.mp4": "processed",
    # a moov box whose sample tables describe 10 s of video, and no mdat: every sample lies past the end
    # of the file (ffmpeg: "partial file"), so nothing decodes -> the file is cut short
    "odd/bipbop_nonfragment_header.mp4": "truncated",
    # the sample-to-chunk table names chunks the chunk-offset table does not have (ffmpeg: "contradictionary
    # STSC and STCO", "error reading header"): the index is corrupt, nothing can be read
    "odd/chunk_out_of_range.mp4": "undecodable",
    # Common Encryption: encv/enca sample entries with sinf/tenc, and a pssh box
    "odd/short-cenc.mp4": "encrypted",
}


class Outcome(msgspec.Struct, kw_only=True):
    result: VideoResult | None = None
    rejected: Rejected | None = None
    preview_probe: dict[str, object] | None = None
    left_in_workdir: list[str] = []


def _process(path: Path, workdir: Path, limits: Limits = LIMITS) -> Outcome:
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        result = video.process_video(path, "video/mp4", limits, workdir)
    except Rejected as exc:
        return Outcome(rejected=exc, left_in_workdir=sorted(p.name for p in workdir.iterdir()))
    preview_probe = _ffprobe(result.preview) if result.preview else None
    return Outcome(
        result=result, preview_probe=preview_probe, left_in_workdir=sorted(p.name for p in workdir.iterdir())
    )


def _ffprobe(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    data: dict[str, object] = json.loads(out)
    return data


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True, timeout=60)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    root = tmp_path_factory.mktemp("video-work")
    return {name: _process(VIDEOS / name, root / name.replace("/", "_")) for name in sorted(EXPECTED)}


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small generated clips: tagged like an iPhone and an Android phone, black, audio only, and two
    plain ones (index first and index last) to cut short."""
    d = tmp_path_factory.mktemp("clips")
    src = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15:duration=2"]
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    _ffmpeg(
        *src, *tone, *h264, "-c:a", "aac", "-shortest", "-movflags", "use_metadata_tags",
        "-metadata", "creation_time=2024-06-11T07:30:00Z",
        "-metadata", "com.apple.quicktime.make=Apple",
        "-metadata", "com.apple.quicktime.model=iPhone 13 Pro",
        "-metadata", "com.apple.quicktime.creationdate=2024-06-11T09:30:00+0200",
        "-metadata", "com.apple.quicktime.location.ISO6709=+54.5447-003.0169+092.000/",
        "-f", "mov", str(d / "apple.mov"),
    )  # fmt: skip
    _ffmpeg(
        *src, *h264, "-movflags", "use_metadata_tags",
        "-metadata", "location=+37.4219-122.0840/",
        "-metadata", "com.android.manufacturer=Google",
        "-metadata", "com.android.model=Pixel 7",
        "-metadata", "creation_time=2023-08-01T12:00:00Z",
        str(d / "android.mp4"),
    )  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", "color=c=black:size=320x240:rate=15:duration=2,noise=alls=8:allf=t",
            *h264, str(d / "black.mp4"))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", str(d / "audio.m4a"))
    _ffmpeg(*src, *tone, *h264, "-c:a", "aac", "-shortest", "-movflags", "+faststart", str(d / "front.mp4"))
    _ffmpeg(*src, *h264, str(d / "back.mp4"))
    return d


# --- every test file ends processed or rejected with the right reason ---------------------------------


def test_every_test_video_has_an_expected_outcome() -> None:
    on_disk = {str(p.relative_to(VIDEOS)) for p in VIDEOS.rglob("*") if p.is_file()}
    assert on_disk == set(EXPECTED), "a video was added to or removed from testdata: decide its outcome"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_test_video_outcome(name: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[name]
    expected = EXPECTED[name]
    if expected == "processed":
        assert outcome.rejected is None, outcome.rejected
        assert outcome.left_in_workdir == [video.PREVIEW_NAME]
    else:
        assert outcome.rejected is not None and outcome.rejected.code == expected, outcome.rejected
        assert outcome.rejected.message.endswith(".") and len(outcome.rejected.message) > 30
        assert outcome.left_in_workdir == []


def test_real_clip_metadata(outcomes: dict[str, Outcome]) -> None:
    def meta(name: str) -> c.MediaMetadata:
        result = outcomes[name].result
        assert result is not None
        return result.metadata

    bikes = meta("real/bikes.mp4")
    assert (bikes.width, bikes.height, bikes.codec, bikes.fps, bikes.rotation) == (640, 272, "h264", 25.0, 0)
    assert bikes.duration_s == pytest.approx(10.0)
    assert bikes.captured_at is None and bikes.gps is None and bikes.make is None
    # its creation_time is the 1970 epoch: a placeholder, not a capture time
    assert meta("real/bigbuckbunny.mp4").captured_at is None
    white = meta("odd/white.mp4")
    assert white.captured_at == dt.datetime(2012, 4, 26, 9, 2, 13, tzinfo=dt.UTC)
    assert white.utc_offset is None  # creation_time is UTC: the local offset is unknown
    # 176x144 with 128:117 pixels: displayed 193x144 wide, the thumbnail is stretched the same way
    carphone = meta("real/carphone_pristine.mp4")
    assert (carphone.width, carphone.height, carphone.fps) == (193, 144, 29.97)
    rotated = meta("odd/video_rotation_90.mp4")
    assert (rotated.width, rotated.height, rotated.rotation) == (60, 100, 90)


# --- thumbnails ---------------------------------------------------------------------------------------


def _jpeg(data: bytes) -> pyvips.Image:
    assert data[:3] == b"\xff\xd8\xff"
    return pyvips.Image.new_from_buffer(data, "")


@pytest.mark.parametrize("name", [n for n, e in sorted(EXPECTED.items()) if e == "processed"])
def test_thumbnail_fits_the_box_and_is_never_upscaled(name: str, outcomes: dict[str, Outcome]) -> None:
    result = outcomes[name].result
    assert result is not None
    w, h = result.metadata.width, result.metadata.height
    assert w and h
    thumb = _jpeg(result.thumbnail)
    assert max(thumb.width, thumb.height) == min(LIMITS.thumbnail_px, max(w, h))
    assert thumb.width / thumb.height == pytest.approx(w / h, rel=0.03)


def test_rotated_video_thumbnail_is_upright(outcomes: dict[str, Outcome]) -> None:
    """Stored 100x60 with a white band down its left edge; turned 90 degrees clockwise for display, the
    band is along the top of a portrait frame."""
    result = outcomes["odd/video_rotation_90.mp4"].result
    assert result is not None
    thumb = _jpeg(result.thumbnail).colourspace("b-w")
    assert (thumb.width, thumb.height) == (60, 100)
    assert thumb.crop(0, 0, thumb.width, 15).avg() > 200  # top: white
    assert thumb.crop(0, 40, thumb.width, 60).avg() < 30  # below it: black
    assert thumb.crop(0, 0, 15, thumb.height).avg() < 100  # the left edge is not the band any more


def test_thumbnail_is_the_frame_at_one_second(outcomes: dict[str, Outcome], tmp_path: Path) -> None:
    result = outcomes["real/bikes.mp4"].result
    assert result is not None
    first = tmp_path / "first.jpg"
    _ffmpeg("-i", str(VIDEOS / "real/bikes.mp4"), "-frames:v", "1", "-vf", "scale=400:-2", str(first))
    at_1s, at_0 = _jpeg(result.thumbnail), _jpeg(first.read_bytes())
    assert (at_1s.width, at_1s.height) == (400, 170)
    assert (at_1s - at_0).abs().avg() > 3  # a different frame from the first one


# --- previews -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [n for n, e in sorted(EXPECTED.items()) if e == "processed"])
def test_preview_is_h264_upright_and_never_upscaled(name: str, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[name]
    assert outcome.result is not None and outcome.result.preview is not None and outcome.preview_probe
    assert outcome.result.preview.name == video.PREVIEW_NAME
    streams = outcome.preview_probe["streams"]
    assert isinstance(streams, list)
    v = next(s for s in streams if s["codec_type"] == "video")
    assert (v["codec_name"], v["pix_fmt"]) == ("h264", "yuv420p")
    assert v["width"] % 2 == 0 and v["height"] % 2 == 0
    assert not v.get("side_data_list")  # upright pixels, no display matrix left to apply
    w, h = outcome.result.metadata.width, outcome.result.metadata.height
    assert w and h
    assert min(v["width"], v["height"]) <= min(LIMITS.preview_max_height, min(w, h))
    assert max(v["width"], v["height"]) <= max(w, h) + 1
    assert v["width"] / v["height"] == pytest.approx(w / h, rel=0.05)


def test_preview_sizes(outcomes: dict[str, Outcome]) -> None:
    def size(name: str) -> tuple[int, int]:
        probe = outcomes[name].preview_probe
        assert probe is not None
        v = next(s for s in probe["streams"] if s["codec_type"] == "video")  # type: ignore[attr-defined]
        return v["width"], v["height"]

    assert size("real/bigbuckbunny.mp4") == (1280, 720)  # 720p stays 720p
    assert size("real/bikes.mp4") == (640, 272)  # small stays small
    assert size("odd/video_rotation_90.mp4") == (60, 100)  # portrait, as displayed
    probe = outcomes["real/bigbuckbunny.mp4"].preview_probe
    assert probe is not None
    assert [s["codec_name"] for s in probe["streams"]] == ["h264", "aac"]  # type: ignore[attr-defined]
    # +faststart: the index comes before the media data
    preview = outcomes["real/bigbuckbunny.mp4"].result.preview  # type: ignore[union-attr]
    assert preview is not None
    data = preview.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_portrait_1080p_preview_is_720_wide(tmp_path: Path) -> None:
    """Short side capped, not the width: a 1080x1920 portrait clip becomes 720x1280 (not 720 high)."""
    clip = tmp_path / "portrait.mp4"
    _ffmpeg("-f", "lavfi", "-i", "color=c=gray:size=1080x1920:rate=5:duration=0.4",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(clip))  # fmt: skip
    outcome = _process(clip, tmp_path / "work")
    assert outcome.preview_probe is not None
    v = outcome.preview_probe["streams"][0]  # type: ignore[index]
    assert (v["width"], v["height"]) == (720, 1280)
    assert outcome.result is not None
    assert (_jpeg(outcome.result.thumbnail).width, _jpeg(outcome.result.thumbnail).height) == (225, 400)


def test_a_failed_preview_is_not_a_rejection(
    outcomes: dict[str, Outcome],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the preview's decode the signals are sampled on their own: from the key frames (white: 5
    of them, bikes: 6), or from every frame when there are too few (minimal: 1). They agree with the ones
    taken from the preview's decode."""
    monkeypatch.setattr(video_preview, "PREVIEW_CODEC", "no_such_encoder")
    for name in ("odd/minimal.mp4", "odd/white.mp4", "real/bikes.mp4"):
        with caplog.at_level(logging.WARNING, logger="shoebox.media_process.video"):
            outcome = _process(VIDEOS / name, tmp_path / name.replace("/", "_"))
        assert outcome.result is not None and outcome.result.preview is None
        assert outcome.left_in_workdir == []
        with_preview = outcomes[name].result
        assert with_preview is not None
        alone, shared = outcome.result.signals, with_preview.signals
        assert alone.near_uniform == shared.near_uniform
        assert alone.luma_mean == pytest.approx(shared.luma_mean, abs=0.05)
        assert alone.luma_spread == pytest.approx(shared.luma_spread, abs=0.05)
    assert sum("no preview" in r.getMessage() for r in caplog.records) == 3


# --- signals ------------------------------------------------------------------------------------------


def test_signals(outcomes: dict[str, Outcome], clips: Path, tmp_path: Path) -> None:
    def signals(name: str) -> c.VideoSignals:
        result = outcomes[name].result
        assert result is not None
        return result.signals

    white = signals("odd/white.mp4")
    assert white.near_uniform and white.luma_mean > 0.95 and white.luma_spread < 0.02
    assert white.duration_s == pytest.approx(10.0)
    assert signals("odd/minimal.mp4").near_uniform  # one flat grey frame
    for name in ("real/bikes.mp4", "real/bigbuckbunny.mp4", "real/carphone_pristine.mp4"):
        s = signals(name)
        assert not s.near_uniform, name
        assert 0.2 < s.luma_mean < 0.8 and s.luma_spread > 0.3, (name, s)
    black = _process(clips / "black.mp4", tmp_path / "black").result
    assert black is not None
    assert black.signals.near_uniform and black.signals.luma_mean < 0.1  # noisy black, like a pocket


# --- metadata written by phones -----------------------------------------------------------------------


def test_metadata_from_apple_quicktime_tags(clips: Path, tmp_path: Path) -> None:
    result = _process(clips / "apple.mov", tmp_path).result
    assert result is not None
    m = result.metadata
    assert m.captured_at == dt.datetime(2024, 6, 11, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert m.captured_at.utcoffset() == dt.timedelta(hours=2)
    assert m.utc_offset == "+02:00"
    assert m.gps == c.GeoPoint(lat=54.5447, lon=-3.0169, altitude_m=92.0)
    assert (m.make, m.model) == ("Apple", "iPhone 13 Pro")
    assert (m.width, m.height, m.fps, m.codec, m.rotation) == (320, 240, 15.0, "h264", 0)
    assert m.duration_s == pytest.approx(2.0, abs=0.1)


def test_metadata_from_android_tags(clips: Path, tmp_path: Path) -> None:
    result = _process(clips / "android.mp4", tmp_path).result
    assert result is not None
    m = result.metadata
    assert m.captured_at == dt.datetime(2023, 8, 1, 12, 0, tzinfo=dt.UTC) and m.utc_offset is None
    assert m.gps == c.GeoPoint(lat=37.4219, lon=-122.084, altitude_m=None)
    assert (m.make, m.model) == ("Google", "Pixel 7")


# --- rejections ---------------------------------------------------------------------------------------


def test_audio_only_is_unsupported(clips: Path, tmp_path: Path) -> None:
    outcome = _process(clips / "audio.m4a", tmp_path)
    assert outcome.rejected is not None and outcome.rejected.code == "unsupported_type"
    assert "only audio" in outcome.rejected.message


def test_too_long(tmp_path: Path) -> None:
    outcome = _process(VIDEOS / "real/bikes.mp4", tmp_path, Limits(max_video_duration_s=5))
    assert outcome.rejected is not None and outcome.rejected.code == "too_long"
    assert outcome.rejected.message == "The video is 10 s long; Shoebox takes videos up to 5 s."
    assert outcome.left_in_workdir == []


def test_too_many_pixels(tmp_path: Path) -> None:
    outcome = _process(VIDEOS / "real/bikes.mp4", tmp_path, Limits(max_pixels=100_000))
    assert outcome.rejected is not None and outcome.rejected.code == "too_many_pixels"
    assert outcome.rejected.message == (
        "The video frames are 640 x 272 pixels (0.2 megapixels); the limit is 0.1 megapixels."
    )
    assert outcome.left_in_workdir == []
    assert _process(VIDEOS / "real/bikes.mp4", tmp_path, Limits(max_pixels=640 * 272)).rejected is None


def test_empty_and_not_a_video(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("just some text, named like a video\n" * 10)
    rejected = _process(empty, tmp_path / "w1").rejected
    assert rejected is not None and rejected.code == "empty"
    rejected = _process(text, tmp_path / "w2").rejected
    assert rejected is not None and rejected.code == "unsupported_type"


@pytest.mark.parametrize("clip", ["front.mp4", "back.mp4"])
def test_cut_short_copies_are_rejected(clip: str, clips: Path, tmp_path: Path) -> None:
    """A clip with its index first (faststart) and one with its index last, cut at several places."""
    data = (clips / clip).read_bytes()
    for cut in (7, 40, 200, len(data) // 3, len(data) // 2, len(data) - 100, len(data) - 1):
        part = tmp_path / f"cut{cut}.mp4"
        part.write_bytes(data[:cut])
        outcome = _process(part, tmp_path / f"w{cut}")
        assert outcome.rejected is not None, (clip, cut)
        # a cut at 7 bytes leaves a head that no longer sniffs as a container
        assert outcome.rejected.code in ({"unsupported_type"} if cut < 8 else {"truncated"}), (clip, cut)
        assert outcome.left_in_workdir == []


def test_time_limits_reject_clearly(tmp_path: Path) -> None:
    slow_probe = _process(VIDEOS / "real/bikes.mp4", tmp_path / "a", Limits(probe_timeout_s=0.001))
    assert slow_probe.rejected is not None and slow_probe.rejected.code == "undecodable"
    assert "took longer than 0.001 s" in slow_probe.rejected.message
    slow_decode = _process(VIDEOS / "real/bikes.mp4", tmp_path / "b", Limits(ffmpeg_timeout_s=0.001))
    assert slow_decode.rejected is not None and "took longer than" in slow_decode.rejected.message
    assert slow_decode.left_in_workdir == []


def test_faults_on_this_side_are_errors_not_rejections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A work dir ffmpeg cannot write to, or no ffprobe: retried, never blamed on the file."""
    with pytest.raises(tools.ToolError):
        video.process_video(VIDEOS / "real/bikes.mp4", "video/mp4", LIMITS, tmp_path / "missing")
    monkeypatch.setattr(tools, "FFPROBE", str(tmp_path / "no-ffprobe"))
    with pytest.raises(tools.ToolError):
        video.process_video(VIDEOS / "real/bikes.mp4", "video/mp4", LIMITS, tmp_path)


# --- temp files ---------------------------------------------------------------------------------------


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """TMPDIR (for Python and for ffmpeg's children) pointed at an empty directory of its own."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setenv("TMPDIR", str(d))
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def test_nothing_is_left_outside_the_workdir(private_tmp: Path, tmp_path: Path, clips: Path) -> None:
    assert tempfile.gettempdir() == str(private_tmp)
    for source in (VIDEOS / "odd/short-cenc.mp4", VIDEOS / "odd/bipbop_nonfragment_header.mp4",
                   clips / "audio.m4a", VIDEOS / "odd/white.mp4"):  # fmt: skip
        _process(source, tmp_path / "work" / source.name)
    assert list(private_tmp.iterdir()) == []
    assert sorted(p.name for p in (tmp_path / "work").rglob("*") if p.is_file()) == [video.PREVIEW_NAME]
