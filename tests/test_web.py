"""The control-room API and pages with a real database: roles on every route, sessions with CSRF,
bearer tokens, lockout, adjudication with second confirmation, trail, live push, media, metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.helpers import alert_event, in_months, jpeg, live_fields, live_service, live_settings

from vigil.domain.alerts import AlertRecorder
from vigil.web.app import alert_listener, create_app
from vigil.web.context import WebContext

PASSWORD = "correct horse battery"
ROLES = ("admin", "supervisor", "operator", "auditor", "authoriser")

# Every API route and the roles it allows; the test fails when a route is added without an entry here.
MATRIX: dict[tuple[str, str], tuple[str, ...]] = {
    ("POST", "/api/auth/logout"): ROLES,
    ("GET", "/api/auth/me"): ROLES,
    ("PUT", "/api/auth/locale"): ROLES,
    ("GET", "/api/auth/tokens"): ROLES,
    ("DELETE", "/api/auth/tokens/{token_id}"): ROLES,
    ("POST", "/api/auth/ticket"): ("operator", "supervisor"),
    ("GET", "/api/users"): ("admin",),
    ("POST", "/api/users"): ("admin",),
    ("POST", "/api/users/{username}/deactivate"): ("admin",),
    ("POST", "/api/users/{username}/role"): ("admin",),
    ("POST", "/api/users/{username}/approve"): ("admin",),
    ("GET", "/api/cameras"): ("admin", "supervisor", "operator"),
    ("POST", "/api/cameras"): ("admin",),
    ("DELETE", "/api/cameras/{name}"): ("admin",),
    ("GET", "/api/cameras/{name}/frame"): ("admin",),
    ("PUT", "/api/cameras/{name}/zones"): ("admin",),
    ("GET", "/api/authorisations"): ("admin", "supervisor", "auditor", "authoriser"),
    ("POST", "/api/authorisations"): ("supervisor",),
    ("POST", "/api/authorisations/{authorisation_id}/sign"): ("authoriser",),
    ("POST", "/api/authorisations/{authorisation_id}/end"): ("supervisor", "authoriser"),
    ("GET", "/api/subjects"): ("supervisor",),
    ("GET", "/api/subjects/due"): ("supervisor",),
    ("POST", "/api/subjects"): ("supervisor",),
    ("GET", "/api/subjects/{subject_id}"): ("operator", "supervisor"),
    ("GET", "/api/subjects/{subject_id}/sightings"): ("operator", "supervisor"),
    ("GET", "/api/subjects/{subject_id}/nearby"): ("operator", "supervisor"),
    ("POST", "/api/subjects/{subject_id}/suspend"): ("supervisor",),
    ("POST", "/api/subjects/{subject_id}/reinstate"): ("supervisor",),
    ("POST", "/api/subjects/{subject_id}/renew"): ("supervisor",),
    ("POST", "/api/subjects/{subject_id}/approve"): ("supervisor",),
    ("GET", "/api/alerts"): ("operator", "supervisor"),
    ("GET", "/api/alerts/{alert_id}"): ("operator", "supervisor"),
    ("GET", "/api/alerts/{alert_id}/context"): ("operator", "supervisor"),
    ("POST", "/api/alerts/{alert_id}/decision"): ("operator", "supervisor"),
    ("POST", "/api/alerts/{alert_id}/template"): ("supervisor",),
    ("POST", "/api/alerts/{alert_id}/evidence"): ("supervisor",),
    ("POST", "/api/alerts/{alert_id}/outcome"): ("operator", "supervisor"),
    ("POST", "/api/alerts/{alert_id}/acknowledge"): ("operator", "supervisor"),
    ("GET", "/api/field"): ("operator", "supervisor"),
    ("POST", "/api/field/{alert_id}/actions"): ("operator", "supervisor"),
    ("GET", "/api/map"): ROLES,
    ("GET", "/api/map/tiles/{z}/{x}/{y}"): ROLES,
    ("GET", "/api/notify/endpoints"): ("admin",),
    ("POST", "/api/notify/endpoints"): ("admin",),
    ("DELETE", "/api/notify/endpoints/{name}"): ("admin",),
    ("GET", "/api/notify/rules"): ("admin",),
    ("POST", "/api/notify/rules"): ("admin",),
    ("POST", "/api/notify/rules/{name}/approve"): ("admin",),
    ("DELETE", "/api/notify/rules/{name}"): ("admin",),
    ("GET", "/api/notify/log"): ("admin",),
    ("GET", "/api/notify/escalation"): ("admin",),
    ("PUT", "/api/notify/escalation"): ("admin",),
    ("GET", "/api/thresholds"): ("supervisor", "auditor"),
    ("POST", "/api/thresholds/{category}"): ("supervisor",),
    ("POST", "/api/thresholds/{category}/policy"): ("supervisor",),
    ("GET", "/api/thresholds/history"): ("supervisor", "auditor"),
    ("GET", "/api/thresholds/live"): ("supervisor", "auditor"),
    ("GET", "/api/audit"): ("auditor",),
    ("GET", "/api/audit/export"): ("auditor",),
    ("GET", "/api/audit/access"): ("auditor",),
    ("POST", "/api/audit/verify"): ("auditor",),
    ("GET", "/api/models"): ("admin",),
    ("POST", "/api/models/switch"): ("admin",),
    ("POST", "/api/models/rollback"): ("admin",),
    ("GET", "/api/models/switch"): ("admin",),
    ("GET", "/api/reports/summary"): ("auditor", "supervisor"),
    ("GET", "/api/media/crops/{name}"): ("operator", "supervisor"),
    ("GET", "/api/media/photos/{name}"): ("operator", "supervisor"),
}
PUBLIC = {("POST", "/api/auth/login"), ("POST", "/api/auth/token")}
# Outside the API (not in its schema): the probes are public and say nothing about anyone; /metrics is for
# admins, auditors and a scraper holding the metrics token.
PROBES = ("/healthz", "/readyz")
METRICS_ROLES = ("admin", "auditor")
PAGES = {
    "/live": ("operator", "supervisor"),
    "/field": ("operator", "supervisor"),
    "/notifications": ("admin",),
    "/cameras": ("admin", "supervisor", "operator"),
    "/watchlist": ("supervisor",),
    "/audit": ("auditor",),
    "/authorisations": ("admin", "supervisor", "auditor", "authoriser"),
    "/alerts/x": ("operator", "supervisor"),
    "/subjects/x": ("operator", "supervisor"),
}


@pytest.fixture
def ctx(tmp_path: Path, settings, engine) -> WebContext:  # type: ignore[no-untyped-def]
    run_settings = live_settings(tmp_path, settings)
    watchlist = live_service(run_settings, engine)
    context = WebContext.build(run_settings, watchlist.db)
    context.watchlist = watchlist
    for role in ROLES:
        context.users.add(role, PASSWORD, role, display_name=role.title())
    context.users.add("operator2", PASSWORD, "operator")
    context.users.add("supervisor2", PASSWORD, "supervisor")
    return context


@pytest.fixture
def client(ctx: WebContext):  # type: ignore[no-untyped-def]
    with TestClient(create_app(ctx)) as test_client:
        yield test_client


def bearer(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def session(client: TestClient, username: str) -> str:
    response = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    return str(response.json()["csrf_token"])


def _raise(ctx: WebContext, subject_id: str, camera: str = "north-gate", track: str = "t-1") -> str:
    recorder = AlertRecorder(ctx.db, ctx.media)
    recorder.subscribe(alert_listener(ctx))
    stored = recorder.raise_alert(alert_event(subject_id, camera=camera, track=track))
    assert stored is not None and stored.alert_id
    return stored.alert_id


def test_every_route_checks_its_role(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    routes = {(method.upper(), path) for path, item in schema["paths"].items() for method in item}
    assert routes == set(MATRIX) | PUBLIC, "every API route needs an entry in MATRIX"
    tokens = {role: bearer(client, role) for role in ROLES}
    for path in PROBES:
        client.cookies.clear()
        anonymous = client.get(path)
        assert anonymous.status_code == 200, (path, anonymous.text)
        assert set(anonymous.json()) <= {"status", "failed", "checks", "queued_alerts", "crops_not_written"}, path
        for role in ROLES:  # a login adds nothing to what they say
            answer = client.get(path, headers=tokens[role])
            assert answer.status_code == 200 and set(answer.json()) == set(anonymous.json()), (path, role)
    assert client.get("/metrics").status_code == 401
    for role in ROLES:
        status = client.get("/metrics", headers=tokens[role]).status_code
        assert status == (200 if role in METRICS_ROLES else 403), ("/metrics", role, status)
    # logging out with a bearer token revokes it: that route goes last
    for (method, path), allowed in sorted(MATRIX.items(), key=lambda item: item[0][1] == "/api/auth/logout"):
        url = path.replace("{", "").replace("}", "")  # dummy ids: allowed roles may get 404/422, never 401/403
        anonymous = client.request(method, url)
        assert anonymous.status_code == 401, (method, path, "anonymous", anonymous.status_code)
        for role in ROLES:
            status = client.request(method, url, headers=tokens[role]).status_code
            if role in allowed:
                assert status not in (401, 403), (method, path, role, status)
            else:
                assert status == 403, (method, path, role, status)
    for path, allowed in PAGES.items():
        client.cookies.clear()
        assert client.get(path, follow_redirects=False).status_code == 303
        for role in ROLES:
            client.cookies.clear()
            session(client, role)
            status = client.get(path, follow_redirects=False).status_code
            assert status == (200 if role in allowed else 403), (path, role, status)
    client.cookies.clear()


def test_access_is_granted_by_two_admins(client: TestClient, ctx: WebContext) -> None:
    """Issue 14, item 5: an admin could give anyone (a puppet account, themselves) watchlist access."""
    ctx.users.add("admin2", PASSWORD, "admin")
    admin, admin2 = bearer(client, "admin"), bearer(client, "admin2")
    body = {"username": "mole", "password": PASSWORD, "role": "supervisor"}
    proposed = client.post("/api/users", json=body, headers=admin)
    assert proposed.status_code == 201 and proposed.json()["active"] is False
    assert proposed.json()["pending_role"] == "supervisor" and proposed.json()["requested_by"] == "admin"
    assert client.post("/api/auth/token", json={"username": "mole", "password": PASSWORD}).status_code == 401
    itself = client.post("/api/users/mole/approve", json={"role": "supervisor"}, headers=admin)
    assert itself.status_code == 409  # not by the admin who asked
    approved = client.post("/api/users/mole/approve", json={"role": "supervisor"}, headers=admin2).json()
    assert approved["active"] is True and approved["pending_role"] is None and approved["approved_by"] == "admin2"
    mole = bearer(client, "mole")
    assert client.get("/api/subjects/due", headers=mole).status_code == 200

    operator = bearer(client, "operator")
    asked = client.post("/api/users/operator/role", json={"role": "supervisor"}, headers=admin).json()
    assert asked["role"] == "operator" and asked["pending_role"] == "supervisor"  # not yet
    assert client.get("/api/auth/me", headers=operator).json()["user"]["role"] == "operator"
    approve = {"role": "supervisor"}
    assert client.post("/api/users/operator/approve", json=approve, headers=admin2).json()["role"] == "supervisor"
    assert client.get("/api/auth/me", headers=operator).status_code == 401  # logs in again under the new role
    assert client.post("/api/users/operator/approve", json=approve, headers=admin2).status_code == 409  # nothing waits
    actions = [e.action for e in ctx.audit.entries(limit=50)]
    assert {"user-proposed", "user-grant-approved", "user-role-requested"} <= set(actions)


def test_cookie_sessions_need_the_csrf_token_for_changes(client: TestClient) -> None:
    csrf = session(client, "admin")
    body = {"name": "gate", "url": "rtsp://u:secret@10.0.0.9/s", "latitude": 51.5, "longitude": -0.12}
    assert client.post("/api/cameras", json=body).status_code == 403
    assert client.post("/api/cameras", json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
    created = client.post("/api/cameras", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201 and "secret" not in created.text
    assert client.get("/api/auth/me").json()["csrf_token"] == csrf
    assert client.post("/api/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert client.get("/api/cameras").status_code == 401


def test_repeated_failed_logins_lock_the_account_and_throttle_the_client(client: TestClient, ctx: WebContext) -> None:
    for _ in range(5):
        assert client.post("/api/auth/login", json={"username": "operator", "password": "wrong"}).status_code == 401
    locked = client.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
    assert locked.status_code == 401  # right password, locked account: same answer as a wrong one
    for _ in range(5):
        client.post("/api/auth/login", json={"username": "nobody", "password": "wrong"})
    assert client.post("/api/auth/login", json={"username": "auditor", "password": PASSWORD}).status_code == 429
    actions = [e.action for e in ctx.audit.entries()]
    assert actions.count("login-failed") == 10


def test_adjudication_second_confirmation_trail_and_audit(client: TestClient, ctx: WebContext, astronaut) -> None:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    wanted = ctx.watchlist.enroll(live_fields("Eileen Collins", "wanted"), [("c.jpg", jpeg(astronaut))]).subject_id
    ctx.cameras.add("north-gate", "webcam:0", latitude=51.5101, longitude=-0.1340)
    ctx.cameras.add("south-gate", "webcam:1", latitude=51.5062, longitude=-0.1290)
    first = _raise(ctx, wanted, "north-gate", "t-1")
    second = _raise(ctx, wanted, "south-gate", "t-2")
    op, op2, sup = bearer(client, "operator"), bearer(client, "operator2"), bearer(client, "supervisor")
    listing = client.get("/api/alerts", headers=op).json()
    assert listing["open"] == 2 and [a["id"] for a in listing["alerts"]] == [second, first]
    alert = listing["alerts"][1]
    assert alert["crop_url"] and alert["enrolled_photo_url"] and alert["latitude"] == 51.5101
    no_reason = client.post(f"/api/alerts/{first}/decision", json={"decision": "confirmed", "reason": " "}, headers=op)
    assert no_reason.status_code == 422
    confirm = {"decision": "confirmed", "reason": "same face, same scar"}
    assert client.post(f"/api/alerts/{first}/decision", json=confirm, headers=op).json()["status"] == "awaiting-second"
    assert (
        client.post(f"/api/alerts/{first}/decision", json=confirm, headers=op2).status_code == 409
    )  # not a supervisor
    done = client.post(f"/api/alerts/{first}/decision", json=confirm, headers=sup).json()
    assert done["status"] == "confirmed" and [d["user"] for d in done["decisions"]] == ["operator", "supervisor"]
    assert client.post(f"/api/alerts/{first}/decision", json=confirm, headers=sup).status_code == 409  # closed
    client.post(f"/api/alerts/{second}/decision", json=confirm, headers=sup)  # a supervisor confirms first…
    sup2 = bearer(client, "supervisor2")
    assert client.post(f"/api/alerts/{second}/decision", json=confirm, headers=sup).status_code == 409  # …not twice
    client.post(f"/api/alerts/{second}/decision", json=confirm, headers=sup2)
    trail = client.get(f"/api/subjects/{wanted}/sightings", headers=op).json()
    assert [(s["camera"], s["status"]) for s in trail] == [("north-gate", "confirmed"), ("south-gate", "confirmed")]
    entries = client.get("/api/audit", headers=bearer(client, "auditor")).json()
    decided = [e for e in entries if e["action"] == "alert-decided"]
    assert len(decided) == 4 and decided[-1]["actor"] == "operator" and decided[-1]["details"]["reason"]
    csv_export = client.get("/api/audit/export?format=csv", headers=bearer(client, "auditor"))
    assert csv_export.status_code == 200 and "alert-decided" in csv_export.text
    summary = client.get("/api/reports/summary", headers=sup).json()
    assert summary["total"] == 2


def test_new_alerts_are_pushed_to_connected_operators(client: TestClient, ctx: WebContext, astronaut) -> None:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(
        live_fields("Eileen Collins", "missing-person"), [("c.jpg", jpeg(astronaut))]
    ).subject_id
    session(client, "operator")
    with client.websocket_connect("/api/alerts/live") as socket:
        assert socket.receive_json()["type"] == "hello"
        alert_id = _raise(ctx, subject)
        event = socket.receive_json()
        assert event["type"] == "alert" and event["alert"]["id"] == alert_id and event["open"] == 1
    client.cookies.clear()
    session(client, "auditor")
    with pytest.raises(Exception), client.websocket_connect("/api/alerts/live") as socket:  # noqa: B017
        socket.receive_json()


def test_an_alert_raised_in_this_process_is_pushed_as_stored_not_read_back(  # type: ignore[no-untyped-def]
    client: TestClient, ctx: WebContext, astronaut, monkeypatch
) -> None:
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(live_fields("Eileen Collins", "wanted"), [("c.jpg", jpeg(astronaut))]).subject_id
    from vigil.domain.cameras import CameraRegistry

    CameraRegistry(ctx.db).add("north-gate", "rtsp://127.0.0.1:8554/n", latitude=51.5, longitude=-0.12)
    reads: list[str] = []
    real_get = ctx.alerts.get
    monkeypatch.setattr(ctx.alerts, "get", lambda alert_id: reads.append(alert_id) or real_get(alert_id))
    session(client, "operator")
    with client.websocket_connect("/api/alerts/live") as socket:
        assert socket.receive_json()["type"] == "hello"
        alert_id = _raise(ctx, subject)
        pushed = socket.receive_json()["alert"]
    assert reads == []  # built from the stored match (and the subject's and camera's facts)
    assert pushed == client.get(f"/api/alerts/{alert_id}", headers=bearer(client, "operator")).json()
    assert pushed["latitude"] == 51.5 and pushed["enrolled_photo_url"]


def test_the_alert_list_pages_newest_first_and_pages_stay_put(client: TestClient, ctx: WebContext, astronaut) -> None:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    raised = [_raise(ctx, subject, track=f"t-{i}") for i in range(5)]
    op = bearer(client, "operator")
    first = client.get("/api/alerts?limit=2", headers=op).json()
    assert [a["id"] for a in first["alerts"]] == raised[::-1][:2] and first["next"]
    _raise(ctx, subject, track="t-new")  # a new alert does not shift the pages already handed out
    seen = [a["id"] for a in first["alerts"]]
    mark = first["next"]
    while mark:
        page = client.get("/api/alerts", params={"limit": 2, "after": mark}, headers=op).json()
        seen += [a["id"] for a in page["alerts"]]
        mark = page["next"]
    assert seen == raised[::-1]
    for bad in ("yesterday", "2026-12-01T00:00:00~x", "2026-12-01T00:00:00~" + "a" * 32):
        assert client.get("/api/alerts", params={"after": bad}, headers=op).status_code == 422, bad


def test_the_control_room_adds_network_cameras_only(client: TestClient, ctx: WebContext, tmp_path: Path) -> None:
    admin = bearer(client, "admin")
    place = {"latitude": 51.5, "longitude": -0.12}
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"")
    refused = [
        str(clip),
        f"file://{clip}",
        "webcam:0",
        "/dev/video0",
        "rtsp://127.0.0.1:8554/cam",
        "rtsp://localhost/cam",
        "http://cam.localhost/mjpeg",
        "http://169.254.169.254/latest/meta-data",  # the cloud metadata service
        "rtsp://[::1]/cam",
        "rtsp://[::ffff:127.0.0.1]/cam",
        "rtsp://0.0.0.0/cam",
    ]
    for i, url in enumerate(refused):
        response = client.post("/api/cameras", json={"name": f"c{i}", "url": url, **place}, headers=admin)
        assert response.status_code == 422, (url, response.text)
    assert client.get("/api/cameras", headers=admin).json() == []  # nothing changed
    for i, url in enumerate(["rtsp://10.0.0.9/s", "rtsp://192.168.1.20:554/live", "http://172.16.4.2/mjpeg"]):
        assert (
            client.post("/api/cameras", json={"name": f"ok{i}", "url": url, **place}, headers=admin).status_code == 201
        )
    ctx.settings = ctx.settings.model_copy(update={"web_cameras_local": True})  # demos and tests
    assert (
        client.post("/api/cameras", json={"name": "clip", "url": str(clip), **place}, headers=admin).status_code == 201
    )


def test_refused_requests_are_audited_at_a_bounded_rate(client: TestClient, ctx: WebContext) -> None:
    """Issue 14, item 12: 401s and 403s leave a trace, and a flood of them does not flood the log."""
    from vigil.domain.audit import RefusalRecorder

    assert client.get("/api/subjects").status_code == 401
    assert client.get("/api/audit", headers=bearer(client, "operator")).status_code == 403
    assert client.get("/api/alerts", headers={"Authorization": "Bearer forged"}).status_code == 401
    refused = [e for e in ctx.audit.entries(action="access-refused")][::-1]
    assert [(e.actor, e.details["status"], e.details["path"]) for e in refused] == [
        ("anonymous", 401, "/api/subjects"),
        ("operator", 403, "/api/audit"),
        ("anonymous", 401, "/api/alerts"),
    ]
    assert refused[1].source == "testclient" and "operator role" in refused[1].details["reason"]

    now = [0.0]
    recorder = RefusalRecorder(ctx.audit, per_minute=5, clock=lambda: now[0])
    written = [recorder.refused("", 401, "GET", "/api/subjects", "10.0.0.66", "log in first") for _ in range(40)]
    assert written.count(True) == 5  # the rest counted, not written
    assert recorder.refused("", 401, "GET", "/api/subjects", "10.0.0.99", "log in first")  # another source
    now[0] = 61.0
    assert recorder.refused("", 401, "GET", "/api/subjects", "10.0.0.66", "log in first")
    (latest,) = ctx.audit.entries(limit=1, action="access-refused")
    assert latest.source == "10.0.0.66" and latest.details["held_back_before"] == 35
    assert ctx.audit.verify().ok


def test_no_list_comes_whole_and_faces_are_viewed_within_an_hourly_limit(  # type: ignore[no-untyped-def]
    client: TestClient, ctx: WebContext, astronaut, hopper
) -> None:
    """Issue 14, item 4: the whole watchlist with photo links came in one call; nothing limited views."""
    assert ctx.watchlist is not None
    ids = [
        ctx.watchlist.enroll(live_fields(name), [(f"{i}.jpg", jpeg(image))]).subject_id
        for i, (name, image) in enumerate((("Eileen Collins", astronaut), ("Grace Hopper", hopper)))
    ]
    sup = bearer(client, "supervisor")
    first = client.get("/api/subjects?limit=1", headers=sup)
    assert len(first.json()) == 1 and first.headers["x-next-offset"] == "1"
    second = client.get("/api/subjects?limit=1&offset=1", headers=sup)
    assert len(second.json()) == 1 and "x-next-offset" not in second.headers
    assert {first.json()[0]["id"], second.json()[0]["id"]} == set(ids)
    assert client.get("/api/subjects?limit=100000", headers=sup).status_code == 422  # no mass export
    for path in ("/api/cameras", "/api/authorisations", "/api/subjects/due", "/api/thresholds/history"):
        assert (
            client.get(path + "?limit=1", headers=sup if "cameras" not in path else bearer(client, "admin")).status_code
            == 200
        )

    crops = [_raise(ctx, ids[0], track=f"t-{i}") for i in range(4)]
    ctx.access.views_per_hour = 3
    op = bearer(client, "operator")
    urls = [client.get(f"/api/alerts/{a}", headers=op).json()["crop_url"] for a in crops]
    for url in urls[:3]:
        assert client.get(url, headers=op).status_code == 200
    assert client.get(urls[0], headers=op).status_code == 200  # one already seen this hour: free
    refused = client.get(urls[3], headers=op)
    assert refused.status_code == 429 and "view limit" in refused.text
    (entry,) = ctx.audit.entries(limit=1, action="access-refused")
    assert entry.actor == "operator" and entry.details["status"] == 429
    assert client.get(urls[3], headers=bearer(client, "supervisor")).status_code == 200  # per user


def test_auditors_see_each_users_reads_per_day_with_outliers_marked(
    client: TestClient, ctx: WebContext, astronaut
) -> None:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    for username, reads in (("operator", 1), ("operator2", 2), ("supervisor2", 1), ("supervisor", 30)):
        token = bearer(client, username)
        for _ in range(reads):
            assert client.get(f"/api/subjects/{subject}", headers=token).status_code == 200
    client.get(f"/api/subjects/{subject}/sightings", headers=bearer(client, "operator"))
    summary = client.get("/api/audit/access?days=1", headers=bearer(client, "auditor")).json()
    by_user = {d["username"]: d for d in summary}
    assert by_user["supervisor"]["subjects_viewed"] == 30 and by_user["supervisor"]["outliers"] == ["subjects_viewed"]
    assert by_user["operator"]["trails_viewed"] == 1 and by_user["operator"]["outliers"] == []
    assert by_user["operator2"]["subjects_viewed"] == 2


def test_media_is_served_to_allowed_roles_only_and_audited(client: TestClient, ctx: WebContext, astronaut) -> None:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(
        live_fields("Eileen Collins", "missing-person"), [("c.jpg", jpeg(astronaut))]
    ).subject_id
    alert = client.get(f"/api/alerts/{_raise(ctx, subject)}", headers=bearer(client, "operator")).json()
    crop = client.get(alert["crop_url"], headers=bearer(client, "operator"))
    assert crop.status_code == 200 and crop.content[:3] == b"\xff\xd8\xff"
    assert crop.headers["cache-control"] == "private, no-store"
    assert client.get(alert["enrolled_photo_url"], headers=bearer(client, "auditor")).status_code == 403
    assert client.get("/api/media/photos/..%2F..%2Fvigil.db", headers=bearer(client, "operator")).status_code == 404
    actions = {e.action for e in ctx.audit.entries()}
    assert {"crop-viewed", "alert-viewed"} <= actions


def test_enrollment_upload_is_validated_and_errors_name_the_rule(
    client: TestClient, ctx: WebContext, astronaut
) -> None:  # type: ignore[no-untyped-def]
    """In the control room one supervisor proposes, another approves (issue 14, item 3)."""
    sup = bearer(client, "supervisor")
    form = {
        "name": "Eileen Collins",
        "category": "missing-person",
        "legal_basis_type": "missing person report",
        "legal_basis_reference": "MP-1",
        "expires": in_months(6),
    }
    blank = jpeg(np.full((200, 200, 3), 128, np.uint8))
    refused = client.post("/api/subjects", data=form, files={"photo": ("b.jpg", blank, "image/jpeg")}, headers=sup)
    assert refused.status_code == 422 and refused.json()["detail"]["rule"] == "no-face"
    big = client.post(
        "/api/subjects", data=form, files={"photo": ("x.jpg", b"0" * 20_000_001, "image/jpeg")}, headers=sup
    )
    assert big.status_code == 413
    assert client.get("/api/subjects", headers=sup).json() == []
    ok = client.post("/api/subjects", data=form, files={"photo": ("c.jpg", jpeg(astronaut), "image/jpeg")}, headers=sup)
    assert ok.status_code == 201
    assert ok.json()["status"] == "proposed"
    (listed,) = client.get("/api/subjects?q=collins&reason=check the new entry", headers=sup).json()
    assert listed["status"] == "proposed" and listed["proposed_by"] == "supervisor" and listed["approved_by"] == ""
    subject = listed["id"]
    assert [s["id"] for s in client.get("/api/subjects?pending=true", headers=sup).json()] == [subject]
    own = client.post(f"/api/subjects/{subject}/approve", headers=sup)
    assert own.status_code == 409 and own.json()["detail"]["rule"] == "two-person"
    sup2 = bearer(client, "supervisor2")
    approved = client.post(f"/api/subjects/{subject}/approve", headers=sup2).json()
    assert approved["status"] == "active" and approved["approved_by"] == "supervisor2"
    assert client.post(f"/api/subjects/{subject}/suspend", headers=sup).json()["status"] == "suspended"
    asked = client.post(f"/api/subjects/{subject}/reinstate", headers=sup).json()
    assert asked["status"] == "suspended" and asked["pending_action"] == "reinstate"
    assert client.post(f"/api/subjects/{subject}/approve", headers=sup2).json()["status"] == "active"
    far = client.post(f"/api/subjects/{subject}/renew", json={"expires": in_months(14)}, headers=sup)
    assert far.status_code == 409 and far.json()["detail"]["rule"] == "expiry-too-long"
    renewal = client.post(f"/api/subjects/{subject}/renew", json={"expires": in_months(9)}, headers=sup2).json()
    assert renewal["pending_action"] == "renew"
    renewed = client.post(f"/api/subjects/{subject}/approve", headers=sup).json()
    assert renewed["expires_at"].startswith(in_months(9)) and renewed["approved_by"] == "supervisor"
    actions = [e.action for e in ctx.audit.entries(limit=20)]
    assert {"subject-proposed", "subject-approved", "subject-reinstatement-requested"} <= set(actions)


def test_metrics_hold_counts_only(client: TestClient, ctx: WebContext, astronaut) -> None:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(
        live_fields("Eileen Collins", "missing-person"), [("c.jpg", jpeg(astronaut))]
    ).subject_id
    _raise(ctx, subject)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(client, "operator")).status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer guess-the-scraper-token"}).status_code == 401
    ctx.settings = ctx.settings.model_copy(update={"metrics_token": "scraper-token-0123456789"})
    assert client.get("/metrics", headers={"Authorization": "Bearer scraper-token-0123456789"}).status_code == 200
    text = client.get("/metrics", headers=bearer(client, "auditor")).text
    assert "vigil_alerts_raised_total 1" in text and "vigil_alerts_open 1" in text
    assert "vigil_alert_latency_ms_count 1" in text
    assert "Eileen" not in text and subject not in text
    assert "# TYPE vigil_detector_full_passes_total counter" in text  # per camera run here (none in this test)
    from vigil.domain.models import running_model

    running = running_model(ctx.watchlist.engine.embedder)
    labels = f'name="{ctx.watchlist.model}",version="{ctx.watchlist.version}",sha256="{running.sha256}"'
    model = f"vigil_model_info{{{labels}}} 1"
    assert model in text  # the embedder this process matches with, and its file's checksum (issue 26)
    # issue 31: the whole scrape is what Prometheus accepts (every family typed and described once), with
    # the fleet (no workers, no camera here), the gallery's version and the disks
    from tests.helpers.prometheus import parse, value

    _, samples = parse(text)
    assert value(samples, "vigil_workers", state="live") == 0 and value(samples, "vigil_workers", state="lost") == 0
    assert value(samples, "vigil_cameras_registered") == 0
    assert (value(samples, "vigil_gallery_version") or 0) >= 1  # the enrollment above
    assert (value(samples, "vigil_disk_free_bytes", volume="data") or 0) > 0
    assert (value(samples, "vigil_disk_size_bytes", volume="media") or 0) > 0


def test_metrics_show_the_detection_schedulers_choices_per_camera() -> None:
    from vigil.domain.fleet import DetectionCounts
    from vigil.web.metrics import Metrics

    counts = DetectionCounts(3, 40, 57, 4_000_000, 92_160_000, 12)
    text = Metrics().render([("gate", "streaming", 100, 9, 0)], 0, 0, detection={"gate": counts})
    for line in (
        'vigil_detector_full_passes_total{camera="gate"} 3',
        'vigil_detector_region_passes_total{camera="gate"} 40',
        'vigil_detector_quiet_frames_total{camera="gate"} 57',
        'vigil_detector_pixels_total{camera="gate"} 4000000',
        'vigil_detector_pixels_seen_total{camera="gate"} 92160000',
        'vigil_faces_settled_skipped_total{camera="gate"} 12',
    ):
        assert line in text.splitlines()
    assert counts.detected_share == pytest.approx(4 / 92.16)


def _face_crop_jpeg(engine, image: np.ndarray) -> bytes:  # type: ignore[no-untyped-def]
    """An alert crop as the pipeline cuts it: 1.6 times the face, JPEG."""
    from vigil.pipeline.analyser import encode_jpeg, face_crop

    faces = engine.detect(image)
    return encode_jpeg(face_crop(image, faces.xyxy[0], max_px=240))


def test_a_near_tie_shows_both_candidates(client: TestClient, ctx: WebContext, astronaut, hopper) -> None:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    first = ctx.watchlist.enroll(live_fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
    second = ctx.watchlist.enroll(live_fields("Grace Hopper"), [("h.jpg", jpeg(hopper))]).subject_id
    recorder = AlertRecorder(ctx.db, ctx.media)
    stored = recorder.raise_alert(
        alert_event(first, runner_up_id=second, runner_up_name="Grace Hopper", runner_up_score=0.961)
    )
    assert stored is not None and stored.as_json()["runner_up"]["subject_id"] == second
    body = client.get(f"/api/alerts/{stored.alert_id}", headers=bearer(client, "operator")).json()
    assert body["runner_up"]["subject_id"] == second and body["runner_up"]["subject_name"] == "Grace Hopper"
    assert body["runner_up"]["score"] == 0.961 and body["evidence"] == 0.965
    assert body["runner_up"]["enrolled_photo_url"].startswith("/api/media/photos/")
    assert body["runner_up"]["enrolled_photo_url"] != body["enrolled_photo_url"]
    clear = recorder.raise_alert(alert_event(first, track="t-2"))
    assert clear is not None
    assert client.get(f"/api/alerts/{clear.alert_id}", headers=bearer(client, "operator")).json()["runner_up"] is None
    ctx.watchlist.remove(second)  # the runner-up's entry goes: the alert stays, without it
    after = client.get(f"/api/alerts/{stored.alert_id}", headers=bearer(client, "operator")).json()
    assert after["runner_up"] is None and after["subject_id"] == first


def test_a_confirmed_sightings_face_becomes_a_template(
    client: TestClient, ctx: WebContext, engine, astronaut, hopper
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from vigil.store.models import Photo

    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(
        live_fields("Eileen Collins", category="missing-person"), [("a.jpg", jpeg(astronaut))]
    ).subject_id
    recorder = AlertRecorder(ctx.db, ctx.media)
    seen = astronaut[::2, ::2].copy()  # the camera's view: smaller than the enrolled photo
    own = recorder.raise_alert(alert_event(subject, crop_jpeg=_face_crop_jpeg(engine, seen)))
    other = recorder.raise_alert(alert_event(subject, track="t-2", crop_jpeg=_face_crop_jpeg(engine, hopper)))
    assert own is not None and other is not None
    sup, op = bearer(client, "supervisor"), bearer(client, "operator")
    early = client.post(f"/api/alerts/{own.alert_id}/template", headers=sup)
    assert early.status_code == 422 and early.json()["detail"]["rule"] == "not-confirmed"
    for alert in (own, other):
        decided = client.post(
            f"/api/alerts/{alert.alert_id}/decision",
            json={"decision": "confirmed", "reason": "same person"},
            headers=op,
        )
        assert decided.status_code == 200 and decided.json()["status"] == "confirmed"
    assert client.post(f"/api/alerts/{own.alert_id}/template", headers=op).status_code == 403
    added = client.post(f"/api/alerts/{own.alert_id}/template", headers=sup)
    assert added.status_code == 200, added.text
    with ctx.db.session() as session:
        photos = session.scalars(select(Photo).where(Photo.subject_id == subject)).all()
        assert sorted(p.from_alert_id or "" for p in photos) == ["", own.alert_id]
    assert ctx.audit.entries(action="sighting-template-added")[0].object_id == subject
    again = client.post(f"/api/alerts/{own.alert_id}/template", headers=sup)
    assert again.status_code == 422 and again.json()["detail"]["rule"] == "duplicate-photo"
    bystander = client.post(f"/api/alerts/{other.alert_id}/template", headers=sup)
    assert bystander.status_code == 422 and bystander.json()["detail"]["rule"] == "not-the-subject"
    assert client.post("/api/alerts/nope/template", headers=sup).status_code == 404
    # the added face matches like any template, and goes with the subject
    probe = engine.embed(seen, engine.detect(seen)).vectors
    assert ctx.watchlist.search(probe, k=1)[0][0].subject_id == subject
    assert ctx.watchlist.remove(subject) == 2


def test_supervisors_state_a_policy_and_the_threshold_follows(client: TestClient, ctx: WebContext) -> None:
    sup = bearer(client, "supervisor")
    before = {t["category"]: t for t in client.get("/api/thresholds", headers=sup).json()}
    assert before["wanted"]["source"] == "policy" and before["wanted"]["false_alerts_per_1000"] == 0.1
    stricter = client.post(
        "/api/thresholds/wanted/policy", json={"false_alerts_per_1000": 0.01, "reason": "night shift"}, headers=sup
    )
    assert stricter.status_code == 200, stricter.text
    assert stricter.json()["threshold"] > before["wanted"]["threshold"]
    refused = client.post(
        "/api/thresholds/wanted/policy", json={"false_alerts_per_1000": 0, "reason": "x"}, headers=sup
    )
    assert refused.status_code == 422
    unknown = client.post(
        "/api/thresholds/nope/policy", json={"false_alerts_per_1000": 1, "reason": "why not"}, headers=sup
    )
    assert unknown.status_code == 422 and unknown.json()["detail"]["rule"] == "category"
    assert ctx.audit.entries(action="policy-changed")[0].object_id == "wanted"


def test_outcomes_follow_a_confirmation_and_are_audited(client: TestClient, ctx: WebContext, astronaut) -> None:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(live_fields("Eileen Collins", "missing-person"), [("c.jpg", jpeg(astronaut))])
    alert = _raise(ctx, subject.subject_id)
    op = bearer(client, "operator")
    located = {"outcome": "located", "note": "found at the bus stand, taken home"}
    assert client.post(f"/api/alerts/{alert}/outcome", json=located, headers=op).status_code == 409  # not confirmed
    confirm = {"decision": "confirmed", "reason": "same face"}
    assert client.post(f"/api/alerts/{alert}/decision", json=confirm, headers=op).json()["status"] == "confirmed"
    assert client.post(f"/api/alerts/{alert}/outcome", json={"outcome": "vanished"}, headers=op).status_code == 422
    other = client.post(f"/api/alerts/{alert}/outcome", json={"outcome": "other", "note": ""}, headers=op)
    assert other.status_code == 422 and "outcome-note" in other.text  # "other" says what
    done = client.post(f"/api/alerts/{alert}/outcome", json=located, headers=op).json()
    assert [(o["user"], o["outcome"]) for o in done["outcomes"]] == [("operator", "located")]
    entries = client.get("/api/audit", headers=bearer(client, "auditor")).json()
    (recorded,) = [e for e in entries if e["action"] == "alert-outcome-recorded"]
    assert recorded["object_id"] == alert and recorded["details"]["outcome"] == "located"


def test_a_supervisor_requests_an_authoriser_signs_and_the_cameras_page_shows_it(
    client: TestClient, ctx: WebContext
) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    ctx.cameras.add("north-gate", "webcam:0", latitude=26.85, longitude=80.95, group="Hazratganj")
    admin = bearer(client, "admin")
    (camera,) = client.get("/api/cameras", headers=admin).json()
    assert camera["scanning"] is False and camera["authorisation_status"] == "no authorisation covers this camera"
    now = datetime.now(UTC)
    body = {
        "camera_groups": ["Hazratganj"],
        "categories": ["missing-person"],
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=8)).isoformat(),
        "purpose": "Diwali crowds at Hazratganj",
    }
    authoriser, sup = bearer(client, "authoriser"), bearer(client, "supervisor")
    unknown = client.post("/api/authorisations", json={**body, "categories": ["litterers"]}, headers=sup)
    assert unknown.status_code == 422 and unknown.json()["detail"]["rule"] == "authorisation-scope"
    asked = client.post("/api/authorisations", json=body, headers=sup)
    assert asked.status_code == 201 and asked.json()["state"] == "requested", asked.text
    (camera,) = client.get("/api/cameras", headers=admin).json()
    assert camera["scanning"] is False  # a request authorises nothing
    request_id, digest = asked.json()["id"], asked.json()["digest"]
    signed = client.post(f"/api/authorisations/{request_id}/sign", json={"digest": digest}, headers=authoriser)
    assert signed.status_code == 200, signed.text
    made = signed.json()
    assert made["state"] == "active" and made["authorised_by"] == "authoriser" and made["requested_by"] == "supervisor"
    assert made["thresholds"]["missing-person"]["threshold"] > 0
    (camera,) = client.get("/api/cameras", headers=admin).json()
    assert camera["scanning"] is True and camera["authorisations"] == [made["id"]] and camera["group"] == "Hazratganj"
    ended = client.post(f"/api/authorisations/{made['id']}/end", json={"reason": "crowds gone"}, headers=sup)
    assert ended.status_code == 200 and ended.json()["state"] == "ended" and ended.json()["ended_by"] == "supervisor"
    again = client.post(f"/api/authorisations/{made['id']}/end", json={"reason": "again"}, headers=sup)
    assert again.status_code == 409
    (camera,) = client.get("/api/cameras", headers=admin).json()
    assert camera["scanning"] is False and "last ended" in camera["authorisation_status"]
    listed = client.get("/api/authorisations", headers=bearer(client, "auditor")).json()
    assert [a["id"] for a in listed] == [made["id"]]
    actions = [e["action"] for e in client.get("/api/audit", headers=bearer(client, "auditor")).json()]
    assert "authorisation-added" in actions and "authorisation-ended" in actions


def test_an_admin_sees_a_cameras_frame_with_every_face_blurred(
    client: TestClient, ctx: WebContext, engine, two_faces, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import av

    from vigil.video.sources import grab_frame, parse_source
    from vigil.vision.image import decode_image

    clip = tmp_path / "two.mp4"
    with av.open(str(clip), "w") as container:
        stream = container.add_stream("libx264", rate=5)
        stream.height, stream.width = (two_faces.shape[0] // 2) * 2, (two_faces.shape[1] // 2) * 2
        stream.pix_fmt = "yuv420p"
        image = np.ascontiguousarray(two_faces[: stream.height, : stream.width])
        for _ in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    ctx.cameras.add("lobby", str(clip), latitude=26.85, longitude=80.95)
    assert len(engine.detect(grab_frame(parse_source(str(clip))))) == 2  # the camera shows two faces
    shown = client.get("/api/cameras/lobby/frame", headers=bearer(client, "admin"))
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert shown.headers["cache-control"] == "no-store"
    assert len(engine.detect(decode_image(shown.content))) == 0  # the admin sees none of them
    assert client.get("/api/cameras/nowhere/frame", headers=bearer(client, "admin")).status_code == 404
    media = list((ctx.settings.data_dir / "media").rglob("*")) if (ctx.settings.data_dir / "media").exists() else []
    assert not [p for p in media if p.is_file() and "crops" in p.parts]  # nothing stored
    (entry,) = [
        e
        for e in client.get("/api/audit", headers=bearer(client, "auditor")).json()
        if e["action"] == "camera-frame-viewed"
    ]
    assert entry["object_id"] == "lobby" and entry["details"]["faces_blurred"] == 2


def test_an_admin_sets_zones_and_masks_and_bad_polygons_change_nothing(client: TestClient, ctx: WebContext) -> None:
    ctx.cameras.add("gate", "rtsp://10.0.0.9/s", latitude=26.85, longitude=80.95)
    admin = bearer(client, "admin")
    url = "/api/cameras/gate/zones"
    good = {
        "frame": [1280, 720],
        "zones": [[[0, 200], [1280, 200], [1280, 720], [0, 720]]],
        "masks": [[[900, 250], [1100, 250], [1100, 450], [900, 450]]],
    }
    for body, rule in [
        ({**good, "zones": [[[0, 0], [10, 10]]]}, "zone-points"),
        ({**good, "zones": [[[0, 0], [1300, 0], [0, 700]]]}, "zone-outside"),
        ({**good, "zones": [[[0, 0], [100, 100], [100, 0], [0, 100]]]}, "zone-self-intersecting"),
        (
            {"frame": [1280, 720], "zones": [], "masks": [[[0, 0], [1280, 0], [1280, 720], [0, 720]]]},
            "zone-nothing-left",
        ),
        ({**good, "frame": [0, 720]}, "zone-frame"),
    ]:
        refused = client.put(url, json=body, headers=admin)
        assert refused.status_code == 422 and f"[{rule}]" in refused.json()["detail"], (rule, refused.text)
    (camera,) = client.get("/api/cameras", headers=admin).json()
    assert camera["zones"] is None  # nothing changed
    assert client.put(url, json=good, headers=bearer(client, "supervisor")).status_code == 403
    saved = client.put(url, json=good, headers=admin)
    assert saved.status_code == 200, saved.text
    assert saved.json()["zones"]["zones"] == [[[0.0, 200.0], [1280.0, 200.0], [1280.0, 720.0], [0.0, 720.0]]]
    assert ctx.cameras.configs(["gate"])[0].zones is not None  # what the runner will be given
    assert client.put("/api/cameras/nowhere/zones", json=good, headers=admin).status_code == 404
    cleared = client.put(url, json={"frame": [1280, 720], "zones": [], "masks": []}, headers=admin)
    assert cleared.status_code == 200 and cleared.json()["zones"] is None
    entries = [
        e
        for e in client.get("/api/audit", headers=bearer(client, "auditor")).json()
        if e["action"] == "camera-zones-set"
    ]
    assert [(e["details"]["zones"], e["details"]["masks"]) for e in entries] == [(0, 0), (1, 1)]  # newest first


def test_bad_query_values_get_422_and_csv_exports_neutralise_formulas(client: TestClient, ctx: WebContext) -> None:
    """Issue 14, item 17: `/api/subjects/due?days=1e10` answered 500; a formula in a cell ran in a spreadsheet."""
    sup, op, auditor = bearer(client, "supervisor"), bearer(client, "operator"), bearer(client, "auditor")
    for url, headers in (
        ("/api/subjects/due?days=1e10", sup),
        ("/api/subjects/due?days=nan", sup),
        ("/api/subjects/due?days=-1", sup),
        ("/api/alerts?limit=0", op),
        ("/api/alerts?limit=99999999999999999999", op),
        ("/api/alerts?status=whatever", op),
        ("/api/audit?limit=-5", auditor),
        ("/api/audit/export?format=xlsx", auditor),
    ):
        assert client.get(url, headers=headers).status_code == 422, url
    assert client.get("/api/subjects/due?days=30", headers=sup).status_code == 200
    ctx.audit.record('=HYPERLINK("http://evil.example","x")', "login", source="+cmd|' /C calc'!A0")
    exported = client.get("/api/audit/export?format=csv", headers=auditor)
    assert exported.status_code == 200
    assert "'=HYPERLINK" in exported.text and "'+cmd" in exported.text
    assert "\n=HYPERLINK" not in exported.text and ",=HYPERLINK" not in exported.text


def test_the_page_script_is_es_modules_every_one_served_and_cached_by_the_field_view(ctx: WebContext) -> None:
    """Issue 28: the page script is split into ES modules the browser loads itself (no bundler). Every
    module app.js imports, directly or through another, is served as JavaScript from this server, and the
    field view's service worker caches each one (offline, the page would otherwise fail on an import)."""
    import json
    import re

    with TestClient(create_app(ctx)) as client:
        page = client.get("/login")
        assert '<script type="module" src="/static/app.js"></script>' in page.text
        worker = client.get("/field-sw.js").text
        cached = set(json.loads(re.search(r"const FILES = (\[.*?\]);", worker).group(1)))  # type: ignore[union-attr]
        seen: set[str] = set()
        waiting = ["/static/app.js"]
        while waiting:
            path = waiting.pop()
            if path in seen:
                continue
            seen.add(path)
            served = client.get(path)
            assert served.status_code == 200, path
            assert "javascript" in served.headers["content-type"], path
            assert path in cached, path
            folder = path.rsplit("/", 1)[0]
            for target in re.findall(r'^import [^;]*? from "(\./[^"]+)";', served.text, re.M):
                waiting.append(folder + "/" + target.removeprefix("./"))
    assert len(seen) >= 12  # app.js, a module per page and the shared helpers
    assert {"/static/js/core.js", "/static/js/live.js", "/static/js/field.js", "/static/js/alert.js"} <= seen


def test_pages_and_api_carry_security_headers_and_the_cookie_is_secure_off_loopback(ctx: WebContext) -> None:
    """Issue 14, item 16: CSP with frame-ancestors, nosniff, Referrer-Policy; Secure cookie unless loopback."""
    from vigil.services import is_loopback

    with TestClient(create_app(ctx)) as client:
        for path in ("/login", "/api/auth/me", "/static/app.js"):
            headers = client.get(path).headers
            assert headers["x-content-type-options"] == "nosniff", path
            assert headers["referrer-policy"] == "same-origin", path
            assert "frame-ancestors 'none'" in headers["content-security-policy"], path
            assert "script-src 'self'" in headers["content-security-policy"], path
        assert "strict-transport-security" not in client.get("/login").headers  # plain HTTP: no HSTS
        login = client.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
        assert "secure" not in login.headers["set-cookie"].lower()  # served on loopback (the test client)
    ctx.secure_cookies = True  # what `vigil serve --host 0.0.0.0` sets
    with TestClient(create_app(ctx), base_url="https://vigil.example") as client:
        login = client.post("/api/auth/login", json={"username": "operator", "password": PASSWORD})
        assert "; secure" in login.headers["set-cookie"].lower()
        assert client.get("/login").headers["strict-transport-security"].startswith("max-age=")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    with TestClient(create_app(ctx)) as client:  # the API docs page: every file from this server
        docs = client.get("/docs")
        assert docs.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in docs.text
        assert "http://" not in docs.text and "https://" not in docs.text and "cdn" not in docs.text
        policy = docs.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "http" not in policy
        for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
            assert client.get(asset).status_code == 200, asset
        assert client.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not offered
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("vigil.example")


def test_request_bodies_are_limited_before_authentication(client: TestClient) -> None:
    """Issue 14, item 13: 150 MB of JSON to the login route was read whole (7 s, 650 MB)."""
    big = b'{"username": "' + b"a" * 5_000_000 + b'", "password": "x"}'
    declared = client.post("/api/auth/login", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"username": "'
        for _ in range(50):
            yield b"a" * 100_000
        yield b'", "password": "x"}'

    streamed = client.post("/api/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413  # no length declared: stopped while it streams
    assert client.post("/api/auth/login", json={"username": "operator", "password": PASSWORD}).status_code == 200


def test_reads_of_personal_data_leave_a_trace_and_a_name_search_needs_a_reason(
    client: TestClient, ctx: WebContext, astronaut
) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, item 2: subject search and view, trails and alert lists were read without an entry."""
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    sup, op = bearer(client, "supervisor"), bearer(client, "operator")
    no_reason = client.get("/api/subjects?q=Collins", headers=sup)
    assert no_reason.status_code == 422 and no_reason.json()["detail"]["rule"] == "search-reason"
    found = client.get("/api/subjects?q=Collins&reason=case MP-2026-0042: check the entry", headers=sup)
    assert found.status_code == 200 and [s["id"] for s in found.json()] == [subject]
    assert client.get(f"/api/subjects/{subject}", headers=op).status_code == 200
    assert client.get(f"/api/subjects/{subject}/sightings", headers=op).status_code == 200
    assert client.get("/api/alerts", headers=op).status_code == 200
    entries = client.get("/api/audit", headers=bearer(client, "auditor")).json()
    by_action = {e["action"]: e for e in entries}
    searched = by_action["subjects-searched"]
    assert searched["actor"] == "supervisor" and searched["details"]["query"] == "Collins"
    assert searched["details"]["reason"] == "case MP-2026-0042: check the entry" and searched["source"]
    assert by_action["subject-viewed"]["object_id"] == subject and by_action["subject-viewed"]["actor"] == "operator"
    assert by_action["trail-viewed"]["object_id"] == subject
    assert by_action["alerts-listed"]["actor"] == "operator"
    assert not any(e["action"] == "subjects-searched" and not e["details"]["reason"] for e in entries)


def test_api_tokens_are_listed_and_revoked_and_the_socket_takes_a_single_use_ticket(
    client: TestClient, ctx: WebContext
) -> None:  # type: ignore[no-untyped-def]
    """Issue 14, item 6."""
    op = bearer(client, "operator")
    second = bearer(client, "operator")
    tokens = client.get("/api/auth/tokens", headers=op).json()
    assert len(tokens) == 2 and all("token" not in t for t in tokens)  # never the secret
    assert client.delete(f"/api/auth/tokens/{tokens[1]['id']}", headers=bearer(client, "supervisor")).status_code == 404
    assert client.delete(f"/api/auth/tokens/{tokens[1]['id']}", headers=op).status_code == 204
    assert client.get("/api/auth/me", headers=second).status_code == 401  # that token is gone
    # a ticket opens the live socket once; a token in the URL does not open it at all
    ticket = client.post("/api/auth/ticket", headers=op).json()["ticket"]
    with client.websocket_connect(f"/api/alerts/live?ticket={ticket}") as socket:
        assert socket.receive_json()["type"] == "hello"
    for url in (f"/api/alerts/live?ticket={ticket}", f"/api/alerts/live?token={op['Authorization'][7:]}"):
        with client.websocket_connect(url) as socket, pytest.raises(Exception):  # noqa: B017
            socket.receive_json()  # closed with 4401
    # logging out with a bearer token revokes it
    assert client.post("/api/auth/logout", headers=op).status_code == 204
    assert client.get("/api/auth/me", headers=op).status_code == 401
    actions = [e["action"] for e in client.get("/api/audit", headers=bearer(client, "auditor")).json()]
    assert actions.count("api-token-revoked") == 2


def test_admins_configure_reach_and_operators_acknowledge_through_the_api(  # type: ignore[no-untyped-def]
    client: TestClient, ctx: WebContext, astronaut
) -> None:
    from vigil.domain.cameras import CameraRegistry
    from vigil.domain.outbox import Outbox

    ctx.outbox = Outbox(ctx.db, public_url="https://vigil.example")
    ctx.alerts.outbox = ctx.outbox
    CameraRegistry(ctx.db).add("north-gate", "rtsp://127.0.0.1:8554/n", latitude=51.5, longitude=-0.12, group="Thana 1")
    admin = bearer(client, "admin")
    bad = client.post("/api/notify/endpoints", json={"name": "d", "url": "ftp://x.example"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["detail"]["field"] == "url"
    made = client.post("/api/notify/endpoints", json={"name": "dispatch", "url": "https://d.example/h"}, headers=admin)
    assert made.status_code == 201 and len(made.json()["secret"]) >= 32  # shown once
    listed = client.get("/api/notify/endpoints", headers=admin).json()
    assert [e["name"] for e in listed] == ["dispatch"] and listed[0]["secret"] == ""
    rule = {"name": "thana-1", "endpoint": "dispatch", "camera_groups": ["Thana 9"], "event_kinds": ["acknowledged"]}
    refused = client.post("/api/notify/rules", json=rule, headers=admin)
    assert refused.status_code == 422 and refused.json()["detail"]["field"] == "camera_groups"
    assert (
        client.post("/api/notify/rules", json={**rule, "camera_groups": ["Thana 1"]}, headers=admin).status_code == 201
    )
    assert (
        client.put("/api/notify/escalation", json={"category": "wanted", "seconds": 90}, headers=admin).json()["wanted"]
        == 90
    )
    assert ctx.watchlist is not None
    subject = ctx.watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    alert_id = _raise(ctx, subject)
    operator = bearer(client, "operator")
    acked = client.post(f"/api/alerts/{alert_id}/acknowledge", headers=operator).json()
    assert (
        acked["acknowledged_by"] == "operator" and acked["status"] == "pending" and acked["camera_group"] == "Thana 1"
    )
    again = client.post(f"/api/alerts/{alert_id}/acknowledge", headers=bearer(client, "operator2")).json()
    assert again["acknowledged_by"] == "operator"  # the first one is kept
    log = client.get("/api/notify/log", headers=admin).json()
    assert log[0]["name"] == "dispatch" and log[0]["pending"] == 1  # the acknowledgement, routed by group
