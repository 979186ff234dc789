"""Reach: the outbox, routing, what leaves Vigil, webhook signatures, MQTT, acknowledgement and escalation,
with real peers — an HTTP receiver started here, a Mosquitto broker of our own (the machine's binary) —
and real faults: a receiver down for 30 s, a deliverer killed with SIGKILL, a broker restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.helpers import alert_event, jpeg, live_fields, live_service
from tests.helpers.receivers import PrivateMosquitto, Subscriber, WebhookReceiver, mosquitto_missing
from tests.helpers.scaleout import wait_for

from vigil.domain.adjudication import AlertService
from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import Actor, AuditLog
from vigil.domain.cameras import CameraRegistry
from vigil.domain.channels import ChannelError, ChannelService, EndpointSpec
from vigil.domain.outbox import Outbox
from vigil.domain.routing import EventFacts, Route, deliveries
from vigil.domain.users import UserService
from vigil.domain.vocabulary import DeliveryStatus, Role
from vigil.netguard import parse_networks
from vigil.notify.dispatcher import Dispatcher, RetryPolicy
from vigil.notify.mqtt import check_broker, topic_for
from vigil.notify.signing import ReplayGuard, SignatureError, signed_headers, verify
from vigil.settings import VigilSettings
from vigil.store.media import open_media
from vigil.store.models import OutboxDelivery

LOOPBACK = parse_networks("127.0.0.0/8")  # the tests' own receivers and broker, through the outbound guard

ADMIN = Actor("admin.one", "test")
SECRET = "a-receivers-shared-secret-0123456789"


@dataclass
class Room:
    settings: VigilSettings
    db: object
    subject: str
    recorder: AlertRecorder
    alerts: AlertService
    outbox: Outbox
    channels: ChannelService
    audit: AuditLog

    def dispatcher(self, owner: str = "test-deliverer", **kw: object) -> Dispatcher:
        return Dispatcher(
            self.outbox,
            self.channels,
            open_media(self.settings, self.db),  # type: ignore[arg-type]
            owner=owner,
            alerts=self.alerts,
            audit=self.audit,
            poll_s=0.1,
            retry=RetryPolicy(base_s=0.2, max_s=2.0),
            **kw,  # type: ignore[arg-type]
        )

    def raise_alerts(self, count: int, *, camera: str = "gate", start: int = 0) -> list[str]:
        ids = []
        for i in range(start, start + count):
            stored = self.recorder.raise_alert(alert_event(self.subject, camera=camera, track=f"t-{i}"))
            assert stored is not None and stored.alert_id is not None
            ids.append(stored.alert_id)
        return ids

    def webhook(self, name: str, url: str, **kw: object) -> None:
        spec = EndpointSpec(name=name, kind="webhook", url=url, secret=SECRET, **kw)  # type: ignore[arg-type]
        self.channels.add_endpoint(spec, by=ADMIN)

    def rows(self) -> list[OutboxDelivery]:
        with self.db.session() as session:  # type: ignore[attr-defined]
            return list(session.scalars(select(OutboxDelivery).order_by(OutboxDelivery.id)))


def _room(database_url: str, tmp_path: Path, engine: object, astronaut: object, *, category: str = "wanted") -> Room:
    settings = VigilSettings(data_dir=tmp_path / "data", database_url=database_url)
    service = live_service(settings, engine)
    subject = service.enroll(live_fields("Eileen Collins", category=category), [("c.jpg", jpeg(astronaut))]).subject_id
    audit = AuditLog(service.db, key_file=settings.resolved_audit_key_file)
    registry = CameraRegistry(service.db, audit=audit)
    registry.add("gate", "rtsp://10.0.0.5/s", latitude=26.85, longitude=80.95, group="Hazratganj", by=ADMIN)
    registry.add("market", "rtsp://10.0.0.6/s", latitude=26.86, longitude=80.92, group="Aminabad", by=ADMIN)
    outbox = Outbox(service.db, public_url="https://vigil.example")
    return Room(
        settings,
        service.db,
        subject,
        AlertRecorder(service.db, service.media, outbox=outbox),
        AlertService(service.db, audit, outbox=outbox),
        outbox,
        ChannelService(service.db, audit=audit, broker_check=check_broker, allowed=LOOPBACK),
        audit,
    )


def _verified(receiver: WebhookReceiver) -> list[dict[str, object]]:
    """Every request's body, each signature checked (good, fresh, matching its body)."""
    bodies = []
    for request in receiver.requests():
        key_id, event_id = verify(request.headers, request.body, {"k1": SECRET})
        assert key_id == "k1" and event_id == request.json["event_id"] == request.headers["Idempotency-Key"]
        bodies.append(request.json)
    return bodies


# ---------------------------------------------------------------- pure parts
def test_routing_sends_each_event_once_per_endpoint_with_the_images_some_rule_asked_for() -> None:
    routes = [
        Route("r1", "e1", ("raised",), categories=("wanted",)),
        Route("r2", "e1", ("raised", "escalated"), include_crop=True),
        Route("r3", "e2", ("raised",), camera_groups=("Aminabad",), min_score=0.9),
        Route("r4", "e3", ("confirmed",)),
    ]
    got = deliveries(routes, EventFacts("raised", "wanted", "Aminabad", 0.95))
    assert [(d.endpoint_id, d.rule_id, d.include_crop) for d in got] == [("e1", "r1", True), ("e2", "r3", False)]
    assert [d.endpoint_id for d in deliveries(routes, EventFacts("raised", "wanted", "Aminabad", 0.85))] == ["e1"]
    assert [d.endpoint_id for d in deliveries(routes, EventFacts("raised", "missing-person", "Hazratganj", 1))] == [
        "e1"
    ]
    assert deliveries(routes, EventFacts("rejected", "wanted", "Aminabad", 0.99)) == []


def test_a_signature_is_checked_for_its_key_its_age_its_body_and_replays() -> None:
    body = b'{"event_id":"e1"}'
    headers = signed_headers(SECRET, "k1", "e1", body, now=1_000_000)
    assert verify(headers, body, {"k1": SECRET}, now=1_000_010) == ("k1", "e1")
    for given, secrets, now, reason in [
        (body, {"k1": SECRET}, 1_000_400, "stale"),
        (body + b" ", {"k1": SECRET}, 1_000_010, "mismatch"),
        (body, {"k2": SECRET}, 1_000_010, "unknown-key"),
        (body, {"k1": "another-secret-of-sixteen"}, 1_000_010, "mismatch"),
    ]:
        with pytest.raises(SignatureError) as caught:
            verify(headers, given, secrets, now=now)
        assert caught.value.reason == reason
    with pytest.raises(SignatureError) as caught:
        verify({}, body, {"k1": SECRET})
    assert caught.value.reason == "malformed"
    guard = ReplayGuard()
    guard.check(headers, now=1_000_010)
    with pytest.raises(SignatureError) as caught:
        guard.check(headers, now=1_000_020)
    assert caught.value.reason == "replay"


def test_mqtt_topics_follow_the_documented_layout() -> None:
    alert = {"alert": {"category": "wanted", "camera": "gate"}}
    assert topic_for("vigil", "raised", alert) == ("vigil/alerts/wanted/gate/raised", False)
    assert topic_for("city/x", "camera-state", {"camera": {"name": "gate"}}) == ("city/x/cameras/gate/state", True)


# ---------------------------------------------------------------- configuration
def test_bad_configuration_names_the_field_and_saves_nothing(database_url, tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    room = _room(database_url, tmp_path, engine, astronaut)
    room.webhook("dispatch", "http://127.0.0.1:9/hook")
    entries = len(room.audit.entries(limit=10_000))
    bad_endpoints = [
        (EndpointSpec("x", "webhook", "ftp://dispatch.example/"), "url"),
        (EndpointSpec("x", "webhook", "https://"), "url"),
        (EndpointSpec("x", "webhook", "https://user:pw@dispatch.example/"), "url"),
        (EndpointSpec("x", "webhook", "https://dispatch.example/", secret="short"), "secret"),
        (EndpointSpec("x y", "webhook", "https://dispatch.example/"), "name"),
        (EndpointSpec("dispatch", "webhook", "https://dispatch.example/"), "name"),
        (EndpointSpec("x", "webhook", "https://dispatch.example/", timeout_s=0), "timeout_s"),
        (EndpointSpec("x", "webhook", "https://dispatch.example/", retry_for_s=60), "retry_for_s"),
        (EndpointSpec("x", "mqtt", "http://broker.example"), "url"),
        (EndpointSpec("x", "mqtt", "mqtt://broker.example", topic_prefix="a/#"), "topic_prefix"),
    ]
    for spec, field in bad_endpoints:
        with pytest.raises(ChannelError) as caught:
            room.channels.add_endpoint(spec, by=ADMIN)
        assert caught.value.rule == field, (spec, caught.value)
    bad_rules = [
        ({"endpoint": "nowhere"}, "endpoint"),
        ({"endpoint": "dispatch", "categories": ["no-such-category"]}, "categories"),
        ({"endpoint": "dispatch", "camera_groups": ["Nowhere Thana"]}, "camera_groups"),
        ({"endpoint": "dispatch", "event_kinds": ["exploded"]}, "event_kinds"),
        ({"endpoint": "dispatch", "min_score": 7.0}, "min_score"),
    ]
    for kwargs, field in bad_rules:
        with pytest.raises(ChannelError) as caught:
            room.channels.add_rule("r", by=ADMIN, **kwargs)  # type: ignore[arg-type]
        assert caught.value.rule == field
    assert [e.name for e in room.channels.endpoints()] == ["dispatch"] and room.channels.rules() == []
    assert len(room.audit.entries(limit=10_000)) == entries  # nothing saved, nothing audited


@pytest.mark.services
def test_a_broker_that_refuses_the_credentials_is_refused_and_nothing_saved(  # type: ignore[no-untyped-def]
    database_url, tmp_path: Path, engine, astronaut
) -> None:
    if mosquitto_missing():
        pytest.skip(mosquitto_missing())
    broker = PrivateMosquitto(tmp_path / "broker", users={"vigil": "right-password"}).start()
    try:
        room = _room(database_url, tmp_path, engine, astronaut)
        with pytest.raises(ChannelError) as caught:
            room.channels.add_endpoint(
                EndpointSpec("city-broker", "mqtt", broker.url, username="vigil", secret="wrong-password"), by=ADMIN
            )
        assert caught.value.rule in ("secret", "username") and "refused" in str(caught.value)
        assert room.channels.endpoints() == []
        room.channels.add_endpoint(
            EndpointSpec("city-broker", "mqtt", broker.url, username="vigil", secret="right-password"), by=ADMIN
        )
        assert [e.name for e in room.channels.endpoints()] == ["city-broker"]
    finally:
        broker.stop()
    with pytest.raises(ChannelError) as caught:  # a broker that is not there
        room.channels.add_endpoint(EndpointSpec("gone", "mqtt", broker.url), by=ADMIN)
    assert caught.value.rule == "url"


# ---------------------------------------------------------------- the outbox
def test_an_alert_and_its_events_commit_together(database_url, tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    room = _room(database_url, tmp_path, engine, astronaut)
    room.webhook("dispatch", "http://127.0.0.1:9/hook")
    room.webhook("aminabad-thana", "http://127.0.0.1:9/aminabad")
    room.channels.add_rule("all-raised", "dispatch", by=ADMIN)
    room.channels.add_rule("aminabad", "aminabad-thana", by=ADMIN, camera_groups=["Aminabad"])
    room.channels.add_rule("missing", "aminabad-thana", by=ADMIN, categories=["missing-person"])
    [gate_alert] = room.raise_alerts(1, camera="gate")
    [market_alert] = room.raise_alerts(1, camera="market", start=1)
    rows = room.rows()
    assert [(r.alert_id, r.kind) for r in rows] == [
        (gate_alert, "raised"),
        (market_alert, "raised"),
        (market_alert, "raised"),
    ]
    body = rows[0].body
    assert body["schema"] == "vigil.event/1" and body["kind"] == "raised"
    alert = body["alert"]
    assert set(alert) == {  # minimal: no name, no image, a link that needs a login
        "id", "subject_id", "category", "camera", "camera_group", "place", "first_seen", "last_seen", "score",
        "evidence", "status", "link",
    }  # fmt: skip
    assert alert["camera_group"] == "Hazratganj" and alert["link"] == f"https://vigil.example/alerts/{gate_alert}"
    assert "Eileen" not in json.dumps(body)
    # The same alert again writes nothing (its key exists): no event without a change.
    assert room.recorder.raise_alert(alert_event(room.subject, camera="gate", track="t-0")) is None
    assert len(room.rows()) == 3


@pytest.mark.slow
def test_a_receiver_down_for_30_s_gets_all_20_alerts_signed_once_it_is_back(  # type: ignore[no-untyped-def]
    database_url, tmp_path: Path, engine, astronaut
) -> None:
    receiver = WebhookReceiver()
    room = _room(database_url, tmp_path, engine, astronaut)
    room.webhook("dispatch", receiver.url, timeout_s=2.0)
    room.channels.add_rule("all-raised", "dispatch", by=ADMIN)
    dispatcher = room.dispatcher()
    dispatcher.start()
    try:
        down_until = time.monotonic() + 30
        ids = room.raise_alerts(20)  # the receiver is not listening yet: every attempt is refused
        wait_for(lambda: all(r.attempts >= 2 for r in room.rows()), 20, "deliveries were not retried")
        assert receiver.requests() == []
        time.sleep(max(0.0, down_until - time.monotonic()))
        log = {e.name: e for e in room.outbox.logs()}["dispatch"]
        assert log.pending == 20 and log.delivered == 0 and log.last_error and log.lag_s >= 29
        receiver.start()
        wait_for(lambda: len(set(receiver.event_ids())) == 20, 30, "not every alert arrived")
        bodies = _verified(receiver)
        assert sorted({b["alert"]["id"] for b in bodies}) == sorted(ids)  # type: ignore[index]
        wait_for(lambda: all(r.status == DeliveryStatus.DELIVERED for r in room.rows()), 10, "rows not marked")
        log = {e.name: e for e in room.outbox.logs()}["dispatch"]
        assert log.delivered == 20 and log.pending == 0 and log.lag_s == 0
    finally:
        dispatcher.close()
        receiver.stop()


@pytest.mark.slow
def test_a_deliverer_killed_mid_delivery_loses_nothing_and_repeats_only_under_the_same_key(  # type: ignore[no-untyped-def]
    database_url, tmp_path: Path, engine, astronaut
) -> None:
    receiver = WebhookReceiver(delay_s=0.5).start()
    room = _room(database_url, tmp_path, engine, astronaut)
    room.webhook("dispatch", receiver.url, timeout_s=2.0, concurrency=2)
    room.channels.add_rule("all-raised", "dispatch", by=ADMIN)
    ids = room.raise_alerts(20)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    env.update(
        VIGIL_DATA_DIR=str(room.settings.data_dir),
        VIGIL_DATABASE_URL=database_url,
        VIGIL_NOTIFY_RETRY_BASE_S="0.2",
        VIGIL_NOTIFY_RETRY_MAX_S="2",
        VIGIL_NOTIFY_POLL_S="0.2",
        VIGIL_OUTBOUND_ALLOWED_NETWORKS="127.0.0.0/8",
    )
    command = [sys.executable, "-m", "vigil.cli.main", "notify", "deliver"]
    log = (tmp_path / "deliver.log").open("wb")
    first = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: len(receiver.requests()) >= 5, 60, "the deliverer sent nothing")
        first.send_signal(signal.SIGKILL)  # mid-delivery: two requests in flight
        first.wait(10)
        sent_before = len(receiver.requests())
        assert sent_before < 20
        second = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: len(set(receiver.event_ids())) == 20, 90, "not every alert arrived after the restart")
            wait_for(lambda: all(r.status == DeliveryStatus.DELIVERED for r in room.rows()), 20, "rows not marked")
        finally:
            second.terminate()
            second.wait(20)
    finally:
        if first.poll() is None:
            first.kill()
        receiver.stop()
    bodies = _verified(receiver)
    by_event: dict[str, set[str]] = {}
    for body in bodies:
        by_event.setdefault(str(body["event_id"]), set()).add(body["alert"]["id"])  # type: ignore[index]
    assert len(by_event) == 20 and all(len(a) == 1 for a in by_event.values())  # a repeat is the same event
    assert sorted(a for alerts in by_event.values() for a in alerts) == sorted(ids)
    # Only what was in flight when the process died can have gone twice.
    assert len(bodies) - 20 <= 2


def test_a_rule_without_the_crop_never_sends_image_bytes(database_url, tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    plain, with_crop = WebhookReceiver().start(), WebhookReceiver().start()
    room = _room(database_url, tmp_path, engine, astronaut)
    room.webhook("dispatch", plain.url)
    room.webhook("forensics", with_crop.url)
    room.channels.add_rule("to-dispatch", "dispatch", by=ADMIN, event_kinds=["raised", "acknowledged"])
    UserService(room.db).add("admin.two", "a long admin password", Role.ADMIN)  # type: ignore[arg-type]
    room.channels.add_rule(  # images leave Vigil: a second admin approves (the command line's path)
        "to-forensics", "forensics", by=ADMIN, include_crop=True, include_photo=True, approved_by="admin.two"
    )
    dispatcher = room.dispatcher()
    dispatcher.start()
    try:
        ids = room.raise_alerts(3)
        operator = UserService(room.db).add("op.one", "a long operator password", Role.OPERATOR)  # type: ignore[arg-type]
        room.alerts.acknowledge(ids[0], operator)
        wait_for(lambda: len(plain.requests()) == 4 and len(with_crop.requests()) == 3, 20, "not all delivered")
    finally:
        dispatcher.close()
        plain.stop()
        with_crop.stop()
    for request in plain.requests():
        assert "images" not in request.json
        assert b"/9j/" not in request.body and b"\xff\xd8" not in request.body  # no JPEG, raw or base64
        assert b"base64" not in request.body
    kinds = sorted(r.json["kind"] for r in plain.requests())
    assert kinds == ["acknowledged", "raised", "raised", "raised"]
    for request in with_crop.requests():
        images = request.json["images"]
        assert images["crop"]["type"] == "image/jpeg" and images["crop"]["base64"].startswith("/9j/")
        assert "enrolled_photo" in images
    sent = room.audit.entries(limit=100, action="alert-sent-with-images")
    assert sorted(e.object_id for e in sent) == sorted(ids)  # each delivery with images is audited
    assert all(e.details["crop"] and e.details["endpoint"] == "forensics" for e in sent)


def test_escalation_fires_at_the_set_time_and_not_before_and_acknowledgement_stops_it(  # type: ignore[no-untyped-def]
    database_url, tmp_path: Path, engine, astronaut
) -> None:
    room = _room(database_url, tmp_path, engine, astronaut)
    room.webhook("supervisors", "http://127.0.0.1:9/sup")
    room.channels.add_rule("escalations", "supervisors", by=ADMIN, event_kinds=["escalated"])
    room.channels.set_ack_time("wanted", 60, by=ADMIN)
    late, taken = room.raise_alerts(2)
    created = {c.id: c.created_at for c in room.alerts.recent()}
    operator = UserService(room.db).add("op.one", "a long operator password", Role.OPERATOR)  # type: ignore[arg-type]
    room.alerts.acknowledge(taken, operator)
    start = max(created.values())
    assert room.alerts.escalate_due(start + timedelta(seconds=59)) == []  # not before
    assert room.alerts.escalate_due(created[late] + timedelta(seconds=60.5)) == [late]  # at the set time
    assert room.alerts.escalate_due(start + timedelta(seconds=600)) == []  # once; never the acknowledged one
    case = room.alerts.get(late)
    assert case.escalated_at is not None and case.acknowledged_at is None
    taken_case = room.alerts.get(taken)
    assert taken_case.acknowledged_by == "op.one" and taken_case.escalated_at is None
    assert [r.kind for r in room.rows()] == ["escalated"]  # to the supervisors' rule only
    assert [e.object_id for e in room.audit.entries(limit=10, action="alert-escalated")] == [late]
    assert [e.object_id for e in room.audit.entries(limit=10, action="alert-acknowledged")] == [taken]
    times = {r.category: r for r in room.alerts.response_times(start - timedelta(hours=1))}
    assert (times["wanted"].alerts, times["wanted"].acknowledged, times["wanted"].escalated) == (2, 1, 1)
    assert times["wanted"].ack_p95_s is not None and times["wanted"].decided == 0
    from vigil.web.metrics import render_reach

    text = render_reach(room.outbox.logs(), list(times.values()))
    assert 'vigil_alert_time_to_acknowledge_seconds_count{category="wanted"} 1' in text
    assert 'vigil_alerts_escalated{category="wanted"} 1' in text
    assert 'vigil_notify_deliveries{endpoint="supervisors",kind="webhook",status="pending"} 1' in text
    room.channels.set_ack_time("wanted", None, by=ADMIN)
    [never] = room.raise_alerts(1, start=5)
    assert room.alerts.escalate_due(datetime.now(UTC) + timedelta(hours=1)) == []
    assert room.alerts.get(never).escalated_at is None


# ---------------------------------------------------------------- MQTT
@pytest.mark.services
@pytest.mark.slow
def test_mqtt_after_a_broker_restart_every_alert_is_published_and_acknowledged(  # type: ignore[no-untyped-def]
    database_url, tmp_path: Path, engine, astronaut
) -> None:
    if mosquitto_missing():
        pytest.skip(mosquitto_missing())
    broker = PrivateMosquitto(tmp_path / "broker").start()
    room = _room(database_url, tmp_path, engine, astronaut)
    room.channels.add_endpoint(EndpointSpec("city-broker", "mqtt", broker.url, timeout_s=2.0), by=ADMIN)
    room.channels.add_rule("alerts-to-broker", "city-broker", by=ADMIN, event_kinds=["raised", "confirmed"])
    dispatcher = room.dispatcher()
    dispatcher.start()
    subscriber = Subscriber(broker.port, "vigil/#")
    try:
        before = room.raise_alerts(5)
        wait_for(lambda: len(subscriber.received()) >= 5, 20, "alerts before the restart did not arrive")
        broker.stop()
        during = room.raise_alerts(3, start=5)  # the broker is down: waiting in the outbox
        time.sleep(2)
        broker.start()
        subscriber.subscribed.clear()
        assert subscriber.subscribed.wait(15), "the subscriber did not come back"
        after = room.raise_alerts(5, start=8)
        wait_for(lambda: all(r.status == DeliveryStatus.DELIVERED for r in room.rows()), 30, "not all acknowledged")
        got = {m[1]["alert"]["id"] for m in subscriber.received() if m[0].startswith("vigil/alerts/")}
        assert set(before) <= got and set(after) <= got  # every alert published after the broker returned
        assert {r.alert_id for r in room.rows()} == set(before + during + after)  # and PUBACKed, none lost
        topics = {m[0] for m in subscriber.received()}
        assert "vigil/alerts/wanted/gate/raised" in topics
    finally:
        dispatcher.close()
        subscriber.close()
        broker.stop()


@pytest.mark.services
def test_a_cameras_state_is_retained_on_the_broker(database_url, tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    if mosquitto_missing():
        pytest.skip(mosquitto_missing())
    broker = PrivateMosquitto(tmp_path / "broker").start()
    room = _room(database_url, tmp_path, engine, astronaut)
    room.channels.add_endpoint(EndpointSpec("city-broker", "mqtt", broker.url, timeout_s=2.0), by=ADMIN)
    dispatcher = room.dispatcher()
    dispatcher.start()
    try:
        room.outbox.enqueue_camera_state("gate", "running")
        wait_for(lambda: all(r.status == DeliveryStatus.DELIVERED for r in room.rows()), 20, "state not delivered")
        late = Subscriber(broker.port, "vigil/cameras/#")  # connects afterwards: gets the retained state
        try:
            wait_for(lambda: late.received(), 10, "no retained state")
            topic, body, retained = late.received()[0]
            assert topic == "vigil/cameras/gate/state" and retained
            assert body["camera"] == {"name": "gate", "group": "Hazratganj", "state": "running"}
        finally:
            late.close()
    finally:
        dispatcher.close()
        broker.stop()


def test_every_body_sent_follows_the_documented_schema() -> None:
    import jsonschema

    from vigil.domain.payloads import AlertFacts, alert_body, camera_state_body, with_images

    schema = json.loads((Path(__file__).parents[1] / "docs" / "notify-event.schema.json").read_text())
    now = datetime.now(UTC)
    facts = AlertFacts("a" * 32, "s" * 32, "wanted", "gate", "Hazratganj", 26.8, 80.9, now, now, 0.97, 0.96, "pending")
    bodies = [
        alert_body("raised", "e" * 32, now, facts, public_url="https://vigil.example"),
        alert_body("acknowledged", "f" * 32, now, facts, public_url="https://vigil.example"),
        with_images(
            alert_body("raised", "e" * 32, now, facts, public_url="https://vigil.example"),
            crop=("image/jpeg", b"\xff\xd8\xff"),
            photo=("image/png", b"\x89PNG"),
        ),
        camera_state_body("c" * 32, now, "gate", "Hazratganj", "streaming"),
    ]
    bodies[1]["alert"]["acknowledged_by"] = "op.one"
    for body in bodies:
        jsonschema.validate(body, schema)
    with pytest.raises(jsonschema.ValidationError):  # a name would not fit it
        jsonschema.validate({**bodies[0], "alert": {**bodies[0]["alert"], "subject_name": "X"}}, schema)


@pytest.mark.slow
def test_a_running_deliverer_escalates_at_the_set_time_to_the_escalation_rule_only(  # type: ignore[no-untyped-def]
    database_url, tmp_path: Path, engine, astronaut
) -> None:
    receiver = WebhookReceiver().start()
    room = _room(database_url, tmp_path, engine, astronaut)
    room.webhook("supervisors", receiver.url)
    room.channels.add_rule("escalations", "supervisors", by=ADMIN, event_kinds=["escalated"])
    room.channels.set_ack_time("wanted", 3, by=ADMIN)
    operator = UserService(room.db).add("op.one", "a long operator password", Role.OPERATOR)  # type: ignore[arg-type]
    dispatcher = room.dispatcher()
    dispatcher.start()
    try:
        late, taken = room.raise_alerts(2)
        raised_at = time.monotonic()
        room.alerts.acknowledge(taken, operator)
        wait_for(lambda: receiver.requests(), 10, "no escalation arrived")
        assert time.monotonic() - raised_at >= 2.9  # not before the set time
        time.sleep(2)
        [request] = receiver.requests()  # once, and never for the acknowledged one
        assert request.json["kind"] == "escalated" and request.json["alert"]["id"] == late
    finally:
        dispatcher.close()
        receiver.stop()
