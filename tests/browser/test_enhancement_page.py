"""The upload page's enhancement step in headless Chromium against the embedded stack and its enhance worker
(the offline provider): upload three real photos through the page, reach triage and a selection of all of
them, enhance the picks, and see a before/after pair for each with the phases shown while it ran (the
phases come over the session's event stream, which the page reads with its token); the edits shown are
the API's. Feedback "brighter" on one: "working…", then the pass's new thumbnail and what the provider
said. The zip download's entries are the enhanced files, byte for byte; one file's download is too.
Screenshots are left in ``test-artifacts/``."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.chromium import artifact, chromium
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.stack, pytest.mark.slow]
USER = "enhancement-page-user"
PHOTOS = [TESTDATA / "photos/gps" / n for n in ("DSCN0010.jpg", "DSCN0021.jpg", "DSCN0029.jpg")]

# Every (name, status, phase, feedback) an enhancement card shows, in order, recorded before the page's
# script runs.
RECORD_CARDS = """
window.__cards = [];
new MutationObserver((records) => {
  for (const r of records) {
    const li = r.target;
    if (!(li instanceof HTMLElement) || !li.matches("li.card.enh")) continue;
    const seen = [li.dataset.name, li.dataset.status, li.dataset.phase || null, li.dataset.feedback || null];
    const last = window.__cards.filter((c) => c[0] === seen[0]).pop();
    if (!last || seen.some((v, i) => v !== last[i])) window.__cards.push(seen);
  }
}).observe(document, {
  subtree: true, attributes: true, attributeFilter: ["data-status", "data-phase", "data-feedback"],
});
"""


@pytest.fixture
def page(embedded_stack: RunningStack) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        context.add_init_script(RECORD_CARDS)
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()


def test_the_page_enhances_the_picks_live_takes_feedback_and_downloads_the_zip(
    embedded_stack: RunningStack, page: Page
) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

    page.goto(embedded_stack.api_url + "/")
    page.fill("#local-name", USER)
    page.click("#local-sign-in")
    expect(page.locator("#who-name")).to_have_text(USER)
    page.fill("#context", "A walk in the hills")
    page.set_input_files("#picker", [str(p) for p in PHOTOS])
    expect(page.locator("#job-status")).to_have_text("complete", timeout=120_000)
    page.get_by_label("How many").fill("all")
    page.get_by_role("button", name="Pick", exact=True).click()
    expect(page.locator("#selection")).to_have_attribute("data-status", "complete", timeout=120_000)
    n = page.locator("#picks li.card.pick").count()
    assert n >= 2, n  # real photos of a trip: triage keeps them

    # enhance the picks: a card per pick, each ending enhanced
    expect(page.locator("#enhance")).to_be_visible()
    page.get_by_role("button", name="Enhance the picks").click()
    cards = page.locator("#enh-items li.card.enh")
    expect(cards).to_have_count(n, timeout=30_000)
    expect(page.locator("#enhance")).to_have_attribute("data-status", "done", timeout=240_000)
    expect(page.locator("#enh-status")).to_have_text("done")
    expect(page.locator("#enh-cancel")).to_be_hidden()
    expect(page.locator("#enh-items li.card.enh[data-status='enhanced']")).to_have_count(n)
    page.wait_for_function(
        f"() => [...document.querySelectorAll('#enh-items li.card.enh .pair img')]"
        f".filter(i => i.complete && i.naturalWidth > 0).length === {2 * n}"
    )

    sid: str = page.evaluate("() => JSON.parse(sessionStorage.getItem('shoebox.trip')).session")
    job: str = page.evaluate("() => JSON.parse(sessionStorage.getItem('shoebox.trip')).enhancement")
    answer = _get(embedded_stack, f"/v1/sessions/{sid}/enhancements/{job}").json()
    assert answer["status"] == "done" and answer["done"] == n, answer
    for item in answer["items"]:
        card = page.locator(f"#enh-items li.card.enh[data-name='{item['name']}']")
        # the phases as the stream showed them: the global edit and the analysis at least, in order
        shown = card.locator("ol.phases li").all_inner_texts()
        assert [s.split(":")[0] for s in shown[:2]] == ["1 · global edit", "2 · analysis"], shown
        assert card.locator("ul.changes li").all_inner_texts() == item["changes"]
        expect(card.get_by_role("button", name=f"Download: {item['name']}")).to_be_visible()
    # and shown while the items ran: a card with a phase before it ended
    seen: list[list[Any]] = page.evaluate("() => window.__cards")
    assert any(status == "running" and phase for _, status, phase, _ in seen), seen
    page.screenshot(path=str(artifact("enhancement-page-1-done.png")), full_page=True)

    # feedback on the first: working…, then the new after-thumbnail and what the provider said
    first = answer["items"][0]
    card = page.locator(f"#enh-items li.card.enh[data-name='{first['name']}']")
    old_src = card.locator(".pair.after img").get_attribute("src")
    card.get_by_role("textbox", name=f"Feedback: {first['name']}").fill("brighter")
    card.get_by_role("button", name=f"Send feedback: {first['name']}").click()
    expect(card).to_have_attribute("data-feedback", "completed", timeout=120_000)
    expect(card.locator(".working")).to_be_hidden()
    states = [f for name, _, _, f in page.evaluate("() => window.__cards") if name == first["name"]]
    assert states[-2:] == ["working", "completed"], states  # "working…" was shown until it completed
    page.wait_for_function(
        "([name, old]) => { const i = document.querySelector("
        "`#enh-items li.card.enh[data-name='${name}'] .pair.after img`);"
        " return i && i.src !== old && i.complete && i.naturalWidth > 0; }",
        arg=[first["name"], old_src],
    )
    after = _get(embedded_stack, f"/v1/sessions/{sid}/enhancements/{job}").json()["items"][0]
    assert (after["feedback_requested"], after["feedback_completed"]) == (1, 1), after
    said = f"“brighter”: {after['feedback_message'] or 'done.'}"
    expect(card.locator(".said")).to_have_text(said)  # what the provider said
    page.screenshot(path=str(artifact("enhancement-page-2-feedback.png")), full_page=True)

    # all as one zip: its entries are the enhanced files (the first one's feedback result included)
    with page.expect_download() as got:
        page.get_by_role("button", name="Download all (zip)").click()
    download = got.value
    assert download.suggested_filename == f"{job}-enhanced.zip"
    path = download.path()
    assert path is not None
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        names = zf.namelist()
        assert names == [f"{i['name'].rsplit('.', 1)[0]}-enhanced.jpg" for i in answer["items"]], names
        for item, name in zip(answer["items"], names, strict=True):
            assert zf.read(name) == _get(embedded_stack, item["enhanced_url"]).content
    # and one file on its own
    with page.expect_download() as one:
        card.get_by_role("button", name=f"Download: {first['name']}").click()
    with open(str(one.value.path()), "rb") as f:
        assert f.read() == _get(embedded_stack, after["enhanced_url"]).content
    assert not problems, problems


def _get(stack: RunningStack, path: str) -> httpx.Response:
    r = httpx.get(f"{stack.api_url}{path}", headers=stack.auth(USER))
    assert r.status_code == 200, r.text
    return r
