"""Issue 26 in the control room: an admin sees every face model (licence, source, checksum, calibration,
which is active), switches to a licensed one with a reason and follows the switch to its end, then rolls
back; the running server takes each model up; both switches are audited; other roles are refused."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.conftest import LFW, SHARED_MODELS
from tests.helpers import jpeg, live_fields
from tests.helpers.scaleout import wait_for
from tests.helpers.webserver import start_server
from tests.test_browser import ARTIFACTS, CHROMIUM, _browser_missing, _login

MOBILEFACENET = SHARED_MODELS / "MobileFaceNet__foamliu.onnx"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(_browser_missing() is not None, reason=str(_browser_missing())),
    pytest.mark.skipif(
        not (MOBILEFACENET.is_file() and (LFW / "images").is_dir()),
        reason=f"the shared MobileFaceNet ({MOBILEFACENET}) or LFW ({LFW}) is absent",
    ),
]


def test_an_admin_switches_the_face_model_follows_it_and_rolls_back(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    from vigil.services import follow_active_model
    from vigil.vision.onnx_utils import file_sha256

    models = tmp_path / "models"
    running = start_server(tmp_path, settings.model_copy(update={"models_dir": models}), engine)
    ctx = running.ctx
    running.watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))])
    added = subprocess.run(
        [sys.executable, "-m", "vigil.cli.main", "--data-dir", str(ctx.settings.data_dir), "--models-dir", str(models),
         "models", "add", str(MOBILEFACENET), "--name", "mfn-licensed", "--licence", "Force licence 2026-14",
         "--source", "foamliu/MobileFaceNet, trained on MS-Celeb-1M (withdrawn)",
         "--calibrate-on", str(LFW), "--people", "80", "--looks", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    digest = file_sha256(MOBILEFACENET)
    follower = follow_active_model(ctx.settings, running.watchlist)  # as `vigil serve` runs it
    follower.start()
    shots = ARTIFACTS / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            errors: list[str] = []
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "admin")
            page.wait_for_url("**/cameras")
            page.click("nav a[href='/models']")
            row = page.locator("#models tr[data-model=mfn-licensed]")
            expect(row).to_contain_text("Force licence 2026-14")
            expect(row).to_contain_text("MS-Celeb-1M")
            expect(row.locator("td[title]")).to_have_attribute("title", digest)
            expect(row).to_contain_text("80 people")  # what it was calibrated on
            expect(page.locator("#models tr[data-model=dlib-resnet] td").nth(5)).to_have_text("active")
            expect(page.locator("#model-rollback button")).to_be_disabled()  # nothing to roll back to yet

            page.select_option("#model-switch select", "mfn-licensed")
            page.fill("#model-switch input[name=reason]", "ab")
            page.click("#model-switch button[type=submit]")  # too short a reason: the browser's own check
            assert ctx.model_switch.current is None
            page.fill("#model-switch input[name=reason]", "licensed by the force, tender 14")
            page.click("#model-switch button[type=submit]")
            expect(page.locator("#switch-progress")).to_have_attribute("data-state", "done", timeout=120_000)
            expect(page.locator("#switch-state")).to_contain_text("Switched to mfn-licensed: 1 photos embedded")
            expect(page.locator("#models tr[data-model=mfn-licensed] td").nth(5)).to_have_text("active")
            expect(page.locator("#models-active")).to_contain_text("licensed by the force, tender 14")
            expect(page.locator("#rollback-to")).to_contain_text("dlib-resnet")
            page.screenshot(path=str(shots / "models.png"), full_page=True)
            wait_for(lambda: running.watchlist.model == "mfn-licensed", 30, "the server did not take the model up")

            page.fill("#model-rollback input[name=reason]", "roll back: pilot ended")
            page.click("#model-rollback button[type=submit]")
            expect(page.locator("#switch-state")).to_contain_text("Switched to dlib-resnet: 0 photos embedded",
                                                                  timeout=120_000)  # fmt: skip
            expect(page.locator("#models tr[data-model=dlib-resnet] td").nth(5)).to_have_text("active")
            wait_for(lambda: running.watchlist.model == "dlib-resnet", 30, "the server did not roll back")

            other = browser.new_context().new_page()
            _login(other, running.url, "supervisor")
            other.wait_for_url(lambda url: "/login" not in url)
            assert other.goto(running.url + "/models").status == 403  # admins only
            assert other.request.get(running.url + "/api/models").status == 403
            assert errors == [], errors
            browser.close()
    finally:
        follower.close()
        running.stop()
    entries = ctx.audit.entries(action="model-activated")
    assert [e.details["new"]["name"] for e in reversed(entries)] == ["mfn-licensed", "dlib-resnet"]
    assert entries[0].details["reason"] == "roll back: pilot ended" and entries[0].actor == "admin"
    assert entries[1].details["new"]["sha256"] == digest
