"""Issue 29 on the server, with a real database over HTTP (FastAPI's TestClient): the field view's
actions (acknowledge, on my way, not found) recorded, audited and counted once when a phone resends
them; red flags an officer took up staying on that officer's view for the shift; and what lies around
the place a person was last seen — the cameras within VIGIL_NEARBY_KM, the officers of their groups and
the routing rules — checked against where a red flag from one of those cameras really goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from tests.helpers import alert_event, jpeg, live_fields, live_service, live_settings

from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import Actor
from vigil.domain.channels import EndpointSpec
from vigil.domain.places import distance_m
from vigil.store.models import Alert, FieldAction, OutboxDelivery
from vigil.web.app import alert_listener, create_app
from vigil.web.context import WebContext

PASSWORD = "correct horse battery"
ADMIN = Actor("admin")

# Lucknow: two cameras in Hazratganj, one in Aminabad about 1.8 km away, one at the airport (11 km).
CAMERAS = {
    "gate": (26.8500, 80.9460, "Hazratganj"),
    "gpo": (26.8470, 80.9440, "Hazratganj"),
    "market": (26.8440, 80.9290, "Aminabad"),
    "airport": (26.7606, 80.8893, "Sarojini Nagar"),
}


@pytest.fixture
def ctx(tmp_path: Path, settings, engine) -> WebContext:  # type: ignore[no-untyped-def]
    run_settings = live_settings(tmp_path, settings).model_copy(
        update={"outbound_allowed_networks": "127.0.0.0/8", "shift_hours": 12.0}
    )
    watchlist = live_service(run_settings, engine)
    context = WebContext.build(run_settings, watchlist.db)
    context.watchlist = watchlist
    for name, (lat, lon, group) in CAMERAS.items():
        context.cameras.add(name, f"rtsp://10.0.0.9/{name}", latitude=lat, longitude=lon, group=group)
    for username, role in (("admin", "admin"), ("operator", "operator"), ("supervisor", "supervisor")):
        context.users.add(username, PASSWORD, role, display_name=username.title())
    for username, group in (("insp.hz", "Hazratganj"), ("insp.am", "Aminabad"), ("insp.sn", "Sarojini Nagar")):
        context.users.add(username, PASSWORD, "operator", display_name=f"Inspector {group}")
        context.users.set_groups(username, [group])
    return context


@pytest.fixture
def client(ctx: WebContext):  # type: ignore[no-untyped-def]
    with TestClient(create_app(ctx)) as test_client:
        yield test_client


def bearer(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _enroll(ctx: WebContext, astronaut, category: str = "missing-person") -> str:  # type: ignore[no-untyped-def]
    assert ctx.watchlist is not None
    return ctx.watchlist.enroll(live_fields("Eileen Collins", category), [("a.jpg", jpeg(astronaut))]).subject_id


def _raise(ctx: WebContext, subject_id: str, camera: str, track: str) -> str:
    recorder = AlertRecorder(ctx.db, ctx.media, outbox=ctx.outbox)
    recorder.subscribe(alert_listener(ctx))
    stored = recorder.raise_alert(alert_event(subject_id, camera=camera, track=track))
    assert stored is not None and stored.alert_id
    return stored.alert_id


def _field_entries(ctx: WebContext, alert_id: str) -> list[dict[str, object]]:
    return [e.details for e in ctx.audit.entries(limit=200, action="alert-field-action") if e.object_id == alert_id]


def _actions(ctx: WebContext) -> list[tuple[str, str]]:
    with ctx.db.session() as session:
        return [(r.alert_id, r.action) for r in session.scalars(select(FieldAction).order_by(FieldAction.id))]


def test_field_actions_are_recorded_audited_and_a_resend_counts_once(ctx, client, astronaut) -> None:  # type: ignore[no-untyped-def]
    subject = _enroll(ctx, astronaut)
    alert = _raise(ctx, subject, "gate", "t-1")
    auth = bearer(client, "insp.hz")

    tapped = datetime.now(UTC) - timedelta(minutes=7)  # queued while offline, sent when back
    body = {"action": "on-my-way", "client_id": "phone-0001-a", "acted_at": tapped.isoformat()}
    first = client.post(f"/api/field/{alert}/actions", json=body, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json()["recorded"] is True
    assert abs(datetime.fromisoformat(first.json()["action"]["acted_at"]) - tapped) < timedelta(seconds=1)
    again = client.post(f"/api/field/{alert}/actions", json=body, headers=auth)  # the answer was lost: resent
    assert again.status_code == 200 and again.json()["recorded"] is False
    assert _actions(ctx) == [(alert, "on-my-way")]
    entries = _field_entries(ctx, alert)
    assert len(entries) == 1 and entries[0]["action"] == "on-my-way" and 400 <= int(entries[0]["delayed_s"]) <= 440  # type: ignore[call-overload]
    assert first.json()["alert"]["acknowledged_by"] is None  # on my way is not the acknowledgement

    ack = client.post(
        f"/api/field/{alert}/actions", json={"action": "acknowledge", "client_id": "phone-0001-b"}, headers=auth
    )
    assert ack.status_code == 200 and ack.json()["alert"]["acknowledged_by"] == "insp.hz"
    assert [e.object_id for e in ctx.audit.entries(limit=50, action="alert-acknowledged")] == [alert]
    not_found = client.post(
        f"/api/field/{alert}/actions", json={"action": "not-found", "client_id": "phone-0001-c"}, headers=auth
    )
    assert not_found.status_code == 200
    listed = client.get("/api/field", headers=auth).json()
    mine = next(a for a in listed["alerts"] if a["id"] == alert)["my_actions"]
    assert [m["action"] for m in mine] == ["on-my-way", "acknowledge", "not-found"]  # in the order tapped

    # Bad input: one clear error each, nothing recorded.
    before = _actions(ctx)
    bad = (
        ({"action": "arrested", "client_id": "phone-0001-d"}, 422),
        ({"action": "on-my-way", "client_id": "x"}, 422),
        ({"action": "on-my-way", "client_id": "phone 0001 e"}, 422),
        ({"action": "not-found", "client_id": "phone-0001-a"}, 409),  # that id was on my way
        ({"action": "on-my-way", "client_id": "phone-0001-f", "extra": 1}, 422),
    )
    for payload, status in bad:
        response = client.post(f"/api/field/{alert}/actions", json=payload, headers=auth)
        assert response.status_code == status, (payload, response.text)
        assert isinstance(response.json()["detail"], str | list)
    assert (
        client.post(
            "/api/field/nope/actions", json={"action": "on-my-way", "client_id": "phone-0001-g"}, headers=auth
        ).status_code
        == 404
    )
    admin = bearer(client, "admin")
    refused = client.post(
        f"/api/field/{alert}/actions", json={"action": "on-my-way", "client_id": "phone-0001-h"}, headers=admin
    )
    assert refused.status_code == 403
    assert _actions(ctx) == before
    assert len(_field_entries(ctx, alert)) == 3


def test_a_red_flag_this_officer_took_up_stays_on_the_field_view_for_the_shift(ctx, client, astronaut) -> None:  # type: ignore[no-untyped-def]
    subject = _enroll(ctx, astronaut)
    here = _raise(ctx, subject, "gate", "t-1")  # the officer's area
    elsewhere = _raise(ctx, subject, "market", "t-2")  # another station's
    auth = bearer(client, "insp.hz")
    ids = lambda: [a["id"] for a in client.get("/api/field", headers=auth).json()["alerts"]]  # noqa: E731
    assert ids() == [here]
    assert client.get("/api/field", headers=auth).json()["shift_hours"] == 12.0

    # The officer goes to the other station's red flag too: it stays on this officer's view...
    sent = client.post(
        f"/api/field/{elsewhere}/actions", json={"action": "on-my-way", "client_id": "shift-0000-1"}, headers=auth
    )
    assert sent.status_code == 200
    assert ids() == [elsewhere, here]
    client.post(f"/api/field/{here}/actions", json={"action": "acknowledge", "client_id": "shift-0000-2"}, headers=auth)
    # ...and once both are decided (no longer open), they stay for the shift.
    supervisor = ctx.users.authenticate("supervisor", PASSWORD)
    for alert in (here, elsewhere):
        ctx.alerts.decide(alert, supervisor, "confirmed", "the same person as the photo")
    assert ids() == [elsewhere, here]
    other = client.get("/api/field", headers=bearer(client, "insp.am")).json()["alerts"]
    assert [a["id"] for a in other] == []  # decided: gone from the Aminabad officer's open list

    # Twelve hours on, they have gone.
    past = datetime.now(UTC) - timedelta(hours=12, minutes=1)
    with ctx.db.session() as session:
        session.execute(update(FieldAction).values(created_at=past, acted_at=past))
        session.execute(update(Alert).where(Alert.acknowledged_at.is_not(None)).values(acknowledged_at=past))
    assert ids() == []


def test_nearby_cameras_their_officers_and_rules_are_where_a_red_flag_goes(ctx, client, astronaut) -> None:  # type: ignore[no-untyped-def]
    subject = _enroll(ctx, astronaut)
    auth = bearer(client, "operator")
    empty = client.get(f"/api/subjects/{subject}/nearby", headers=auth).json()
    assert empty["last_seen"] is None and empty["cameras"] == [] and empty["within_km"] == 2.0

    ctx.channels.add_endpoint(
        EndpointSpec(name="dispatch", kind="webhook", url="http://127.0.0.1:9/hook", secret="s" * 32), by=ADMIN
    )
    ctx.channels.add_rule("hazratganj", "dispatch", by=ADMIN, camera_groups=["Hazratganj"])
    ctx.channels.add_rule("aminabad", "dispatch", by=ADMIN, camera_groups=["Aminabad"])
    ctx.channels.add_rule("airport", "dispatch", by=ADMIN, camera_groups=["Sarojini Nagar"])
    ctx.channels.add_rule("wanted-only", "dispatch", by=ADMIN, categories=["wanted"])
    ctx.channels.add_rule("decisions", "dispatch", by=ADMIN, event_kinds=["confirmed"])

    seen = _raise(ctx, subject, "gate", "t-1")
    ctx.alerts.decide(seen, ctx.users.authenticate("supervisor", PASSWORD), "confirmed", "the same person")
    near = client.get(f"/api/subjects/{subject}/nearby", headers=auth)
    assert near.status_code == 200, near.text
    out = near.json()
    assert out["last_seen"]["camera"] == "gate" and out["last_seen"]["alert_id"] == seen
    lat, lon, _ = CAMERAS["gate"]
    expected = sorted(
        (round(distance_m(lat, lon, c_lat, c_lon), 1), name)
        for name, (c_lat, c_lon, _) in CAMERAS.items()
        if distance_m(lat, lon, c_lat, c_lon) <= 2000
    )
    assert [(c["distance_m"], c["name"]) for c in out["cameras"]] == expected
    assert [c["name"] for c in out["cameras"]] == ["gate", "gpo", "market"]  # the airport is 11 km off
    assert out["groups"] == ["Aminabad", "Hazratganj"]
    assert [o["username"] for o in out["officers"]] == ["insp.am", "insp.hz"]
    assert [r["name"] for r in out["rules"]] == ["aminabad", "hazratganj"]

    # The link: a red flag of this person from each camera nearby reaches exactly those officers' field
    # views and goes out by exactly those rules.
    for n, camera in enumerate(c["name"] for c in out["cameras"]):
        alert = _raise(ctx, subject, camera, f"t-near-{n}")
        group = CAMERAS[camera][2]
        for officer in out["officers"]:
            listed = [
                a["id"] for a in client.get("/api/field", headers=bearer(client, officer["username"])).json()["alerts"]
            ]
            assert (alert in listed) == (group in officer["groups"]), (camera, officer)
        assert alert not in [
            a["id"] for a in client.get("/api/field", headers=bearer(client, "insp.sn")).json()["alerts"]
        ]
        with ctx.db.session() as session:
            rules = set(session.scalars(select(OutboxDelivery.rule_id).where(OutboxDelivery.alert_id == alert)))
        names = {r.id: r.name for r in ctx.channels.rules()}
        assert {names[r] for r in rules if r} <= {r["name"] for r in out["rules"]}
        assert {names[r] for r in rules if r} == {"hazratganj" if group == "Hazratganj" else "aminabad"}

    # A tighter radius: only the Hazratganj cameras; read by a page's live update, not audited again.
    ctx.settings = ctx.settings.model_copy(update={"nearby_km": 0.5})
    reads = len(ctx.audit.entries(limit=500, action="trail-viewed"))
    tight = client.get(f"/api/subjects/{subject}/nearby?refresh=true", headers=auth).json()
    assert [c["name"] for c in tight["cameras"]] == ["gate", "gpo"] and tight["within_km"] == 0.5
    assert [o["username"] for o in tight["officers"]] == ["insp.hz"]
    assert len(ctx.audit.entries(limit=500, action="trail-viewed")) == reads
