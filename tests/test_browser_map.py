"""Issue 29, following a person, in a real browser (Playwright driving Debian's Chromium) against a real
server: the field page's first tap, trail reads audited per view (not per live refresh), the map (tiles
from a local .mbtiles file the test builds, or the scaled grid when none are configured), the trail
updating live, the phone view's first screen. Screenshots go to test-artifacts/screenshots/map/."""

from __future__ import annotations

import pytest
from tests.conftest import REPO
from tests.helpers import jpeg, live_fields
from tests.helpers.webserver import PASSWORD, start_server
from tests.test_browser import CHROMIUM, _browser_missing

SHOTS = REPO / "test-artifacts" / "screenshots" / "map"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing())),
]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "en-GB"}


def _login(page, base: str, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def _trail_reads(ctx, username: str) -> int:  # type: ignore[no-untyped-def]
    return sum(1 for e in ctx.audit.entries(limit=500, action="trail-viewed") if e.actor == username)


def _field_server(tmp_path, settings, engine, astronaut):  # type: ignore[no-untyped-def]
    running = start_server(tmp_path, settings, engine)
    ctx = running.ctx
    ctx.cameras.add("gate", "rtsp://127.0.0.1:1/g", latitude=26.8500, longitude=80.9460, group="Hazratganj")
    ctx.cameras.add("market", "rtsp://127.0.0.1:1/m", latitude=26.8460, longitude=80.9270, group="Hazratganj")
    subject = running.watchlist.enroll(live_fields("Eileen Collins", "missing-person"), [("a.jpg", jpeg(astronaut))])
    return running, subject


def test_the_field_page_throws_no_script_error_on_the_first_tap(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """The first tap turns the sound on; the page script looked for the Live page's #sound-state and threw."""
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers import alert_event

    running, subject = _field_server(tmp_path, settings, engine, astronaut)
    assert running.recorder.raise_alert(alert_event(subject.subject_id, camera="gate", track="t-1")) is not None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(**PHONE).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "operator")
            page.goto(running.url + "/field")
            expect(page.locator("#connection")).to_have_text("live")
            expect(page.locator("#field-alerts > li")).to_have_count(1)
            page.locator("h1").tap()
            page.locator("#field-area").tap()
            page.wait_for_timeout(300)
            assert not errors, errors
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()


def test_a_short_field_visit_with_live_events_writes_one_trail_read(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """Live events refresh the field page; a refresh is not a person reading a trail. The first view is
    audited (one trail read for the subject shown); the refreshes that follow are not; opening the page
    again (a view the person asked for) is."""
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers import alert_event

    running, subject = _field_server(tmp_path, settings, engine, astronaut)
    ctx = running.ctx
    assert running.recorder.raise_alert(alert_event(subject.subject_id, camera="gate", track="t-0")) is not None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(**PHONE).new_page()
            _login(page, running.url, "operator")
            before = _trail_reads(ctx, "operator")
            page.goto(running.url + "/field")
            expect(page.locator("#connection")).to_have_text("live")
            expect(page.locator("#field-alerts > li")).to_have_count(1)
            for n in range(1, 6):  # five live red flags of the same person: five refreshes
                camera = "market" if n % 2 else "gate"
                assert running.recorder.raise_alert(alert_event(subject.subject_id, camera=camera, track=f"t-{n}"))
                expect(page.locator("#field-alerts > li")).to_have_count(n + 1)
            assert _trail_reads(ctx, "operator") - before == 1
            page.reload()  # the person asks again
            expect(page.locator("#field-alerts > li")).to_have_count(6)
            assert _trail_reads(ctx, "operator") - before == 2
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()
