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


def test_language_switch_reloads_in_hindi_and_logout_shows_the_login_page(
    tmp_path, settings, engine, astronaut
) -> None:  # type: ignore[no-untyped-def]
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


def test_a_red_flag_raised_while_the_operator_watches_is_decided_with_the_keyboard_on_its_evidence(  # type: ignore[no-untyped-def]
    tmp_path, settings, engine, hopper
) -> None:
    """The alert page shows the track's best faces, the scene frame and the crop at their own resolution,
    every enrolled photo with its date, the legal basis and expiry, the evidence band; C then 1 confirms;
    the second person of a two-person category sees who confirmed first and why."""
    from playwright.sync_api import expect, sync_playwright
    from tests.test_alert_evidence import run_clip, walk_by

    from vigil.pipeline.analyser import AnalysisSettings, CameraAnalyser

    SHOTS.mkdir(parents=True, exist_ok=True)
    clip = walk_by(tmp_path / "walk.mp4", hopper)
    running = start_server(tmp_path, settings, engine)
    running.watchlist.enroll(live_fields("Grace Hopper", "wanted"), [("h.jpg", jpeg(hopper))])  # two people confirm
    running.ctx.cameras.add("hazratganj", "rtsp://10.0.0.5/stream", latitude=26.85, longitude=80.946)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "operator")
            page.wait_for_url("**/live")
            expect(page.locator("#connection")).to_have_text("live")
            analyser = CameraAnalyser("hazratganj", engine, running.ctx.matcher, running.recorder, AnalysisSettings())
            run_clip(clip, "hazratganj", analyser)  # the red flag is raised while the operator watches
            card = page.locator("#alerts li[data-alert-id]").first
            expect(card).to_be_visible(timeout=15_000)
            alert_id = card.get_attribute("data-alert-id")
            card.locator("a.open").click()
            page.wait_for_url(f"**/alerts/{alert_id}")
            faces = page.locator("#track-faces img")
            expect(faces.nth(2)).to_be_visible()  # at least three of the track's faces
            assert 3 <= faces.count() <= 5
            expect(page.locator("#scene")).to_be_visible()
            for image in ["#crop", "#scene", "#track-faces img >> nth=0", "#photos img >> nth=0"]:
                expect(page.locator(image)).to_have_js_property("complete", True)
                natural = page.locator(image).evaluate("(i) => [i.naturalWidth, i.naturalHeight]")
                shown = page.locator(image).evaluate("(i) => [i.clientWidth, i.clientHeight]")
                assert natural[0] > 0 and shown == natural, (image, natural, shown)  # own resolution, not stretched
            expect(page.locator("#photos li")).to_have_count(1)
            expect(page.locator("#photos li")).to_contain_text("enrolled")
            expect(page.locator("[data-fact=legal-basis]")).not_to_be_empty()
            expect(page.locator("[data-fact=expires]")).not_to_be_empty()
            expect(page.locator("[data-fact=earlier]")).to_have_text("none")
            expect(page.locator("#band")).to_contain_text("looks over")
            assert page.locator("#band").get_attribute("data-band") in ("strong", "moderate", "weak")
            page.screenshot(path=str(SHOTS / "alert-evidence.png"), full_page=True)
            page.keyboard.press("c")  # confirm …
            expect(page.locator("#reasons li")).to_have_count(2)
            page.keyboard.press("1")  # … with the first reason: two keystrokes
            expect(page.locator("[data-fact=status]")).to_have_text("awaiting-second")

            second = browser.new_context(viewport={"width": 1440, "height": 900}).new_page()
            _login(second, running.url, "supervisor")
            second.goto(f"{running.url}/alerts/{alert_id}")
            first = second.locator("#first-decision")
            expect(first).to_be_visible()
            expect(first).to_contain_text("operator")
            expect(first).to_contain_text("Same person")
            second.screenshot(path=str(SHOTS / "alert-second-person.png"))
            second.keyboard.press("c")
            second.keyboard.press("2")
            expect(second.locator("[data-fact=status]")).to_have_text("confirmed")
            assert not errors, errors
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()


SWEEP = {  # role -> the pages it works on
    "operator": ["/live", "/cameras", "/field", "/alerts/{alert}", "/subjects/{subject}"],
    "supervisor": ["/live", "/watchlist", "/authorisations", "/alerts/{alert}", "/subjects/{subject}"],
    "admin": ["/cameras", "/notifications", "/authorisations", "/models"],
    "auditor": ["/audit", "/authorisations"],
    "authoriser": ["/authorisations"],
}


def test_the_sweep_every_page_at_both_widths_in_both_languages(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """Every page of every role at 1440 px and 390 px, in English and Hindi: it loads without a script
    error, and its screenshot is kept under test-artifacts/screenshots/sweep/ (CI keeps the folder)."""
    from playwright.sync_api import sync_playwright
    from tests.helpers import alert_event

    folder = SHOTS / "sweep"
    folder.mkdir(parents=True, exist_ok=True)
    running = start_server(tmp_path, settings, engine)
    subject = running.watchlist.enroll(live_fields("Eileen Collins", "missing-person"), [("a.jpg", jpeg(astronaut))])
    stored = running.recorder.raise_alert(alert_event(subject.subject_id, track="sweep"))
    assert stored is not None
    problems: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for language in ("en", "hi"):
                for role, pages in SWEEP.items():
                    for width, height in ((1440, 900), (390, 844)):
                        context = browser.new_context(viewport={"width": width, "height": height}, locale=language)
                        page = context.new_page()
                        page.on("pageerror", lambda e, role=role: problems.append(f"{role}: {e}"))
                        _login(page, running.url, role)
                        for path in pages:
                            url = path.format(alert=stored.alert_id, subject=subject.subject_id)
                            page.goto(running.url + url)
                            page.wait_for_load_state("networkidle")
                            assert page.locator("html").get_attribute("lang") == language, (role, url)
                            name = f"{language}-{width}-{role}-{url.strip('/').split('/')[0]}.png"
                            page.screenshot(path=str(folder / name), full_page=True)
                        context.close()
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()
    assert not problems, problems
