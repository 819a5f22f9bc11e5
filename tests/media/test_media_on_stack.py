"""media_process on the embedded stack: every real test file decided with the right reason, hostile input
refused without touching the network or leaving temp files, and 200 files at once with bounded memory."""

from __future__ import annotations

import os
import random
import struct
import threading
import time
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import pyvips

from tests.support.api import new_session, upload
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack
from tests.support.wait import eventually

pytestmark = pytest.mark.stack

CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".png": "image/png",
    ".mp4": "video/mp4",
}


def _content_type(name: str) -> str:
    return CONTENT_TYPES.get(Path(name).suffix.lower(), "application/octet-stream")


def _decided(api: str, sid: str, n: int, auth: Mapping[str, str]) -> dict[str, dict[str, Any]] | None:
    """The session's files once ``n`` of them are decided (a file is listed ``pending`` before)."""
    files = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()["files"]
    decided = [f for f in files if f["status"] != "pending"]
    return {f["name"]: f for f in decided} if len(decided) >= n else None


def _events(api: str, sid: str, auth: Mapping[str, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after: int | None = 0
    while after is not None:
        page = httpx.get(
            f"{api}/v1/sessions/{sid}/events", params={"after": after, "limit": 500}, headers=auth
        ).json()
        out += page["events"]
        after = page["next_after"]
    return out


def _thumbnail(stack: RunningStack, key: str) -> pyvips.Image:
    s = stack.stack
    body = stack.portal.call(lambda: _get(s, key))
    return pyvips.Image.new_from_buffer(body, "")


async def _get(stack: Any, key: str) -> bytes:
    r = await stack.clients.s3.get_object(Bucket=stack.settings.names.media_bucket, Key=key)
    async with r["Body"] as b:
        return bytes(await b.read())


@pytest.fixture(scope="module")
def exits_before(embedded_stack: RunningStack) -> int:
    """How many times media_process's worker process had exited before ``testdata_session`` uploads."""
    return len(embedded_stack.process("worker:media_process").exits)


@pytest.fixture(scope="module")
def testdata_session(
    embedded_stack: RunningStack, exits_before: int
) -> tuple[str, dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """Every photo and video under ../shared/testdata uploaded to one session, all decided (after
    ``exits_before`` is taken)."""
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, "testdata", headers=auth)
    files = sorted(p for p in TESTDATA.rglob("*") if p.is_file() and p.suffix.lower() in CONTENT_TYPES)
    names = set()
    for p in files:
        name = p.name if p.name not in names else f"{p.parent.name}-{p.name}"
        names.add(name)
        upload(api, sid, name, p.read_bytes(), _content_type(p.name), headers=auth)
    decided = eventually(
        lambda: _decided(api, sid, len(files), auth), timeout_s=240, what="every testdata file"
    )
    return sid, decided, _events(api, sid, auth)


def test_every_testdata_file_is_decided_and_no_worker_died(
    embedded_stack: RunningStack,
    testdata_session: tuple[str, dict[str, dict[str, Any]], list[dict[str, Any]]],
    exits_before: int,
) -> None:
    _, decided, _ = testdata_session
    statuses = {n: (f["status"], f.get("code")) for n, f in decided.items()}
    assert statuses["corrupted.jpg"] == ("rejected", "undecodable"), decided["corrupted.jpg"]
    # The two "invalid" samples are invalid EXIF, not invalid images: their APP1 segment holds XMP where
    # EXIF belongs. The pixels decode cleanly at libvips' strictest setting, so they are processed (a
    # viewable photo is never thrown away for its metadata) with no EXIF fields read.
    for n in ("invalid_00971.jpg", "invalid_01088.jpg"):
        assert statuses[n] == ("processed", None), decided[n]
    assert statuses["short-cenc.mp4"] == ("rejected", "encrypted")
    for n in ("IMG_5195.HEIC", "samplefilehub.heif", "video_rotation_90.mp4", "bikes.mp4", "DSCN0010.jpg"):
        assert statuses[n][0] == "processed", (n, decided[n])
    for n, f in decided.items():
        if f["status"] == "rejected":
            assert f["message"], n
    # every upload's message acked (a message is acked just after its decision is committed, so the queue
    # may hold it briefly), by the worker process that was there before them: it never died
    embedded_stack.wait_drained("media_process", timeout_s=10)
    assert len(embedded_stack.process("worker:media_process").exits) == exits_before


def test_all_eight_orientations_give_the_same_upright_400px_thumbnail(
    embedded_stack: RunningStack,
    testdata_session: tuple[str, dict[str, dict[str, Any]], list[dict[str, Any]]],
) -> None:
    _, decided, _ = testdata_session
    for shape in ("landscape", "portrait"):
        reference = _thumbnail(embedded_stack, decided[f"{shape}_1.jpg"]["thumbnail"])
        assert max(reference.width, reference.height) == 400
        assert (reference.width > reference.height) == (shape == "landscape")
        for i in range(2, 9):
            thumb = _thumbnail(embedded_stack, decided[f"{shape}_{i}.jpg"]["thumbnail"])
            assert (thumb.width, thumb.height) == (reference.width, reference.height), (shape, i)
            diff = (thumb.cast("float") - reference.cast("float")).abs().avg()
            assert diff < 12, f"{shape}_{i}.jpg is not upright (mean abs diff {diff:.1f})"


def test_gps_capture_time_and_rotation_are_read(
    embedded_stack: RunningStack,
    testdata_session: tuple[str, dict[str, dict[str, Any]], list[dict[str, Any]]],
) -> None:
    _, decided, events = testdata_session
    processed = {
        e["data"]["file"]["name"]: e["data"] for e in events if e["type"] == "shoebox.media.file.processed.v1"
    }
    gps_files = [p.name for p in (TESTDATA / "photos" / "gps").iterdir()]
    with_gps = [n for n in gps_files if processed[n]["metadata"].get("gps")]
    assert len(with_gps) >= len(gps_files) - 1, with_gps  # the set's photos carry a position
    for n in gps_files:
        assert processed[n]["metadata"]["captured_at"], n
        assert processed[n]["photo"]["phash"]
    rotated = processed["video_rotation_90.mp4"]
    thumb = _thumbnail(embedded_stack, decided["video_rotation_90.mp4"]["thumbnail"])
    displayed_portrait = rotated["metadata"]["height"] > rotated["metadata"]["width"]
    assert (thumb.height > thumb.width) == displayed_portrait
    assert rotated["metadata"]["rotation"] in (90, 270)
    assert processed["IMG_5195.HEIC"]["keys"]["converted"]  # a JPEG copy for the AI steps


# ----------------------------------------------------------------------------------------- hostile
def _forged_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height; its data is a few bytes (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def test_hostile_input_is_rejected_for_its_reason_and_leaves_no_temp_files(
    embedded_stack: RunningStack,
) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    sid = new_session(api, "hostile", headers=auth)
    jpeg = (TESTDATA / "photos" / "gps" / "DSCN0025.jpg").read_bytes()
    rng = random.Random(7)
    cuts = sorted(rng.sample(range(200, len(jpeg) - 200), 4))
    inputs: dict[str, tuple[bytes, str]] = {
        "zero.jpg": (b"", "image/jpeg"),
        "bomb.png": (_forged_png(50_000, 50_000), "image/png"),
        "notes.jpg": (b"Dear diary, today we saw the temple.\n" * 20, "image/jpeg"),
        "playlist.mp4": (
            b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n",
            "video/mp4",
        ),
        **{f"cut-{c}.jpg": (jpeg[:c], "image/jpeg") for c in cuts},
    }
    for name, (data, ctype) in inputs.items():
        upload(api, sid, name, data, ctype, headers=auth)
    decided = eventually(lambda: _decided(api, sid, len(inputs), auth), timeout_s=120, what="hostile files")
    codes = {n: (f["status"], f.get("code")) for n, f in decided.items()}
    assert codes["zero.jpg"] == ("rejected", "empty")
    assert codes["bomb.png"] == ("rejected", "too_many_pixels")
    assert codes["notes.jpg"] == ("rejected", "unsupported_type")
    # refused from its content before any tool sees it (that ffprobe itself never follows a playlist is
    # tests/media/test_video_units.py's)
    assert codes["playlist.mp4"] == ("rejected", "unsupported_type")
    for c in cuts:
        assert codes[f"cut-{c}.jpg"][0] == "rejected", (c, decided[f"cut-{c}.jpg"])
        assert codes[f"cut-{c}.jpg"][1] in ("truncated", "undecodable")
    tmp = Path(embedded_stack.settings.tmp_dir or "")
    assert tmp.is_dir() and list(tmp.iterdir()) == []


# ------------------------------------------------------------------------------------------- load
def _photos(n: int, seed: int) -> list[bytes]:
    out = []
    for i in range(n):
        im = (
            pyvips.Image.gaussnoise(960, 720, mean=100 + i % 50, sigma=30, seed=seed + i)  # type: ignore[call-arg]
            .cast("uchar")
            .bandjoin(
                [pyvips.Image.xyz(960, 720)[0].cast("uchar"), pyvips.Image.xyz(960, 720)[1].cast("uchar")]
            )
        )
        out.append(bytes(im.jpegsave_buffer(Q=85)))
    return out


def _batch(api: str, photos: list[bytes], label: str, auth: Mapping[str, str]) -> tuple[float, int, int]:
    """Upload every photo at once to a new session; wait for all. Returns (seconds, rss before, peak rss)."""
    from concurrent.futures import ThreadPoolExecutor

    me = psutil.Process(os.getpid())
    sid = new_session(api, label, headers=auth)
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(me.memory_info().rss)
            time.sleep(0.1)

    before = me.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    with httpx.Client() as client:

        def put(i: int) -> None:
            size = len(photos[i])
            r = client.post(
                f"{api}/v1/sessions/{sid}/uploads",
                json={"name": f"p{i:03d}.jpg", "content_type": "image/jpeg", "size": size},
                headers=auth,
            )
            t = r.json()
            assert client.put(t["url"], content=photos[i], headers=t["headers"]).status_code == 200

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(put, range(len(photos))))
    eventually(lambda: _decided(api, sid, len(photos), auth), timeout_s=600, what=f"{len(photos)} files")
    elapsed = time.monotonic() - started
    stop.set()
    sampler.join()
    status = httpx.get(f"{api}/v1/sessions/{sid}", headers=auth).json()
    counters = status["counters"]
    odd = [
        (f["name"], f["status"], f.get("code"), f.get("message"))
        for f in status["files"]
        if f["status"] != "processed"
    ]
    assert counters["processed"] == len(photos), (counters, odd[:5])
    assert counters["rejected"] == counters["duplicate"] == 0, (counters, odd[:5])
    kinds = [e["type"] for e in _events(api, sid, auth)]
    assert kinds.count("shoebox.media.file.processed.v1") == len(photos)
    return elapsed, before, max(samples)


@pytest.mark.slow
def test_200_files_at_once_are_all_decided_with_exact_counters_and_memory_that_does_not_grow(
    embedded_stack: RunningStack,
) -> None:
    api, auth = embedded_stack.api_url, embedded_stack.auth()
    few_s, few_before, few_peak = _batch(api, _photos(40, seed=1000), "forty", auth)
    many_s, many_before, many_peak = _batch(api, _photos(200, seed=2000), "two hundred", auth)
    mb = 1e6
    print(
        f"\n 40 files: {few_s:.1f}s ({40 / few_s:.1f} files/s), "
        f"peak RSS +{(few_peak - few_before) / mb:.0f} MB"
    )
    print(
        f"200 files: {many_s:.1f}s ({200 / many_s:.1f} files/s), "
        f"peak RSS +{(many_peak - many_before) / mb:.0f} MB"
        f" (workers, relay and API in this process; the emulator in its own)"
    )
    # Files are streamed to disk one at a time and at most `concurrency` are decoded at once, so five
    # times the files must not need more working memory than a few more buffers.
    assert many_peak - many_before < (few_peak - few_before) + 150 * mb
    assert many_peak - many_before < 500 * mb
