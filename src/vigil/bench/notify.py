"""``vigil bench notify``: alert stored → webhook received and → MQTT message received, through the real
outbox, deliverer and protocol clients, to real receivers on loopback (HTTP servers started here, the
MQTT broker in the settings — the machine's Mosquitto by default).

Set-up: ``webhooks`` webhook endpoints and ``mqtt`` MQTT endpoints, one rule each for raised alerts;
``alerts`` alerts stored at ``rate`` per second; one webhook receiver is down (connection refused) for the
first ``down_s`` seconds. Latency is measured from the event's stored time (``at`` in the body, written in
the alert's transaction) to its arrival; the down endpoint's deliveries are reported on their own
(they wait for it to come back). ``lost`` = expected − distinct (event, endpoint) received.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from vigil.domain.adjudication import AlertService
from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import Actor
from vigil.domain.cameras import CameraRegistry
from vigil.domain.channels import ChannelService, EndpointSpec
from vigil.domain.outbox import Outbox
from vigil.netguard import parse_networks
from vigil.notify.dispatcher import Dispatcher, RetryPolicy
from vigil.notify.mqtt import broker_of, check_broker
from vigil.notify.receiver import WebhookReceiver
from vigil.notify.signing import verify
from vigil.pipeline.events import TrackMatch, alert_key
from vigil.settings import VigilSettings
from vigil.store.db import open_database
from vigil.store.media import open_media
from vigil.store.models import Subject

SECRET = "bench-notify-shared-secret-0123456789"
BENCH = Actor("bench", "bench")


def _arrivals(receiver: WebhookReceiver) -> tuple[list[tuple[str, float, float]], int]:
    """(event id, arrival, stored at) of each delivery whose signature is good (checked as at its arrival),
    and how many were not."""
    good, bad = [], 0
    for request in receiver.requests():
        try:
            verify(request.headers, request.body, {"k1": SECRET}, now=request.at)
            event = request.json
            good.append((event["event_id"], request.at, _stamp(event["at"])))
        except Exception:
            bad += 1
    return good, bad


def _stamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


class _MqttListener:
    def __init__(self, url: str, topic: str) -> None:
        import paho.mqtt.client as paho

        broker = broker_of(url)
        self.arrivals: list[tuple[str, str, float, float]] = []  # (topic prefix, event id, arrival, stored)
        self._lock = threading.Lock()
        ready = threading.Event()
        self.client = paho.Client(callback_api_version=paho.CallbackAPIVersion.VERSION2)

        def on_connect(client: Any, _u: Any, _f: Any, _r: Any, _p: Any) -> None:
            client.subscribe(topic, qos=1)

        def on_message(_c: Any, _u: Any, message: Any) -> None:
            now = time.time()
            event = json.loads(message.payload)
            if event.get("kind") != "raised":
                return
            with self._lock:
                self.arrivals.append((message.topic.split("/")[0], event["event_id"], now, _stamp(event["at"])))

        self.client.on_connect = on_connect
        self.client.on_subscribe = lambda *_a: ready.set()
        self.client.on_message = on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        if not ready.wait(10):
            raise RuntimeError(f"could not subscribe at {url}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _p(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def bench_notify(
    *,
    webhooks: int = 8,
    mqtt: int = 2,
    alerts: int = 100,
    rate: float = 10.0,
    down_s: float = 5.0,
    broker_url: str = "mqtt://127.0.0.1:1883",
    settle_s: float = 60.0,
) -> dict[str, object]:
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="vigil-bench-notify-"))
    settings = VigilSettings(data_dir=workdir)
    db = open_database(settings)
    media = open_media(settings, db)
    with db.session() as session:
        session.add(
            Subject(
                id="b" * 32,
                display_name="Bench Subject",
                category="wanted",
                legal_basis_type="warrant",
                legal_basis_reference="BENCH-1",
                approved_by="bench",
                expires_at=datetime.now(UTC) + timedelta(days=30),
            )
        )
    CameraRegistry(db).add("bench-cam", "rtsp://127.0.0.1:1/x", latitude=26.85, longitude=80.95, group="Bench")
    outbox = Outbox(db, public_url="http://127.0.0.1:8000")
    # the benchmark's own receivers and broker on loopback, let through the outbound guard by name
    channels = ChannelService(db, broker_check=check_broker, allowed=parse_networks("127.0.0.0/8"))
    receivers = [WebhookReceiver() for _ in range(webhooks)]
    down = receivers[0]  # down for the first down_s seconds
    for i, receiver in enumerate(receivers):
        if receiver is not down:
            receiver.start()
        spec = EndpointSpec(f"hook-{i}", "webhook", receiver.url, secret=SECRET)
        channels.add_endpoint(spec, by=BENCH)
        channels.add_rule(f"hook-{i}", f"hook-{i}", by=BENCH)
    prefixes = [f"vigil-bench-{os.getpid()}-{i}" for i in range(mqtt)]
    listener = _MqttListener(broker_url, "#") if mqtt else None
    for i, prefix in enumerate(prefixes):
        channels.add_endpoint(EndpointSpec(f"mqtt-{i}", "mqtt", broker_url, topic_prefix=prefix), by=BENCH)
        channels.add_rule(f"mqtt-{i}", f"mqtt-{i}", by=BENCH)
    dispatcher = Dispatcher(
        outbox,
        channels,
        media,
        owner="bench",
        alerts=AlertService(db, outbox=outbox),
        poll_s=settings.notify_poll_s,
        retry=RetryPolicy(base_s=settings.notify_retry_base_s, max_s=2.0),
    )
    dispatcher.start()
    recorder = AlertRecorder(db, media, outbox=outbox)
    began = time.monotonic()
    try:
        for i in range(alerts):
            now = time.time()
            recorder.raise_alert(
                TrackMatch(
                    key=alert_key("bench-cam", f"t{i}", "b" * 32),
                    subject_id="b" * 32,
                    subject_name="Bench Subject",
                    category="wanted",
                    camera="bench-cam",
                    track_id=f"t{i}",
                    first_seen=now - 2,
                    last_seen=now - 1,
                    score=0.97,
                    evidence=0.965,
                    threshold=0.956,
                    faces=3,
                    decisive_capture_at=now - 0.2,
                )
            )
            if not down.running and time.monotonic() - began >= down_s:
                down.start()
            time.sleep(max(0.0, began + (i + 1) / rate - time.monotonic()))
        if not down.running:
            time.sleep(max(0.0, began + down_s - time.monotonic()))
            down.start()
        expected = alerts * (webhooks + mqtt)
        deadline = time.monotonic() + settle_s

        def received() -> int:
            hooks = sum(len(set(r.event_ids())) for r in receivers)
            mq = len({(a[0], a[1]) for a in listener.arrivals}) if listener else 0
            return hooks + mq

        while received() < expected and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        dispatcher.close()
        for receiver in receivers:
            receiver.stop()
        if listener is not None:
            listener.close()
    checked = {id(r): _arrivals(r) for r in receivers}
    up_hooks = [(a[1] - a[2]) * 1000 for r in receivers if r is not down for a in checked[id(r)][0]]
    down_hooks = [(a[1] - a[2]) * 1000 for a in checked[id(down)][0]]
    mqtt_ms = [(a[2] - a[3]) * 1000 for a in (listener.arrivals if listener else []) if a[0] in prefixes]
    got = sum(len({a[0] for a in good}) for good, _ in checked.values()) + (
        len({(a[0], a[1]) for a in listener.arrivals}) if listener else 0
    )
    return {
        "benchmark": "notify",
        "date": datetime.now(UTC).date().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "endpoints": webhooks + mqtt,
        "webhook_endpoints": webhooks,
        "mqtt_endpoints": mqtt,
        "alerts": alerts,
        "rate_per_s": rate,
        "down_endpoint_down_s": down_s,
        "sent": expected,
        "received": got,
        "lost": expected - got,
        "duplicates": sum(len(good) - len({a[0] for a in good}) for good, _ in checked.values()),
        "bad_signatures": sum(bad for _, bad in checked.values()),
        "webhook_p50_ms": _p(up_hooks, 50),
        "webhook_p95_ms": _p(up_hooks, 95),
        "webhook_max_ms": _p(up_hooks, 100),
        "mqtt_p50_ms": _p(mqtt_ms, 50),
        "mqtt_p95_ms": _p(mqtt_ms, 95),
        "mqtt_max_ms": _p(mqtt_ms, 100),
        "down_endpoint_received": len({a[0] for a in checked[id(down)][0]}),
        "down_endpoint_p95_ms": _p(down_hooks, 95),
        "broker": broker_url,
        "seconds": round(time.perf_counter() - started, 1),
    }
