"""The upload page's selection step in headless Chromium against the embedded stack: upload four real photos
and a black frame through the page, reach triage, ask for a selection of 2, see the picks with reasons
grouped by scene and the black frame excluded as discarded in triage, move an exclusion into the picks and
save, and find the edit in the API. A save on a stale revision is a 409 the page recovers from by reading
the picks again, and a reload brings the selection back. Screenshots are left in ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pyvips
from playwright.sync_api import Page, expect

from tests.browser.chromium import artifact, chromium
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

pytestmark = pytest.mark.stack
USER = "selection-page-user"
CONTEXT = "Weekend in Kyoto"
PHOTOS = [
    TESTDATA / "photos/gps" / n for n in ("DSCN0010.jpg", "DSCN0021.jpg", "DSCN0029.jpg", "DSCN0040.jpg")
]

# The selection step's data-status as it changes, recorded by the test before the page's script runs.
RECORD_SELECTION = """
window.__selection = [];
new MutationObserver(() => {
  const s = document.getElementById("selection")?.dataset.status;
  if (s && window.__selection[window.__selection.length - 1] !== s) window.__selection.push(s);
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-status"] });
"""


@pytest.fixture
def trip(tmp_path: Path) -> list[Path]:
    black = tmp_path / "pocket.jpg"
    pyvips.Image.black(1200, 900, bands=3).jpegsave(str(black), Q=85)
    return [*PHOTOS, black]


@pytest.fixture
def page(embedded_stack: RunningStack) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.add_init_script(RECORD_SELECTION)
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()


def test_the_page_asks_for_a_selection_shows_the_picks_by_scene_and_saves_the_persons_edit(
    embedded_stack: RunningStack, page: Page, trip: list[Path]
) -> None:
    problems: list[str] = []
    stale: list[str] = []  # the 409 this test provokes on purpose
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: m.type == "error" and "409" not in m.text and problems.append(m.text))
    page.on(
        "response",
        lambda r: (
            r.status >= 400 and (stale if r.status == 409 else problems).append(f"HTTP {r.status}: {r.url}")
        ),
    )

    page.goto(embedded_stack.api_url + "/")
    page.fill("#local-name", USER)
    page.click("#local-sign-in")
    expect(page.locator("#who-name")).to_have_text(USER)
    page.fill("#context", CONTEXT)
    page.set_input_files("#picker", [str(p) for p in trip])
    expect(page.locator("#job-status")).to_have_text("complete", timeout=120_000)
    expect(page.locator("#discard li.card[data-name='pocket.jpg']")).to_have_count(1)

    # the step after triage: a count and the session's context, prefilled
    expect(page.locator("#selection")).to_be_visible()
    expect(page.get_by_label("How many")).to_have_value("12")
    expect(page.get_by_label("About the trip")).to_have_value(CONTEXT)
    page.get_by_label("How many").fill("two")
    page.click("#sel-ask")
    expect(page.locator("#sel-error")).to_have_text('How many: a whole number from 1, or "all".')
    page.get_by_label("How many").fill("2")
    page.get_by_role("button", name="Pick", exact=True).click()
    expect(page.locator("#selection")).to_have_attribute("data-status", "complete", timeout=120_000)
    seen: list[str] = page.evaluate("() => window.__selection")
    assert seen[0] == "pending" and seen[-1] == "complete", seen
    expect(page.locator("#sel-error")).to_be_hidden()

    # two picks in rank order, each with its reason and thumbnail, under its scene's heading
    picks = page.locator("#picks section.scene li.card.pick")
    expect(picks).to_have_count(2)
    assert picks.evaluate_all("els => els.map(e => e.dataset.rank)") == ["1", "2"]
    for card in picks.all():
        assert card.locator(".reason").inner_text().strip()
        heading = card.locator("xpath=ancestor::section[contains(@class, 'scene')]/h4")
        assert heading.inner_text().strip()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#picks li.card .thumb img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length === 2"
    )
    # every other item excluded with its category and reason; the black frame as triage's discard
    excluded = page.locator("#excluded li.card")
    expect(excluded).to_have_count(len(trip) - 2)
    pocket = page.locator("#excluded li.card[data-name='pocket.jpg']")
    expect(pocket).to_have_attribute("data-category", "discarded_in_triage")
    expect(pocket.locator(".category")).to_have_text("discarded in triage")
    for card in excluded.all():
        assert card.locator(".reason").inner_text().strip()
    page.screenshot(path=str(artifact("selection-page-1-picks.png")), full_page=True)

    # the person adds an exclusion to the picks, moves it up to rank 2, and saves
    [moved] = [
        n
        for n in excluded.evaluate_all(
            "els => els.filter(e => e.dataset.category !== 'discarded_in_triage').map(e => e.dataset.name)"
        )
    ][:1]
    expect(page.locator("#sel-save")).to_be_disabled()
    page.get_by_role("button", name=f"Add to picks: {moved}").click()
    card = page.locator(f"#picks li.card[data-name='{moved}']")
    expect(card).to_have_attribute("data-rank", "3")
    expect(card.get_by_role("button", name=f"Add to picks: {moved}")).to_have_count(0)
    expect(card.get_by_role("button", name=f"Up: {moved}")).to_be_focused()  # the keyboard stays on it
    card.get_by_role("button", name=f"Up: {moved}").click()
    expect(card).to_have_attribute("data-rank", "2")
    expect(card.locator(".by-person")).to_have_text("Moved by you: not saved yet")
    expect(excluded).to_have_count(len(trip) - 3)
    page.click("#sel-save")
    expect(page.locator("#sel-saved")).to_have_text("Saved (revision 1): 3 picks.")
    expect(card).to_have_attribute("data-by-person", "true")
    expect(card.locator(".by-person")).to_have_text("Picked by you")
    page.screenshot(path=str(artifact("selection-page-2-saved.png")), full_page=True)

    sid: str = page.evaluate("() => JSON.parse(sessionStorage.getItem('shoebox.trip')).session")
    job: str = page.evaluate("() => JSON.parse(sessionStorage.getItem('shoebox.trip')).selection")
    answer = _selection(embedded_stack, sid, job)
    assert answer["revision"] == 1, answer
    by_name = {p["name"]: p for p in answer["selected"]}
    assert len(by_name) == 3 and by_name[moved]["by_person"] and by_name[moved]["rank"] == 2, answer

    # someone else saves meanwhile (revision 2): the page's next save is a 409 and it reads the picks again
    moved_key = by_name[moved]["key"]
    kept = [p["key"] for p in answer["selected"] if p["key"] != moved_key]
    r = httpx.put(
        f"{embedded_stack.api_url}/v1/sessions/{sid}/selections/{job}/picks",
        json={"selected": kept, "excluded": [*(x["key"] for x in answer["excluded"]), moved_key]},
        headers=embedded_stack.auth(USER),
    )
    assert r.status_code == 200 and r.json()["revision"] == 2, r.text
    page.get_by_role("button", name=f"Remove from picks: {moved}").click()
    page.click("#sel-save")
    expect(page.locator("#notice")).to_contain_text("Not saved: the picks were edited meanwhile")
    expect(picks).to_have_count(2)  # the lists as revision 2 has them
    expect(page.locator(f"#excluded li.card[data-name='{moved}']")).to_have_attribute(
        "data-by-person", "true"
    )
    expect(page.locator("#sel-save")).to_be_disabled()
    assert stale and all("/picks" in s for s in stale), stale

    # a reload brings the trip's selection back, as saved
    page.reload()
    expect(page.locator("#selection")).to_have_attribute("data-status", "complete")
    expect(picks).to_have_count(2)
    expect(page.get_by_label("About the trip")).to_have_value(CONTEXT)  # the session's, from the API
    expect(page.locator(f"#excluded li.card[data-name='{moved}'] .by-person")).to_have_text("Left out by you")
    assert not problems, problems


def _selection(stack: RunningStack, sid: str, job: str) -> dict[str, Any]:
    r = httpx.get(f"{stack.api_url}/v1/sessions/{sid}/selections/{job}", headers=stack.auth(USER))
    assert r.status_code == 200, r.text
    return dict(r.json())
