"""The pieces of the video pipeline on their own: the ffmpeg wrapper (no network, time limits), the MP4 box
walk, and the readers of ffprobe's fields (ISO 6709, capture time, rotation, frame rate, signalstats)."""

from __future__ import annotations

import datetime as dt
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import ffmpeg
import pytest

from services.media_process import video
from services.media_process.model import Limits, Rejected
from shared.events import catalogue as c
from shared.runtime import ffmpeg as tools
from tests.support.paths import TESTDATA

VIDEOS = TESTDATA / "videos"


# --- no network ---------------------------------------------------------------------------------------


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it is offered."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port: int = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def settle(self) -> int:
        time.sleep(0.2)  # a connection attempt in flight has time to arrive
        return self.connections

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def test_the_listener_sees_a_connection(listener: Listener) -> None:
    socket.create_connection(("127.0.0.1", listener.port), timeout=1).close()
    assert listener.settle() == 1


def _playlist(tmp_path: Path, port: int) -> Path:
    playlist = tmp_path / "holiday.mp4"
    playlist.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:10.0,\nhttp://127.0.0.1:{port}/x.ts\n#EXT-X-ENDLIST\n"
    )
    return playlist


def test_hls_playlist_named_mp4_is_refused_without_touching_the_network(
    listener: Listener, tmp_path: Path
) -> None:
    playlist = _playlist(tmp_path, listener.port)
    work = tmp_path / "work"
    work.mkdir()

    with pytest.raises(Rejected) as rejected:
        video.process_video(playlist, "video/mp4", Limits(), work)
    assert rejected.value.code == "unsupported_type"

    # below sniff: ffprobe's demuxer whitelist refuses HLS ...
    run, data = tools.probe(playlist, 10)
    assert data is None and "not on whitelist" in run.stderr
    # ... and with HLS allowed, the protocol whitelist still refuses http
    run, data = tools.probe(playlist, 10, formats="hls,mov")
    assert data is None and "Protocol 'http' not on whitelist 'file'" in run.stderr
    # the same for ffmpeg decoding it
    grab = ffmpeg.input(tools.input_url(playlist), protocol_whitelist="file", format_whitelist="hls")
    run = tools.run_ffmpeg(ffmpeg.output(grab, str(work / "x.jpg"), vframes=1), 10)
    assert not run.ok and "not on whitelist" in run.stderr
    assert listener.settle() == 0
    assert list(work.iterdir()) == []


def test_probe_refuses_a_playlist_of_local_files(tmp_path: Path) -> None:
    """An HLS list or ffconcat file pointing at local files is refused by demuxer, not followed."""
    (tmp_path / "a.mp4").write_bytes((VIDEOS / "real/bikes.mp4").read_bytes())
    local = tmp_path / "local.mp4"
    local.write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:{tmp_path / 'a.mp4'}\n#EXT-X-ENDLIST\n"
    )
    concat = tmp_path / "concat.mp4"
    concat.write_text(f"ffconcat version 1.0\nfile '{tmp_path / 'a.mp4'}'\n")
    for path in (local, concat):
        run, data = tools.probe(path, 10)
        assert data is None and "not on whitelist" in run.stderr, run.stderr


def test_commands_are_locked_down(tmp_path: Path) -> None:
    argv = tools.probe_argv(tmp_path / "-i evil.mp4")
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert set(argv[argv.index("-format_whitelist") + 1].split(",")) <= {"mov", "matroska", "avi", "mpegts"}
    assert argv[-1] == f"file:{tmp_path / '-i evil.mp4'}"
    node = ffmpeg.output(tools.safe_input(tmp_path / "a.mp4", ss=1), str(tmp_path / "t.jpg"))
    argv = tools.ffmpeg_argv(node)
    before_input = argv[: argv.index("-i")]
    assert "-nostdin" in before_input
    assert {"-protocol_whitelist", "-format_whitelist", "-ss"} <= set(before_input)


# --- the child process wrapper ------------------------------------------------------------------------


def test_run_kills_a_child_that_overruns() -> None:
    started = time.monotonic()
    run = tools.run(["sleep", "30"], timeout_s=0.3)
    assert run.timed_out and not run.ok and run.returncode < 0
    assert time.monotonic() - started < 5
    assert "killed after" in run.describe()


def test_run_keeps_a_bounded_stderr() -> None:
    run = tools.run(["sh", "-c", "yes 'ffmpeg is complaining' | head -c 2000000 >&2; echo done"], 10)
    assert run.ok and run.stdout == b"done\n"
    assert len(run.stderr) < 3 * tools.STDERR_KEEP
    assert "bytes of messages left out" in run.stderr


def test_a_missing_program_is_a_tool_error(tmp_path: Path) -> None:
    with pytest.raises(tools.ToolError):
        tools.run([str(tmp_path / "nothing")], 1)


# --- box walk -----------------------------------------------------------------------------------------


def _box(kind: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def test_box_walk_finds_common_encryption() -> None:
    assert video.scan_isobmff(VIDEOS / "odd/short-cenc.mp4").encrypted
    for name in ("real/bikes.mp4", "odd/minimal.mp4", "odd/video_rotation_90.mp4"):
        scan = video.scan_isobmff(VIDEOS / name)
        assert not scan.encrypted and not scan.truncated and scan.has_moov, name


def test_box_walk_on_made_up_files(tmp_path: Path) -> None:
    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
    stsd = _box(b"stsd", b"\x00\x00\x00\x00\x00\x00\x00\x01" + _box(b"encv", b"\x00" * 78))
    stbl = _box(b"stbl", stsd)
    moov = _box(b"moov", _box(b"trak", _box(b"mdia", _box(b"minf", stbl))))
    encrypted = video.BoxScan(encrypted=True, has_moov=True)
    cut = video.BoxScan(truncated=True)
    cases = {
        "encv.mp4": (ftyp + moov + _box(b"mdat", b"x" * 100), encrypted),
        "pssh.mp4": (ftyp + _box(b"moov", _box(b"pssh", b"\x00" * 20)), encrypted),
        "cut.mp4": (ftyp + _box(b"mdat", b"x" * 100)[:60], cut),
        "to-end.mp4": (ftyp + b"\x00\x00\x00\x00mdat" + b"x" * 50, video.BoxScan()),
        "garbage.mp4": (ftyp + b"\x00\x00\x00\x03junk" + b"x" * 50, video.BoxScan()),
        "large.mp4": (ftyp + struct.pack(">I4sQ", 1, b"mdat", 1016) + b"x" * 10, cut),  # 64-bit size
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert video.scan_isobmff(path) == expected, name


# --- ffprobe fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+54.5447-003.0169+092.000/", c.GeoPoint(lat=54.5447, lon=-3.0169, altitude_m=92.0)),
        ("+37.4219-122.0840/", c.GeoPoint(lat=37.4219, lon=-122.084)),
        ("-33.8688+151.2093+010.5CRSWGS_84/", c.GeoPoint(lat=-33.8688, lon=151.2093, altitude_m=10.5)),
        ("+4030-07358/", c.GeoPoint(lat=40.5, lon=-73.9666667)),  # DDMM / DDDMM
        ("+403000-0735800/", c.GeoPoint(lat=40.5, lon=-73.9666667)),  # DDMMSS / DDDMMSS
        ("+95.0000+010.0000/", None),
        ("+00.0000+000.0000+010.000/", None),  # "null island": no fix (the photos' rule)
        ("+54.5447-003.0169+250000.000/", c.GeoPoint(lat=54.5447, lon=-3.0169)),  # altitude out of range
        ("+54.5447-003.0169+092.123456/", c.GeoPoint(lat=54.5447, lon=-3.0169, altitude_m=92.12)),
        ("somewhere", None),
        ("", None),
        (None, None),
    ],
)
def test_iso6709(text: str | None, expected: c.GeoPoint | None) -> None:
    assert video.iso6709(text) == expected


def _described(
    fmt_tags: dict[str, str] | None = None, stream: dict[str, object] | None = None
) -> video.Probed:
    main: dict[str, object] = {
        "index": 0,
        "codec_type": "video",
        "codec_name": "hevc",
        "width": 1920,
        "height": 1080,
        "avg_frame_rate": "30/1",
        **(stream or {}),
    }
    return video.describe({"format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "3.5",
                                      "tags": fmt_tags or {}}, "streams": [main]})  # fmt: skip


def test_capture_time_sources() -> None:
    apple = _described({"com.apple.quicktime.creationdate": "2024-06-11T09:30:00+0200",
                        "creation_time": "2024-06-11T07:30:00.000000Z"}).metadata  # fmt: skip
    assert apple.captured_at == dt.datetime(2024, 6, 11, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert apple.utc_offset == "+02:00"
    west = _described({"com.apple.quicktime.creationdate": "2024-06-11T09:30:00-0330"}).metadata
    assert west.utc_offset == "-03:30"
    twice = "2024-06-10T18:12:00.000000Z;2024-06-10T18:12:00.000000Z"  # a remux's duplicated tag
    doubled = _described({"creation_time": twice}).metadata
    assert doubled.captured_at == dt.datetime(2024, 6, 10, 18, 12, tzinfo=dt.UTC)
    assert doubled.utc_offset is None
    from_stream = _described(stream={"tags": {"creation_time": "2019-01-02T03:04:05Z"}}).metadata
    assert from_stream.captured_at == dt.datetime(2019, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    for placeholder in ("1970-01-01T00:00:00.000000Z", "1904-01-01T00:00:00Z", "not a date"):
        assert _described({"creation_time": placeholder}).metadata.captured_at is None


@pytest.mark.parametrize(
    ("stream", "rotation", "size"),
    [
        ({}, 0, (1920, 1080)),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]}, 90, (1080, 1920)),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 90}]}, 270, (1080, 1920)),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": 180}]}, 180, (1920, 1080)),
        ({"side_data_list": [{"side_data_type": "Display Matrix", "rotation": -180}]}, 180, (1920, 1080)),
        ({"tags": {"rotate": "90"}}, 90, (1080, 1920)),
        ({"tags": {"rotate": "270"}}, 270, (1080, 1920)),
    ],
)
def test_rotation_and_displayed_size(stream: dict[str, object], rotation: int, size: tuple[int, int]) -> None:
    m = _described(stream=stream).metadata
    assert (m.rotation, (m.width, m.height)) == (rotation, size)


def test_frame_rate_and_fields_that_are_missing() -> None:
    assert _described(stream={"avg_frame_rate": "30000/1001"}).metadata.fps == 29.97
    assert _described(stream={"avg_frame_rate": "0/0", "r_frame_rate": "25/1"}).metadata.fps == 25.0
    assert _described(stream={"avg_frame_rate": "0/0", "r_frame_rate": "0/0"}).metadata.fps is None
    stream = {"index": 0, "codec_type": "video", "width": 64, "height": 48}
    bare = video.describe({"format": {"format_name": "matroska,webm"}, "streams": [stream]})
    assert bare.duration_s is None
    m = bare.metadata
    assert (m.width, m.codec, m.fps, m.gps, m.captured_at) == (64, None, None, None, None)


def test_tags_are_read_by_the_photos_rules() -> None:
    """Text up to its first NUL, printable characters only, at most 200 of them, as from EXIF."""
    m = _described({"make": " Apple\x00\x00junk", "model": "x" * 300, "location": "+00.0000+000.0000/"})
    assert (m.metadata.make, m.metadata.model, m.metadata.gps) == ("Apple", "x" * 200, None)
    assert _described({"make": "\x00"}).metadata.make is None


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"format": {"format_name": "hls"}, "streams": []}, "unsupported_type"),
        ({"format": {"format_name": "mov"}, "streams": [{"codec_type": "audio"}]}, "unsupported_type"),
        (
            {"format": {"format_name": "mov"}, "streams": [
                {"codec_type": "audio"}, {"codec_type": "video", "width": 600, "height": 600,
                                          "disposition": {"attached_pic": 1}}]},
            "unsupported_type",
        ),
        ({"format": {"format_name": "matroska,webm"}, "streams": [
            {"codec_type": "video", "width": 64, "height": 48,
             "side_data_list": [{"side_data_type": "Encryption initialization data"}]}]}, "encrypted"),
        ({"format": {"format_name": "mov"}, "streams": [{"codec_type": "video"}]}, "undecodable"),
    ],
)  # fmt: skip
def test_describe_refuses(data: dict[str, object], code: str) -> None:
    with pytest.raises(Rejected) as rejected:
        video.describe(data)
    assert rejected.value.code == code


def test_parse_signalstats() -> None:
    text = (
        "frame:0    pts:0       pts_time:0\nlavfi.signalstats.YMIN=0\nlavfi.signalstats.YLOW=51\n"
        "lavfi.signalstats.YAVG=127.5\nlavfi.signalstats.YHIGH=204\n"
        "frame:1    pts:1       pts_time:0.5\nlavfi.signalstats.YLOW=255\nlavfi.signalstats.YAVG=255\n"
        "lavfi.signalstats.YHIGH=255\nframe:2    pts:2       pts_time:1\nlavfi.signalstats.YAVG=3\n"
    )
    frames = video.parse_signalstats(text)
    assert [(f.mean, f.low, f.high) for f in frames] == [(0.5, 0.2, 0.8), (1.0, 1.0, 1.0)]
