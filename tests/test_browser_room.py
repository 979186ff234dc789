"""Issue 28, deciding a red flag on a busy shift, in a real browser (Playwright driving Debian's Chromium)
against a real server: the switches that answer 204 (language, log out), the alert page's evidence and
its keyboard, the Live page's triage. Screenshots go to test-artifacts/screenshots/ (CI keeps them)."""

from __future__ import annotations

import pytest
from tests.conftest import REPO
from tests.helpers import jpeg, live_fields
from tests.helpers.webserver import PASSWORD, start_server
from tests.test_browser import CHROMIUM, _browser_missing

SHOTS = REPO / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing())),
]


def _login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def test_language_switch_reloads_in_hindi_and_logout_shows_the_login_page(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """Both answer 204 with a JSON content type; the page script threw parsing the empty body, so the
    page was not reloaded and, after logging out, kept showing the red flags."""
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers import alert_event

    running = start_server(tmp_path, settings, engine)
    subject = running.watchlist.enroll(live_fields("Eileen Collins", "missing-person"), [("a.jpg", jpeg(astronaut))])
    assert running.recorder.raise_alert(alert_event(subject.subject_id, track="t-204")) is not None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "operator")
            page.wait_for_url("**/live")
            expect(page.locator("#alerts li[data-alert-id]")).to_have_count(1)
            expect(page.locator("html")).to_have_attribute("lang", "en")
            page.select_option("#language", "hi")
            expect(page.locator("html")).to_have_attribute("lang", "hi")  # reloaded, in Hindi
            expect(page.locator("#logout")).to_have_text("लॉग आउट")
            expect(page.locator("#alerts li[data-alert-id]")).to_have_count(1)
            page.select_option("#language", "en")
            expect(page.locator("html")).to_have_attribute("lang", "en")
            page.click("#logout")
            page.wait_for_url("**/login")
            expect(page.locator("#login-form")).to_be_visible()
            assert "Eileen Collins" not in page.content()  # no personal data left on screen
            page.go_back()  # the Live page was replaced, not kept in history
            assert "/live" not in page.url or page.locator("#login-form").count() == 1
            assert not errors, errors
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()
