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


def _tile_xy(lat: float, lon: float, z: int) -> tuple[int, int]:
    import math

    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def build_mbtiles(path, box: tuple[float, float, float, float], zooms: range) -> int:  # type: ignore[no-untyped-def]
    """A small raster .mbtiles file (the MBTiles 1.3 layout: metadata and tiles, TMS rows) of plain green
    PNG tiles covering ``box`` (south, west, north, east) at ``zooms``; returns the number of tiles."""
    import io
    import sqlite3

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), (40, 160, 70)).save(buffer, format="PNG")
    png = buffer.getvalue()
    south, west, north, east = box
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
    db.execute("CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)")
    meta = {"name": "test", "format": "png", "minzoom": str(zooms.start), "maxzoom": str(zooms.stop - 1)}
    meta["attribution"] = "Test tiles © Vigil test suite"
    db.executemany("INSERT INTO metadata VALUES (?, ?)", list(meta.items()))
    count = 0
    for z in zooms:
        x0, y0 = _tile_xy(north, west, z)
        x1, y1 = _tile_xy(south, east, z)
        for x in range(x0 - 1, x1 + 2):
            for y in range(y0 - 1, y1 + 2):
                db.execute("INSERT INTO tiles VALUES (?, ?, ?, ?)", (z, x, (1 << z) - 1 - y, png))
                count += 1
    db.commit()
    db.close()
    return count


def _png(colour: tuple[int, int, int]) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (256, 256), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def build_pmtiles(  # type: ignore[no-untyped-def]
    path,
    box: tuple[float, float, float, float],
    zooms: range,
    *,
    tile=None,
    tile_type: str = "PNG",
    compression: str = "NONE",
) -> dict[tuple[int, int, int], bytes]:
    """A small raster PMTiles v3 archive written with protomaps' own writer (the ``pmtiles`` package) over
    ``box`` (south, west, north, east) at ``zooms``: ``tile(z, x, y)`` gives each tile's bytes (default: a
    plain blue PNG), stored as they are (``compression="GZIP"``: gzipped, as the header then says). Returns
    the tiles, by (z, x, y)."""
    import gzip

    from pmtiles.tile import Compression, TileType, zxy_to_tileid
    from pmtiles.writer import Writer

    plain = _png((40, 90, 170))
    south, west, north, east = box
    written: dict[tuple[int, int, int], bytes] = {}
    for z in zooms:
        x0, y0 = _tile_xy(north, west, z)
        x1, y1 = _tile_xy(south, east, z)
        for x in range(max(0, x0 - 1), min((1 << z) - 1, x1 + 1) + 1):
            for y in range(max(0, y0 - 1), min((1 << z) - 1, y1 + 1) + 1):
                written[(z, x, y)] = tile(z, x, y) if tile else plain
    with open(path, "wb") as f:
        writer = Writer(f)
        for key in sorted(written, key=lambda k: zxy_to_tileid(*k)):
            data = written[key]
            writer.write_tile(zxy_to_tileid(*key), gzip.compress(data, mtime=0) if compression == "GZIP" else data)
        writer.finalize(
            {
                "tile_type": TileType[tile_type],
                "tile_compression": Compression[compression],
                "min_lon_e7": int(west * 1e7),
                "min_lat_e7": int(south * 1e7),
                "max_lon_e7": int(east * 1e7),
                "max_lat_e7": int(north * 1e7),
            },
            {"name": "test", "attribution": "PMTiles test tiles © Vigil test suite"},
        )
    return written


def test_the_cameras_map_draws_tiles_from_a_local_pmtiles_file(tmp_path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    """VIGIL_MAP_TILES names a local .pmtiles (v3) archive: the Cameras page's map shows its tiles, served
    by Vigil (the bytes the archive holds for that tile), and the archive's own attribution."""
    from playwright.sync_api import expect, sync_playwright

    tiles = tmp_path / "lucknow.pmtiles"
    written = build_pmtiles(tiles, (26.840, 80.920, 26.856, 80.952), range(12, 17))
    running = start_server(tmp_path, settings.model_copy(update={"map_tiles": str(tiles)}), engine)
    ctx = running.ctx
    ctx.cameras.add("gate", "rtsp://127.0.0.1:1/g", latitude=26.8500, longitude=80.9460, group="Hazratganj")
    ctx.cameras.add("market", "rtsp://127.0.0.1:1/m", latitude=26.8460, longitude=80.9270, group="Aminabad")
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "operator")
            page.goto(running.url + "/cameras")
            the_map = page.locator("#cameras-map")
            expect(the_map).to_have_attribute("data-tiles", "tiles")
            expect(the_map.locator("img.leaflet-tile-loaded").first).to_be_visible()
            expect(the_map.locator(".leaflet-control-attribution")).to_contain_text("PMTiles test tiles")
            expect(the_map.locator("path.map-camera")).to_have_count(2)
            sources = the_map.locator("img.leaflet-tile-loaded").evaluate_all("(imgs) => imgs.map((i) => i.src)")
            assert sources and all("/api/map/tiles/" in s for s in sources), sources
            for src in sources[:4]:
                z, x, y = (int(v) for v in src.rsplit("/api/map/tiles/", 1)[1].split("/"))
                tile = context.request.get(src)
                assert tile.ok and tile.headers["content-type"] == "image/png"
                assert tile.body() == written[(z, x, y)]
            page.screenshot(path=str(SHOTS / "cameras-pmtiles.png"), full_page=True)
            assert not errors, errors
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()


def test_the_trail_map_draws_local_tiles_and_follows_a_confirmation_live(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """VIGIL_MAP_TILES names a local .mbtiles file: the subject page's map shows its tiles (served by Vigil to
    signed-in users, with cache headers) and its attribution; the trail is numbered points with times and
    arrows, thumbnails on the timeline, a date filter; a confirmation elsewhere adds to it without a reload,
    and the whole visit is one trail read."""
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers import alert_event

    tiles = tmp_path / "lucknow.mbtiles"
    assert build_mbtiles(tiles, (26.840, 80.920, 26.856, 80.952), range(12, 17)) > 0
    running = start_server(tmp_path, settings.model_copy(update={"map_tiles": str(tiles)}), engine)
    ctx = running.ctx
    ctx.cameras.add("gate", "rtsp://127.0.0.1:1/g", latitude=26.8500, longitude=80.9460, group="Hazratganj")
    ctx.cameras.add("market", "rtsp://127.0.0.1:1/m", latitude=26.8460, longitude=80.9270, group="Aminabad")
    subject = running.watchlist.enroll(live_fields("Eileen Collins", "missing-person"), [("a.jpg", jpeg(astronaut))])
    officer = ctx.users.authenticate("supervisor", PASSWORD)

    def confirmed(camera: str, track: str) -> str:
        stored = running.recorder.raise_alert(alert_event(subject.subject_id, camera=camera, track=track))
        assert stored is not None and stored.alert_id is not None
        ctx.alerts.decide(stored.alert_id, officer, "confirmed", "the same person as the photo")
        ctx.feed.updated(stored.alert_id)  # as the decision route announces it (routers/alerts.py)
        return stored.alert_id

    confirmed("gate", "t-1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB")
            anonymous = context.request.get(running.url + "/api/map/tiles/14/11862/6897")
            assert anonymous.status == 401  # tiles only to signed-in users
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "operator")
            before = _trail_reads(ctx, "operator")
            page.goto(running.url + f"/subjects/{subject.subject_id}")
            expect(page.locator("#connection")).to_have_text("live")
            the_map = page.locator("#map")
            expect(the_map).to_have_attribute("data-tiles", "tiles")
            expect(the_map.locator("img.leaflet-tile-loaded").first).to_be_visible()
            src = the_map.locator("img.leaflet-tile-loaded").first.get_attribute("src")
            assert src.startswith(running.url + "/api/map/tiles/") or src.startswith("/api/map/tiles/"), src
            tile = context.request.get(src if src.startswith("http") else running.url + src)
            assert tile.ok and tile.headers["content-type"] == "image/png"
            assert tile.headers["cache-control"] == "private, max-age=86400"
            expect(the_map.locator(".leaflet-control-attribution")).to_contain_text("Test tiles © Vigil test suite")
            expect(the_map.locator(".leaflet-control-scale")).to_be_visible()
            expect(the_map.locator("path.trail-point")).to_have_count(1)
            expect(the_map.locator("path.map-camera")).to_have_count(2)  # the cameras around
            expect(page.locator("#timeline li img.thumb")).to_have_count(1)
            expect(page.locator("#last-seen")).to_contain_text("gate")

            confirmed("market", "t-2")  # confirmed at another desk: the open trail follows, no reload
            expect(the_map.locator("path.trail-point")).to_have_count(2)
            expect(the_map.locator(".trail-arrow")).to_have_count(1)
            expect(the_map.locator(".trail-time")).to_have_count(2)
            expect(page.locator("#timeline li")).to_have_count(2)
            expect(page.locator("#timeline li img.thumb")).to_have_count(2)
            expect(page.locator("#last-seen")).to_contain_text("market")
            page.screenshot(path=str(SHOTS / "subject-trail-tiles.png"), full_page=True)

            page.fill("#trail-to", "2000-01-01")  # the date filter: nothing that old
            page.locator("#trail-to").dispatch_event("change")
            expect(page.locator("#timeline li")).to_have_count(0)
            expect(the_map.locator("path.trail-point")).to_have_count(0)
            assert _trail_reads(ctx, "operator") - before == 1
            assert not errors, errors
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()


def test_with_no_tiles_the_cameras_are_drawn_on_a_scaled_grid(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """No VIGIL_MAP_TILES: the Cameras page and the alert page draw the cameras on a grid with a north
    arrow, a scale bar and an attribution saying so — never a blank box."""
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers import alert_event

    running = start_server(tmp_path, settings, engine)
    ctx = running.ctx
    ctx.cameras.add("gate", "rtsp://127.0.0.1:1/g", latitude=26.8500, longitude=80.9460, group="Hazratganj")
    ctx.cameras.add("market", "rtsp://127.0.0.1:1/m", latitude=26.8460, longitude=80.9270, group="Aminabad")
    subject = running.watchlist.enroll(live_fields("Eileen Collins", "missing-person"), [("a.jpg", jpeg(astronaut))])
    stored = running.recorder.raise_alert(alert_event(subject.subject_id, camera="market", track="t-1"))
    assert stored is not None
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "supervisor")
            for path, box in (("/cameras", "#cameras-map"), (f"/alerts/{stored.alert_id}", "#alert-map")):
                page.goto(running.url + path)
                the_map = page.locator(box)
                expect(the_map).to_have_attribute("data-tiles", "grid")
                expect(the_map.locator("canvas.leaflet-tile").first).to_be_visible()  # the grid, drawn
                expect(the_map.locator(".north-arrow")).to_be_visible()
                expect(the_map.locator(".leaflet-control-scale-line")).to_be_visible()
                expect(the_map.locator(".leaflet-control-attribution")).to_contain_text("No map tiles configured")
                expect(the_map.locator("path.map-camera")).to_have_count(2)
                page.screenshot(path=str(SHOTS / f"grid{box.replace('#', '-')}.png"), full_page=True)
            assert not errors, errors
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()


def test_the_field_views_actions_are_on_the_first_phone_screen(tmp_path, settings, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """At 390×844 the newest red flag's photo pair, its place, the distance from the officer and its actions
    (acknowledge, on my way, not found, directions) are inside the first screen with no scrolling, each a
    touch target of at least 44 px; a small map of the place follows. Directions open the phone's own map
    app: a geo: URI on Android, an https Apple Maps link on an iPhone."""
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers import alert_event

    running, subject = _field_server(tmp_path, settings, engine, astronaut)
    assert running.recorder.raise_alert(alert_event(subject.subject_id, camera="market", track="t-0")) is not None
    assert running.recorder.raise_alert(alert_event(subject.subject_id, camera="gate", track="t-1")) is not None
    SHOTS.mkdir(parents=True, exist_ok=True)
    # The officer stands about 1.1 km south of the gate camera.
    where = {"geolocation": {"latitude": 26.8400, "longitude": 80.9460}, "permissions": ["geolocation"]}
    android = (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0 Mobile Safari/537.36"
    )
    iphone = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1"
    )
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            for phone, agent, scheme in (("android", android, "geo:"), ("iphone", iphone, "https://maps.apple.com/")):
                page = browser.new_context(**PHONE, **where, user_agent=agent).new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))  # noqa: B023
                _login(page, running.url, "operator")
                page.goto(running.url + "/field")
                card = page.locator("#field-alerts > li").first
                expect(card.locator("h2")).to_have_text("Eileen Collins")
                expect(card.locator(".place")).to_contain_text("gate")  # the newest red flag first
                expect(card.locator(".distance")).to_have_text("1.1 km away")
                for part in (
                    "img >> nth=0",
                    "img >> nth=1",
                    "h2",
                    ".place",
                    ".distance",
                    ".acknowledge",
                    ".on-my-way",
                    ".not-found",
                    ".navigate",
                ):
                    box = card.locator(part).bounding_box()
                    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 844, (phone, part, box)
                for action in (".acknowledge", ".on-my-way", ".not-found", ".navigate"):
                    box = card.locator(action).bounding_box()
                    assert box is not None and box["height"] >= 44 and box["width"] >= 44, (phone, action, box)
                assert card.locator(".navigate").get_attribute("href").startswith(scheme), phone
                expect(
                    card.locator(".field-map img.leaflet-tile-loaded, .field-map canvas.leaflet-tile").first
                ).to_be_attached()
                expect(card.locator(".field-map path.map-camera")).to_have_count(1)
                expect(card.locator(".field-map path.map-you")).to_have_count(1)
                assert page.evaluate("document.scrollingElement.scrollTop") == 0
                page.screenshot(path=str(SHOTS / f"field-first-screen-{phone}.png"))
                assert not errors, errors
                page.context.close()
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()


def test_field_actions_are_recorded_and_queued_offline_until_the_network_is_back(
    tmp_path, settings, engine, astronaut
) -> None:  # type: ignore[no-untyped-def]
    """Tapping an action records it on the server (audited) and shows it on the card; taken offline, the
    phone queues the tap, says so, and sends it when the network is back — recorded once, with the time
    it was tapped. A red flag the officer took up stays on the view once it is decided; a new red flag
    after the first tap alarms and vibrates; in Hindi the actions are in Hindi."""
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers import alert_event

    from vigil.store.models import FieldAction

    running, subject = _field_server(tmp_path, settings, engine, astronaut)
    ctx = running.ctx
    first = running.recorder.raise_alert(alert_event(subject.subject_id, camera="gate", track="t-1"))
    assert first is not None and first.alert_id is not None

    def recorded() -> list[tuple[str, str]]:
        with ctx.db.session() as session:
            return [(r.action, r.alert_id) for r in session.query(FieldAction).order_by(FieldAction.id)]

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            context = browser.new_context(**PHONE)
            context.add_init_script(
                "navigator.vibrate = (pattern) => "
                "{ window.vigilVibrations = (window.vigilVibrations || 0) + 1; return true; };"
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "operator")
            page.goto(running.url + "/field")
            expect(page.locator("#connection")).to_have_text("live")
            card = page.locator(f'#field-alerts > li[data-alert-id="{first.alert_id}"]')
            card.locator(".acknowledge").tap()
            expect(card.locator(".acknowledge")).to_have_attribute("aria-pressed", "true")
            expect(card.locator(".status-line")).to_contain_text("acknowledged by operator")
            assert recorded() == [("acknowledge", first.alert_id)]

            # Installed: the service worker holds the page's shell, so the page opens without a network.
            page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15000)
            context.set_offline(True)
            card.locator(".on-my-way").tap()
            expect(page.locator("#field-queue")).to_contain_text("1 action(s) waiting for the network")
            expect(card.locator(".on-my-way")).to_contain_text("(queued)")
            page.wait_for_timeout(1500)
            assert recorded() == [("acknowledge", first.alert_id)]  # nothing reached the server
            assert len(page.evaluate("JSON.parse(localStorage.getItem('vigil-field-queue:operator'))")) == 1
            page.reload()  # still offline: the shell from the service worker, the tap still queued
            expect(page.locator("#field-queue")).to_contain_text("1 action(s) waiting for the network")
            context.set_offline(False)
            expect(page.locator("#field-queue")).to_be_hidden(timeout=20000)
            expect(card.locator(".on-my-way")).to_have_attribute("aria-pressed", "true", timeout=10000)
            assert recorded() == [("acknowledge", first.alert_id), ("on-my-way", first.alert_id)]
            entries = [
                e for e in ctx.audit.entries(limit=100, action="alert-field-action") if e.object_id == first.alert_id
            ]
            assert [e.details["action"] for e in reversed(entries)] == ["acknowledge", "on-my-way"]

            expect(page.locator("#connection")).to_have_text("live", timeout=15000)  # the socket is back too
            # Decided at the control room: it stays on the officer's view (the shift), marked decided.
            ctx.alerts.decide(
                first.alert_id, ctx.users.authenticate("supervisor", PASSWORD), "confirmed", "same person"
            )
            ctx.feed.updated(first.alert_id)
            expect(card).to_have_class("field-card decided")
            # A new red flag after the first tap (the page was reloaded: tap again): alarm and vibration.
            page.locator("h1").tap()
            expect(page.locator("#sound-state")).to_have_text("Sound on")
            alarms = page.evaluate("window.vigilAlarms || 0")
            assert running.recorder.raise_alert(alert_event(subject.subject_id, camera="market", track="t-2"))
            expect(page.locator("#field-alerts > li")).to_have_count(2)
            page.wait_for_function(f"() => (window.vigilAlarms || 0) > {alarms} && window.vigilVibrations >= 1")
            assert not errors, errors

            page.select_option("#language", "hi")
            page.wait_for_load_state("load")
            expect(page.locator("#field-alerts > li").first.locator(".not-found")).to_have_text("नहीं मिला")
            expect(page.locator("#field-alerts > li").first.locator(".navigate")).to_have_text("रास्ता")
            page.screenshot(path=str(SHOTS / "field-hindi.png"))
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()


def test_the_subject_page_shows_the_cameras_near_the_last_place_and_who_they_reach(
    tmp_path, settings, engine, astronaut
) -> None:  # type: ignore[no-untyped-def]
    """Where and how long ago the person was last seen, the cameras within VIGIL_NEARBY_KM of it (on the map
    and listed with their distance), the officers of their groups and the routing rules."""
    from playwright.sync_api import expect, sync_playwright
    from tests.helpers import alert_event

    from vigil.domain.audit import Actor
    from vigil.domain.channels import EndpointSpec

    running = start_server(tmp_path, settings.model_copy(update={"outbound_allowed_networks": "127.0.0.0/8"}), engine)
    ctx = running.ctx
    ctx.cameras.add("gate", "rtsp://127.0.0.1:1/g", latitude=26.8500, longitude=80.9460, group="Hazratganj")
    ctx.cameras.add("market", "rtsp://127.0.0.1:1/m", latitude=26.8460, longitude=80.9370, group="Aminabad")
    ctx.cameras.add("airport", "rtsp://127.0.0.1:1/a", latitude=26.7606, longitude=80.8893, group="Sarojini Nagar")
    ctx.users.add("insp.am", PASSWORD, "operator", display_name="Inspector Aminabad")
    ctx.users.set_groups("insp.am", ["Aminabad"])
    ctx.users.add("insp.sn", PASSWORD, "operator", display_name="Inspector Airport")
    ctx.users.set_groups("insp.sn", ["Sarojini Nagar"])
    admin = Actor("admin")
    ctx.channels.add_endpoint(
        EndpointSpec(name="dispatch", kind="webhook", url="http://127.0.0.1:9/h", secret="s" * 32), by=admin
    )
    ctx.channels.add_rule("aminabad-desk", "dispatch", by=admin, camera_groups=["Aminabad"])
    ctx.channels.add_rule("airport-desk", "dispatch", by=admin, camera_groups=["Sarojini Nagar"])
    subject = running.watchlist.enroll(live_fields("Eileen Collins", "missing-person"), [("a.jpg", jpeg(astronaut))])
    stored = running.recorder.raise_alert(alert_event(subject.subject_id, camera="gate", track="t-1"))
    assert stored is not None and stored.alert_id is not None
    ctx.alerts.decide(stored.alert_id, ctx.users.authenticate("supervisor", PASSWORD), "confirmed", "same person")
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-GB").new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            _login(page, running.url, "operator")
            before = _trail_reads(ctx, "operator")
            page.goto(running.url + f"/subjects/{subject.subject_id}")
            expect(page.locator("#last-seen")).to_contain_text("just now at camera gate")
            expect(page.locator("#nearby-title")).to_have_text(
                "Cameras within 2.0 km of where the person was last seen"
            )
            expect(page.locator("#nearby-cameras li")).to_have_count(2)
            expect(page.locator("#nearby-cameras li").nth(0)).to_contain_text("gate (Hazratganj) — 0 m")
            expect(page.locator("#nearby-cameras li").nth(1)).to_contain_text("market (Aminabad) — 998 m")
            expect(page.locator("#nearby-officers li")).to_have_count(1)
            expect(page.locator("#nearby-officers li")).to_contain_text("Inspector Aminabad (insp.am")
            expect(page.locator("#nearby-rules li")).to_have_count(1)
            expect(page.locator("#nearby-rules li")).to_contain_text("aminabad-desk → dispatch")
            the_map = page.locator("#map")
            expect(the_map.locator("path.nearby-radius")).to_have_count(1)
            expect(the_map.locator("path.map-camera-near")).to_have_count(2)
            expect(the_map.locator("path.map-camera")).to_have_count(3)
            page.screenshot(path=str(SHOTS / "subject-nearby.png"), full_page=True)
            assert _trail_reads(ctx, "operator") - before == 1  # the trail and its last place: one read
            assert not errors, errors
            browser.close()
    finally:
        running.ctx.fleet.close()
        running.stop()
