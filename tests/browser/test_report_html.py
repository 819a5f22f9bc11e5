"""report.html in headless Chromium (Debian's, driven by Playwright): every input file shown once, the
right counts, thumbnails that load, and the picks' before/after pairs (both images load, the link opens the
enhanced file, the edits listed) — opened from disk, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from shoebox_cli.main import main
from tests.browser.chromium import artifact, chromium
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

pytestmark = pytest.mark.stack


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
    enhanced one a link to the enhanced file (which is there), and its edits listed; the video pick that
    the enhancement skipped is listed as not enhanced."""
    enhanced = sorted((f for f in report["files"] if f["enhanced"]), key=lambda f: f["selected"]["rank"])
    assert report["enhancement"] is not None and enhanced, report["enhancement"]
    pairs = page.locator("#enhanced .pair")
    assert pairs.count() == len(enhanced)
    for n, f in enumerate(enhanced):
        pair = pairs.nth(n)
        assert pair.locator(".name").inner_text() == f["path"]  # in rank order
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
