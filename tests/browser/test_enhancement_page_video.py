"""The upload page's enhancement step with a video, in headless Chromium against the embedded stack and its
video worker (the offline provider): upload a real 3 s clip and a photo through the page, select all, enhance,
and see the video's card follow its render (the phases from the stream, the render with how far it was) and
end with two ``<video>`` elements whose sources are short-lived presigned GETs of storage (the CSP's
``media-src``): both load in Chromium, the enhanced one plays, and its URL serves the enhanced clip byte for
byte as ``video/mp4``. Screenshots are left in ``test-artifacts/``."""

from __future__ import annotations

import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.chromium import artifact, chromium
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.stack, pytest.mark.slow]
USER = "enhancement-video-page-user"
PHOTO = TESTDATA / "photos/gps/DSCN0010.jpg"


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    """A real 3 s H.264 + AAC clip cut from a test video (kept short: the stack renders it on 2 cores)."""
    out = tmp_path / "ride.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(TESTDATA / "videos/real/bikes.mp4"),
         "-t", "3", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(out)],
        check=True,
        timeout=120,
    )  # fmt: skip
    return out


@pytest.fixture
def page(embedded_stack: RunningStack) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()


def test_a_video_card_follows_the_render_and_plays_both_clips_from_presigned_urls(
    embedded_stack: RunningStack, page: Page, clip: Path
) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

    page.goto(embedded_stack.api_url + "/")
    page.fill("#local-name", USER)
    page.click("#local-sign-in")
    expect(page.locator("#who-name")).to_have_text(USER)
    page.fill("#context", "A bike ride")
    page.set_input_files("#picker", [str(clip), str(PHOTO)])
    expect(page.locator("#job-status")).to_have_text("complete", timeout=120_000)
    page.get_by_label("How many").fill("all")
    page.get_by_role("button", name="Pick", exact=True).click()
    expect(page.locator("#selection")).to_have_attribute("data-status", "complete", timeout=120_000)
    expect(page.locator("#picks li.card.pick")).to_have_count(2)

    page.get_by_role("button", name="Enhance the picks").click()
    card = page.locator("#enh-items li.card.enh[data-name='ride.mp4']")
    expect(card).to_have_attribute("data-kind", "video", timeout=30_000)
    expect(page.locator("#enhance")).to_have_attribute("data-status", "done", timeout=300_000)
    expect(card).to_have_attribute("data-status", "enhanced")

    # the phases as the stream showed them: the analysis, then the render with how far it got
    shown = card.locator("ol.phases li").all_inner_texts()
    assert shown and shown[0].startswith("1 · analysis"), shown
    render = [s for s in shown if s.startswith("2 · render")]
    assert render and "%" in render[-1], shown

    sid: str = page.evaluate("() => JSON.parse(sessionStorage.getItem('shoebox.trip')).session")
    job: str = page.evaluate("() => JSON.parse(sessionStorage.getItem('shoebox.trip')).enhancement")
    answer = _get(embedded_stack, f"/v1/sessions/{sid}/enhancements/{job}").json()
    item = next(i for i in answer["items"] if i["name"] == "ride.mp4")
    assert item["kind"] == "video" and item["status"] == "enhanced", item
    assert card.locator("ul.changes li").all_inner_texts() == item["changes"]  # the filters applied

    # both clips load from storage (presigned GETs at the emulator's origin), and the enhanced one plays
    storage = urllib.parse.urlsplit(embedded_stack.settings.aws.endpoint or "")
    for which in ("before", "after"):
        video = card.locator(f"figure.{which} video.clip")
        expect(video).to_be_visible()
        src = video.get_attribute("src") or ""
        parts = urllib.parse.urlsplit(src)
        assert (parts.scheme, parts.netloc) == (storage.scheme, storage.netloc), src
        assert "X-Amz-Signature=" in parts.query and "X-Amz-Expires=" in parts.query, src
        # HAVE_METADATA: Chromium read the clip from storage (a CSP without media-src blocks it: red)
        page.wait_for_function("v => v.readyState >= 1", arg=video.element_handle(), timeout=30_000)
        assert video.evaluate("v => v.duration") > 0
    after = card.locator("figure.after video.clip")
    after.evaluate("v => { v.muted = true; return v.play(); }")
    after.evaluate(
        "v => v.currentTime > 0.2 || new Promise((ok) => v.addEventListener("
        "'timeupdate', () => v.currentTime > 0.2 && ok(), {}))"
    )
    # the URL the page plays is the enhanced clip itself, served as video/mp4 without the token
    played = httpx.get(after.get_attribute("src") or "", timeout=60)
    assert played.status_code == 200 and played.headers["content-type"] == "video/mp4"
    assert played.content == _get(embedded_stack, item["enhanced_url"]).content
    page.screenshot(path=str(artifact("enhancement-page-video.png")), full_page=True)
    assert not problems, problems


def _get(stack: RunningStack, path: str) -> httpx.Response:
    r = httpx.get(f"{stack.api_url}{path}", headers=stack.auth(USER), timeout=60)
    assert r.status_code == 200, r.text
    return r
