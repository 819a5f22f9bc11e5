"""The upload page (served by the API at ``/``) in headless Chromium against the embedded stack: sign in
with the local issuer, drop 10 files (one corrupt, one big enough to go up in parts), watch every row's
status change while the files process, see the verdicts, confirm one discard, and find its object gone.
Screenshots of each step are left in ``test-artifacts/``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import pyvips
from botocore.exceptions import ClientError
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.browser.chromium import artifact, chromium
from tests.support.paths import TESTDATA
from tests.support.stack import RunningStack

pytestmark = pytest.mark.stack
MiB = 1024 * 1024
USER = "page-user"
FINAL = {"processed", "rejected", "duplicate"}

# Every row's data-status as it changes, recorded by the test (not the page) before the page's script runs.
RECORD_STATUSES = """
window.__statuses = {};
new MutationObserver((records) => {
  for (const r of records) {
    const el = r.target;
    if (r.type !== "attributes" || !el.dataset || !el.dataset.name) continue;
    const seen = (window.__statuses[el.dataset.name] ||= []);
    if (seen[seen.length - 1] !== el.dataset.status) seen.push(el.dataset.status);
  }
}).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-status"] });
"""

# The files go in through a detached <input type=file> (Playwright reads them from disk), then are dropped
# on the page's drop zone as a DataTransfer, the way a drag from the desktop arrives.
DROP = """
([input, zone]) => {
  const data = new DataTransfer();
  for (const f of input.files) data.items.add(f);
  for (const type of ["dragenter", "dragover", "drop"]) {
    zone.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
  }
}
"""


@pytest.fixture
def trip(tmp_path: Path) -> list[Path]:
    """Ten files: real photos, a HEIC, a video, a black frame and a smeared photo (both discards), a 9 MB
    photo (uploaded in two parts) and a corrupt JPEG."""
    d = tmp_path / "drop"
    d.mkdir()
    black = d / "pocket.jpg"
    pyvips.Image.black(1200, 900, bands=3).jpegsave(str(black), Q=85)
    smear = d / "smear.jpg"
    pyvips.Image.new_from_file(str(TESTDATA / "photos/gps/DSCN0040.jpg")).gaussblur(12).jpegsave(str(smear))
    big = d / "big.jpg"
    noise = pyvips.Image.gaussnoise(2000, 1500, sigma=60, mean=128)
    noise.bandjoin([noise.rot180(), noise.fliphor()]).cast("uchar").jpegsave(str(big), Q=100)
    assert big.stat().st_size > 6 * MiB  # more than one 5 MiB part
    return [
        TESTDATA / "photos/gps/DSCN0010.jpg",
        TESTDATA / "photos/gps/DSCN0021.jpg",
        TESTDATA / "photos/gps/DSCN0029.jpg",
        TESTDATA / "photos/orientation/portrait_6.jpg",
        TESTDATA / "photos/heic/IMG_5195.HEIC",
        TESTDATA / "videos/real/bikes.mp4",
        black,
        smear,
        big,
        TESTDATA / "photos/broken/corrupted.jpg",
    ]


@pytest.fixture
def page(embedded_stack: RunningStack) -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        # multipart from 6 MiB in 5 MiB parts (S3's smallest), so big.jpg goes up in parts here
        context.add_init_script(
            "window.shoeboxUploadConfig = {multipartFromBytes: 6 * 1024 * 1024, partBytes: 5 * 1024 * 1024};"
        )
        context.add_init_script(RECORD_STATUSES)
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()


def test_the_upload_page_takes_a_drop_through_triage_to_a_confirmed_discard(
    embedded_stack: RunningStack, page: Page, trip: list[Path]
) -> None:
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda m: _console(m, problems))
    seen_requests: list[str] = []
    page.on("request", lambda r: seen_requests.append(f"{r.method} {r.url}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))

    page.goto(embedded_stack.api_url + "/")
    expect(page.locator("#sign-in-local")).to_be_visible()
    page.fill("#local-name", USER)
    page.click("#local-sign-in")
    expect(page.locator("#who-name")).to_have_text(USER)
    page.fill("#context", "Weekend in Kyoto")
    page.screenshot(path=str(artifact("upload-page-1-signed-in.png")))

    picker = page.evaluate_handle(
        "() => Object.assign(document.createElement('input'), {type: 'file', multiple: true})"
    )
    picker.as_element().set_input_files([str(p) for p in trip])  # type: ignore[union-attr]
    page.evaluate(DROP, [picker, page.locator("#drop").element_handle()])

    rows = page.locator("#rows tr")
    expect(rows).to_have_count(10)
    expect(page.locator("#n-queued")).to_have_text("10")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#rows tr')].some(r => r.dataset.status === 'processing')"
    )
    expect(page.locator("#verdicts")).to_be_hidden()
    page.screenshot(path=str(artifact("upload-page-2-uploading.png")), full_page=True)

    # every row ends decided, the corrupt file rejected with its reason
    page.wait_for_function(
        "() => [...document.querySelectorAll('#rows tr')]"
        ".every(r => ['processed', 'rejected'].includes(r.dataset.status))",
        timeout=120_000,
    )
    status = {r["name"]: r for r in _rows(page)}
    assert status["corrupted.jpg"]["status"] == "rejected"
    assert status["corrupted.jpg"]["detail"], "a rejected file says why"
    assert {n for n, r in status.items() if r["status"] == "processed"} == {p.name for p in trip} - {
        "corrupted.jpg"
    }
    expect(page.locator("#n-checked")).to_have_text("10")
    expect(page.locator("#n-processed")).to_have_text("9")
    expect(page.locator("#n-rejected")).to_have_text("1")
    expect(page.locator("#n-uploaded")).to_have_text("10")

    # the rows changed while the files were processing: uploading -> processing -> decided, for every file
    history: dict[str, list[str]] = page.evaluate("() => window.__statuses")
    assert set(history) == {p.name for p in trip}, history  # a history for every file, none skipped
    for name, steps in history.items():
        assert steps[0] == "queued" and "uploading" in steps and steps[-1] in FINAL, (name, steps)
        assert steps.index("uploading") < len(steps) - 1, (name, steps)
    # how many rows are seen processing depends on timing; at least one is (waited for above)
    assert sum("processing" in steps for steps in history.values()) >= 1, history

    # thumbnails arrive in the rows (fetched with the token, shown from blob URLs)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#rows tr[data-status=processed] td.thumb img')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length === 9"
    )

    # the verdicts, keep and discard side by side with reasons
    expect(page.locator("#job-status")).to_have_text("complete", timeout=120_000)
    expect(page.locator("#verdicts")).to_be_visible()
    keep, discard = page.locator("#keep li.card"), page.locator("#discard li.card")
    expect(keep.or_(discard)).to_have_count(9)
    discarded = set(discard.evaluate_all("els => els.map(e => e.dataset.name)"))
    assert {"pocket.jpg", "smear.jpg"} <= discarded, discarded
    for card in discard.all() + keep.all():
        assert card.locator(".reason").inner_text().strip()
    page.screenshot(path=str(artifact("upload-page-3-verdicts.png")), full_page=True)

    # keep the smeared one after all; delete the black frame, once confirmed
    pocket = page.locator("#discard li.card[data-name='pocket.jpg']")
    smear = page.locator("#discard li.card[data-name='smear.jpg']")
    pocket_key, smear_key = pocket.get_attribute("data-key"), smear.get_attribute("data-key")
    assert pocket_key and smear_key
    for card in discard.all():
        box = card.locator("input[type=checkbox]")
        if card.get_attribute("data-name") != "pocket.jpg":
            box.uncheck()
    assert _exists(embedded_stack, pocket_key)
    page.click("#delete")
    expect(page.locator("#confirm")).to_be_visible()
    expect(page.locator("#confirm-text")).to_contain_text("Delete 1 file")
    page.screenshot(path=str(artifact("upload-page-4-confirm.png")), full_page=True)
    page.click("#confirm-yes")
    expect(page.locator("#deleted")).to_have_text("Deleted 1 file.")
    expect(pocket).to_have_class("card discard deleted")
    expect(page.locator("#rows tr[data-name='pocket.jpg']")).to_have_attribute("data-status", "deleted")
    page.screenshot(path=str(artifact("upload-page-5-deleted.png")), full_page=True)

    assert not _exists(embedded_stack, pocket_key), "the confirmed discard is gone from storage"
    assert _exists(embedded_stack, smear_key), "the unticked discard is kept"

    # the big photo went up in parts straight to storage
    parts = -(-trip[8].stat().st_size // (5 * MiB))
    assert sum("partNumber=" in r and r.startswith("PUT ") for r in seen_requests) == parts, seen_requests
    assert not problems, problems


def test_the_page_is_served_with_a_strict_content_security_policy(embedded_stack: RunningStack) -> None:
    import httpx

    r = httpx.get(embedded_stack.api_url + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    endpoint = embedded_stack.settings.aws.endpoint
    assert endpoint and endpoint.rstrip("/") in csp
    again = httpx.get(embedded_stack.api_url + "/", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    js = httpx.get(embedded_stack.api_url + "/static/app.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert r.headers["x-content-type-options"] == js.headers["x-content-type-options"] == "nosniff"
    assert r.headers["etag"] == f'"{hashlib.sha256(r.content).hexdigest()[:32]}"'
    assert httpx.get(embedded_stack.api_url + "/static/nope.js").status_code == 404
    assert httpx.get(embedded_stack.api_url + "/auth/config").json() == {
        "mode": "local",
        "issuer": "shoebox-local",
    }


def _rows(page: Page) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = page.eval_on_selector_all(
        "#rows tr",
        "els => els.map(e => ({name: e.dataset.name, status: e.dataset.status, "
        "detail: e.querySelector('td.detail').textContent}))",
    )
    return rows


def _console(message: ConsoleMessage, problems: list[str]) -> None:
    if message.type == "error":
        problems.append(f"console: {message.text}")


def _exists(stack: RunningStack, key: str) -> bool:
    s = stack.stack

    async def head() -> bool:
        try:
            await s.clients.s3.head_object(Bucket=s.settings.names.media_bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    return stack.portal.call(head)


def test_with_a_pasted_token_picked_files_go_through_and_a_reload_keeps_the_trip(
    embedded_stack: RunningStack, page: Page, tmp_path: Path
) -> None:
    """The page as it runs on AWS (``/auth/config`` says ``token``): a token is pasted, files are picked
    rather than dropped, a file that is not media is never uploaded, and a reload brings the trip back."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.route(
        "**/auth/config",
        lambda route: route.fulfill(json={"mode": "token", "issuer": None}),
    )
    page.goto(embedded_stack.api_url + "/")
    expect(page.locator("#sign-in-token")).to_be_visible()
    expect(page.locator("#sign-in-local")).to_be_hidden()
    page.fill("#token-input", embedded_stack.issuer.issue("paster", ttl_s=-60))
    page.click("#token-sign-in")
    expect(page.locator("#sign-in-error")).to_have_text("That token has expired.")
    page.fill("#token-input", "Bearer " + embedded_stack.token("paster"))
    page.click("#token-sign-in")
    expect(page.locator("#who-name")).to_have_text("paster")

    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo\n")
    # types the browser calls image/...: a RAW Shoebox cannot decode and an SVG (a script in an image's
    # clothes); the page types files from the API's list (/static/media-types.js) and sends neither
    raw = tmp_path / "IMG_0001.CR2"
    raw.write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00")
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
    again = tmp_path / "again.jpg"
    again.write_bytes((TESTDATA / "photos/gps/DSCN0042.jpg").read_bytes())
    picked = [TESTDATA / "photos/gps/DSCN0042.jpg", again, notes, raw, svg]
    page.set_input_files("#picker", [str(p) for p in picked])
    for name in ("notes.txt", "IMG_0001.CR2", "logo.svg"):
        row = page.locator(f"#rows tr[data-name='{name}']")
        expect(row).to_have_attribute("data-status", "not uploaded")
        expect(row.locator("td.detail")).to_contain_text("Not a photo or video type Shoebox reads")
    expect(page.locator("#n-queued")).to_have_text("2")
    expect(page.locator("#job-status")).to_have_text("complete", timeout=120_000)
    expect(page.locator("#keep li.card")).to_have_count(1)
    expect(page.locator("#n-duplicate")).to_have_text("1")
    # the same bytes twice: whichever landed first is processed, the other is its duplicate
    kept = page.locator("#rows tr[data-status=processed]").get_attribute("data-name")
    assert kept in ("DSCN0042.jpg", "again.jpg")
    duplicate = page.locator("#rows tr[data-status=duplicate]")
    expect(duplicate.locator("td.detail")).to_have_text(f"Same bytes as {kept}: not processed again.")

    page.reload()  # the trip comes back from the API: the token and the trip are in sessionStorage
    expect(page.locator("#who-name")).to_have_text("paster")
    expect(page.locator(f"#rows tr[data-name='{kept}']")).to_have_attribute("data-status", "processed")
    expect(page.locator("#rows tr[data-status=duplicate]")).to_have_count(1)
    expect(page.locator(f"#keep li.card[data-name='{kept}']")).to_have_count(1)
    expect(page.locator("#new-trip")).to_be_visible()
    page.click("#new-trip")
    expect(page.locator("#rows tr")).to_have_count(0)
    expect(page.locator("#files")).to_be_hidden()
    assert not problems, problems
