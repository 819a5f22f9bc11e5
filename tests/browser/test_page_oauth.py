"""The upload page as it signs in on AWS: through the Cognito hosted UI with the authorization code flow and
PKCE (``web/oauth.js``), against a fake hosted UI (``tests/support/hosted_ui.py``) and the API configured to
trust it, as Terraform configures it (``SHOEBOX_AUTH_ISSUER``, ``_AUDIENCE``, ``_JWKS_URL``,
``_HOSTED_UI_URL``). No emulator: the API runs on in-memory collaborators, and only its sign-in and its
first calls are looked at."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.chromium import artifact, chromium
from tests.support.hosted_ui import USER_EMAIL, oauth_api
from tests.support.paths import TESTDATA

#: how long an expectation waits (Playwright's default is 5 s; the machine is shared)
WAIT_MS = 15_000
#: what the page shows once the API made the trip's session
TRIP_LABEL = re.compile(r"^Trip [0-9a-f-]{8}$")


@pytest.fixture
def page() -> Iterator[Page]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()


def _storage(page: Page) -> dict[str, str]:
    stored: dict[str, str] = page.evaluate("() => Object.fromEntries(Object.entries(sessionStorage))")
    return stored


def test_the_page_signs_in_through_the_hosted_ui_calls_the_api_with_its_token_and_signs_out(
    page: Page,
) -> None:
    """Sign-in through the hosted UI: the authorize request carries an S256 challenge, a state and a nonce;
    the code comes back, is exchanged with the verifier (the fake checks SHA-256(verifier) = challenge) and
    the ID token is kept; the URL is clean afterwards. The first token is about to run out, so the page's
    first API call refreshes it first (the refresh_token grant) and goes with the new one; the API accepts
    it. Sign out goes through the hosted UI's /logout back to the page."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    api_calls: list[Request] = []

    def record(request: Request) -> None:
        api_calls.append(request)

    page.on("request", record)
    with oauth_api(id_token_ttl_s=30) as api:
        ui = api.hosted_ui
        page.goto(api.page_url)
        expect(page.locator("#sign-in-oauth")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#sign-in-token")).to_be_hidden(timeout=WAIT_MS)
        page.screenshot(path=artifact("page-oauth-1-sign-in.png"))
        page.click("#oauth-sign-in")
        expect(page.locator("#who-name")).to_have_text(USER_EMAIL, timeout=WAIT_MS)
        assert page.url == api.page_url  # no ?code or ?state left in the address bar

        [asked] = ui.authorizations
        assert asked["response_type"] == "code" and asked["client_id"] == ui.client_id
        assert asked["redirect_uri"] == api.page_url
        assert asked["scope"] == "openid email profile"
        assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
        assert len(asked["state"]) >= 22 and len(asked["nonce"]) >= 22
        exchange = ui.token_requests[0]
        assert exchange["grant_type"] == "authorization_code" and exchange["redirect_uri"] == api.page_url
        verifier = exchange["code_verifier"]
        assert 43 <= len(verifier) <= 128
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        assert digest == asked["code_challenge"]
        stored = _storage(page)
        assert stored["shoebox.token"] == ui.id_tokens[0] and "shoebox.oauth" not in stored

        # the page's first API call: the token is near its end, so it is refreshed first
        page.fill("#context", "Weekend in Lisbon")
        page.set_input_files("#picker", [str(TESTDATA / "photos/gps/DSCN0010.jpg")])
        expect(page.locator("#session-label")).to_have_text(TRIP_LABEL, timeout=WAIT_MS)
        assert [r["grant_type"] for r in ui.token_requests] == ["authorization_code", "refresh_token"]
        created = next(r for r in api_calls if r.method == "POST" and r.url == f"{api.url}/v1/sessions")
        response = created.response()
        assert response is not None and response.status == 201
        assert created.headers["authorization"] == f"Bearer {ui.id_tokens[1]}"
        assert _storage(page)["shoebox.token"] == ui.id_tokens[1]
        page.screenshot(path=artifact("page-oauth-2-signed-in.png"))
        # storage is not this test's: the in-memory store's presigned URLs are not HTTP, so the upload ends
        # "not uploaded"; waiting for that leaves no upload running, which would hold the page on sign-out
        row = page.locator("#rows tr[data-name='DSCN0010.jpg']")
        expect(row).to_have_attribute("data-status", "not uploaded", timeout=WAIT_MS)

        page.click("#sign-out")
        expect(page.locator("#sign-in-oauth")).to_be_visible(timeout=WAIT_MS)
        [logout] = ui.logouts
        assert logout == {"client_id": ui.client_id, "logout_uri": api.page_url}
        assert page.url == api.page_url
        assert not {"shoebox.token", "shoebox.refresh", "shoebox.trip"} & set(_storage(page))
    assert not problems, problems


def test_an_answer_with_another_state_is_refused_without_an_exchange(page: Page) -> None:
    with oauth_api(tamper_state=True) as api:
        page.goto(api.page_url)
        page.click("#oauth-sign-in")
        expect(page.locator("#sign-in-error")).to_contain_text(
            "not for a sign-in this page started", timeout=WAIT_MS
        )
        assert api.hosted_ui.authorizations and not api.hosted_ui.token_requests
        assert page.url == api.page_url
        expect(page.locator("#workspace")).to_be_hidden(timeout=WAIT_MS)
        assert "shoebox.token" not in _storage(page)


def test_a_verifier_the_hosted_ui_refuses_shows_its_error(page: Page) -> None:
    with oauth_api(corrupt_challenge=True) as api:
        page.goto(api.page_url)
        page.click("#oauth-sign-in")
        expect(page.locator("#sign-in-error")).to_have_text(
            "Could not sign in: code_verifier does not match (invalid_grant)", timeout=WAIT_MS
        )
        assert [r["grant_type"] for r in api.hosted_ui.token_requests] == ["authorization_code"]
        assert page.url == api.page_url
        expect(page.locator("#workspace")).to_be_hidden(timeout=WAIT_MS)
        page.screenshot(path=artifact("page-oauth-3-refused.png"))


def test_an_error_from_the_hosted_ui_is_shown(page: Page) -> None:
    with oauth_api(refuse=True) as api:
        page.goto(api.page_url)
        page.click("#oauth-sign-in")
        expect(page.locator("#sign-in-error")).to_have_text(
            "The sign-in page refused: The user said no (access_denied).", timeout=WAIT_MS
        )
        assert not api.hosted_ui.token_requests and page.url == api.page_url


def test_a_reload_keeps_the_sign_in(page: Page) -> None:
    """The ID token is kept in sessionStorage: a reload (no ?code any more) is still signed in."""
    with oauth_api() as api:
        page.goto(api.page_url)
        page.click("#oauth-sign-in")
        expect(page.locator("#who-name")).to_have_text(USER_EMAIL, timeout=WAIT_MS)
        page.reload()
        expect(page.locator("#who-name")).to_have_text(USER_EMAIL, timeout=WAIT_MS)
        assert len(api.hosted_ui.token_requests) == 1 and len(api.hosted_ui.authorizations) == 1
