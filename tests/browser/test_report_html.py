"""report.html in headless Chromium (Debian's, driven by Playwright): every input file shown once, the
right counts, and thumbnails that load — opened from disk, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

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
    for img in page.locator("img.thumb").all():
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
    page.screenshot(path=str(artifact("report.png")), full_page=True)
    page.close()
