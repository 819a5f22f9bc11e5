"""report.html in headless Chromium (Debian's, driven by Playwright): every input file shown once, the
right counts, thumbnails that load, and the picks' before/after pairs (both images load, the link opens the
enhanced file, the edits listed) — opened from disk, offline. A video pick's pair is two ``<video>``
elements that load and play real H.264 + AAC clips (Debian's Chromium plays H.264: it is built on the
system's FFmpeg with the proprietary codecs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from shoebox_cli import report
from shoebox_cli.main import main
from shoebox_cli.report import Enhanced, FileEntry, Metadata, Report, SessionInfo, Timings
from tests.browser.chromium import artifact, chromium
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack


@pytest.mark.stack
def test_report_html_shows_every_file_once_with_counts_and_loading_thumbnails(
    embedded_stack: RunningStack, tmp_path: Path
) -> None:
    trip = tmp_path / "trip"
    for rel in (
        "photos/gps/DSCN0010.jpg",
        "photos/orientation/portrait_6.jpg",
        "photos/heic/IMG_5195.HEIC",
        "videos/real/bikes.mp4",
        "photos/broken/corrupted.jpg",
    ):
        dest = trip / Path(rel).parent.name / Path(rel).name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(TESTDATA / rel, dest)
    (trip / "notes.jpg").write_text("not a photo\n")
    shutil.copy(TESTDATA / "photos/gps/DSCN0010.jpg", trip / "again.jpg")  # an exact duplicate
    out = tmp_path / "out"
    code = main(
        [
            "process",
            str(trip),
            "--api",
            embedded_stack.api_url,
            "--token",
            embedded_stack.token(),
            "--out",
            str(out),
            "--timeout",
            "120",
            "--plain",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    with chromium() as browser:  # after the CLI's event loop has finished
        _check(browser, out, report)


def _check(browser: Browser, out: Path, report: dict[str, Any]) -> None:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.route(
        "**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort()
    )
    page.goto((out / "report.html").as_uri())
    page.wait_for_load_state("load")
    for img in page.locator("img.thumb, img.shot").all():
        img.scroll_into_view_if_needed()
    page.wait_for_function("[...document.images].every(i => i.complete)")
    shown = page.eval_on_selector_all(
        ".card .name[title], td.path", "els => els.map(e => e.getAttribute('title') || e.textContent.trim())"
    )
    assert sorted(shown) == sorted(f["path"] for f in report["files"])  # every input file, once
    # the inputs fix the counts: 2 photos, a HEIC and a video processed; the corrupt JPEG and the text
    # file rejected; again.jpg (or its twin) the duplicate
    expected = {"processed": 4, "rejected": 2, "duplicate": 1}
    assert {kind: report["counts"][kind] for kind in expected} == expected, report["counts"]
    for kind, count in expected.items():
        assert page.locator(f".chip.{kind} b").inner_text() == str(count), kind
    images = page.eval_on_selector_all(
        "img.thumb", "els => els.map(e => [e.getAttribute('src'), e.naturalWidth])"
    )
    assert len(images) == expected["processed"], images
    assert all(width > 0 for _, width in images), images
    _check_pairs(page, out, report)
    page.screenshot(path=str(artifact("report.png")), full_page=True)
    page.close()


def _check_pairs(page: Page, out: Path, report: dict[str, Any]) -> None:
    """Each enhanced pick is one pair: its original's thumbnail beside the enhanced one, both loaded, the
    enhanced one a link to the enhanced file (which is there), and its edits listed (a video's pair: its
    clips); a pick that did not come back enhanced (the video, while no video service is deployed) is
    listed as not enhanced."""
    enhanced = sorted((f for f in report["files"] if f["enhanced"]), key=lambda f: f["selected"]["rank"])
    assert report["enhancement"] is not None and enhanced, report["enhancement"]
    pairs = page.locator("#enhanced .pair")
    assert pairs.count() == len(enhanced)
    for n, f in enumerate(enhanced):
        pair = pairs.nth(n)
        assert pair.locator(".name").inner_text() == f["path"]  # in rank order
        if f["kind"] == "video":  # once a video service is deployed: two clips
            after_clip = pair.locator("figure.after video.shot")
            assert after_clip.get_attribute("src") == f["enhanced"]["path"]
            assert (out / f["enhanced"]["path"]).is_file()
            assert pair.locator(".edits li").all_inner_texts() == (
                f["enhanced"]["edits"] or ["nothing needed changing"]
            )
            continue
        before = pair.locator("figure.before img.shot")
        after = pair.locator("figure.after a img.shot")
        assert before.get_attribute("src") == f["thumbnail"]
        assert after.get_attribute("src") == f["enhanced"]["thumbnail"]
        for img in (before, after):
            assert img.evaluate("e => e.naturalWidth") > 0, f["path"]
        href = pair.locator("figure.after a").first.get_attribute("href")
        assert href == f["enhanced"]["path"] and (out / href).is_file()
        edits = pair.locator(".edits li").all_inner_texts()
        assert edits == (f["enhanced"]["edits"] or ["nothing needed changing"])
    skipped = [f for f in report["files"] if f["enhancement_error"]]
    listed = page.locator("#enhanced .not-enhanced .epath").all_inner_texts()
    assert sorted(listed) == sorted(f["path"] for f in skipped)
    pairs.first.screenshot(path=str(artifact("report-pair.png")))


def _clip(src: Path, dest: Path, *filters: str, seconds: float = 2.0) -> Path:
    """A real H.264 + AAC MP4 (faststart, as the video service writes) cut from a test clip."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    vf = ["-vf", ",".join(filters)] if filters else []
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-t", str(seconds), *vf,
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-movflags", "+faststart", str(dest)],
        check=True,
        timeout=120,
    )  # fmt: skip
    return dest


def _frame(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src), "-frames:v", "1",
         "-vf", "scale=400:-2", str(dest)],
        check=True,
        timeout=60,
    )  # fmt: skip


def test_a_video_picks_pair_is_two_clips_that_load_and_play(tmp_path: Path) -> None:
    """report.html's pair for a video pick: the original's preview clip beside the enhanced clip, both
    ``<video controls>`` with the report's relative paths, both loaded (their metadata, the duration of the
    clips) and the enhanced one plays; the link opens the MP4; the edits are the filters."""
    out = tmp_path / "out"
    source = TESTDATA / "videos/real/bikes.mp4"
    _clip(source, out / "enhanced/before/bikes.mp4", "scale=-2:360")
    _clip(source, out / "enhanced/bikes.mp4", "eq=brightness=0.06:contrast=1.1", "scale=-2:360")
    _frame(out / "enhanced/bikes.mp4", out / "enhanced/thumbnails/bikes.mp4.jpg")
    _frame(source, out / "thumbnails/bikes.mp4.jpg")
    edits = ["eq brightness=+0.06 contrast=1.10", "hqdn3d luma=3"]
    video = FileEntry(
        path="day 1/bikes.mp4",
        status="processed",
        reason=None,
        kind="video",
        metadata=Metadata.empty(),
        thumbnail="thumbnails/bikes.mp4.jpg",
        triage=None,
        selected=None,
        enhanced=Enhanced(
            path="enhanced/bikes.mp4",
            thumbnail="enhanced/thumbnails/bikes.mp4.jpg",
            edits=edits,
            before="enhanced/before/bikes.mp4",
        ),
        key="uploads/s/bikes.mp4",
        size=source.stat().st_size,
        sha256=None,
        media_type="video/mp4",
    )
    doc = Report(
        generated_at="2026-01-01T00:00:00+00:00",
        session=SessionInfo(id="s", context="Bikes", api="http://127.0.0.1:8000"),
        counts=report.count([video]),
        timings=Timings(upload_s=1.0, processing_s=1.0, total_s=2.0),
        files=[video],
    )
    report.write(doc, out)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
        page.goto((out / "report.html").as_uri())
        pair = page.locator("#enhanced .pair.video")
        assert pair.count() == 1
        before, after = pair.locator("figure.before video"), pair.locator("figure.after video")
        assert before.get_attribute("src") == "enhanced/before/bikes.mp4"
        assert after.get_attribute("src") == "enhanced/bikes.mp4"
        assert after.get_attribute("poster") == "enhanced/thumbnails/bikes.mp4.jpg"
        for clip in (before, after):
            assert clip.get_attribute("controls") is not None
            # HAVE_METADATA at least, with the clip's duration: Chromium read (and can decode) the MP4
            clip.evaluate(
                "v => v.readyState >= 1 || new Promise((ok, bad) => {"
                " v.addEventListener('loadedmetadata', ok, {once: true});"
                " v.addEventListener('error', () => bad(new Error(`media error ${v.error.code}`)),"
                " {once: true});"
                " })"
            )
            duration = clip.evaluate("v => v.duration")
            assert 1.9 <= duration <= 2.1, duration
            assert clip.evaluate("v => [v.videoWidth > 0, v.videoHeight]") == [True, 360]  # as rendered
        # the enhanced clip plays: its time advances (muted, as autoplay rules want)
        after.evaluate("v => { v.muted = true; return v.play(); }")
        page.wait_for_function(
            "() => document.querySelector('#enhanced .pair.video figure.after video').currentTime > 0.2"
        )
        assert pair.locator("figure.after a.full").get_attribute("href") == "enhanced/bikes.mp4"
        assert pair.locator(".edits li").all_inner_texts() == edits
        pair.screenshot(path=str(artifact("report-video-pair.png")))
        page.close()
