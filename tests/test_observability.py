"""Issue 31, part 2, with real processes on the suite's PostgreSQL and Redis: one `vigil worker` (JSON
logs, its health port) running a clip camera and one `vigil serve` (JSON logs).

- the worker answers /healthz, /readyz (database, schema, model, Redis) and its own /metrics — camera
  states, analysed and dropped frames, detection time, lease renewals, gallery version, queued alerts,
  outbox lag, the model and its checksum — in the Prometheus text format, nothing about anyone in them;
- both processes log one JSON object per line with the camera, worker, request id and user where known;
- every metric the example alerting rules (deploy/prometheus/) and the autoscaler's adapter read is one
  that the running processes export (gathered from their scrapes, not from a list).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import yaml
from tests.conftest import fresh_postgres
from tests.helpers.prometheus import metric_names, names, parse, value
from tests.helpers.scaleout import (
    METRICS_TOKEN,
    REDIS_URL,
    Deployment,
    Population,
    add_cameras,
    populate,
    services_missing,
    wait_for,
)
from tests.helpers.streaming import free_port

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.skipif(bool(services_missing()), reason=services_missing() or ""),
]

ROOT = Path(__file__).resolve().parents[1]
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@dataclass
class Stack:
    dep: Deployment
    population: Population
    worker: str  # the worker's health port
    web: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, settings, engine, astronaut: np.ndarray) -> Iterator[Stack]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("observability")
    data_dir = tmp / "data"
    data_dir.mkdir()
    (data_dir / "cache").symlink_to(settings.cache_dir, target_is_directory=True)  # converted models, once
    logs = tmp / "logs"
    logs.mkdir()
    # one audit key for every writer of the chain: the processes (VIGIL_AUDIT_KEY_FILE) and the test
    # helpers, which sign their entries with b"k" * 32 — so the chain verifies
    (data_dir / "audit.key").write_text((b"k" * 32).hex())
    with fresh_postgres("vigil_obs") as url:
        dep = Deployment(data_dir, url, REDIS_URL, logs)
        try:
            population = populate(dep, engine, {"Eileen Collins": astronaut})
            add_cameras(url, {"gate": population.clips["Eileen Collins"]})
            health = free_port()
            dep._spawn(
                "worker-1",
                ["-v", "worker", "--id", "worker-1"],
                VIGIL_DATA_DIR=str(dep.own_data_dir("worker-1")),
                VIGIL_AUDIT_KEY_FILE=str(data_dir / "audit.key"),  # every process writes entries with one key
                VIGIL_WORKER_HEALTH_PORT=str(health),
                VIGIL_WORKER_HEALTH_HOST="127.0.0.1",
                VIGIL_LOG_FORMAT="json",
            )
            port = free_port()
            dep._spawn(
                "web",
                ["-v", "serve", "--host", "127.0.0.1", "--port", str(port)],
                VIGIL_DATA_DIR=str(dep.own_data_dir("web")),
                VIGIL_AUDIT_KEY_FILE=str(data_dir / "audit.key"),  # the key the entries were written with
                VIGIL_LOG_FORMAT="json",
            )
            stack = Stack(dep, population, f"http://127.0.0.1:{health}", f"http://127.0.0.1:{port}")
            wait_for(lambda: _status(stack.web + "/healthz") == 200, 120, f"web did not start: {dep.log('web')}")
            wait_for(lambda: _status(stack.worker + "/readyz") == 200, 120, f"worker not ready: {dep.log('worker-1')}")
            yield stack
        finally:
            dep.close()


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.HTTPError:
        return 0


def _scrape(url: str) -> str:
    response = httpx.get(url + "/metrics", headers=SCRAPE, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def _personal(stack: Stack) -> list[str]:
    """What must never be in a health or metrics answer: the enrolled person's name and id."""
    return ["Eileen", "Collins", *stack.population.subjects.values()]


def test_worker_serves_healthz_readyz_and_its_own_metrics(stack: Stack) -> None:
    assert httpx.get(stack.worker + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(stack.worker + "/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert {"database", "schema", "model", "redis"} <= set(checks)
    assert all(c["ok"] for c in checks.values()), checks
    assert "dlib-resnet" in checks["model"]["detail"] and "at migration" in checks["schema"]["detail"]
    assert httpx.get(stack.worker + "/metrics").status_code == 401  # the metrics token is set
    assert httpx.get(stack.worker + "/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401

    def analysing() -> list | None:  # type: ignore[type-arg]
        _, samples = parse(_scrape(stack.worker))
        frames = value(samples, "vigil_frames_analysed_total", camera="gate") or 0
        return samples if frames > 0 and value(samples, "vigil_camera_state", camera="gate") == 1 else None

    samples = wait_for(analysing, 90, "the worker's camera never analysed a frame")
    assert isinstance(samples, list)
    assert value(samples, "vigil_camera_state", camera="gate", state="streaming") == 1
    assert value(samples, "vigil_cameras", state="streaming") == 1
    assert (value(samples, "vigil_detection_seconds_total", camera="gate") or 0) > 0
    assert value(samples, "vigil_frames_dropped_total", camera="gate") is not None
    assert (value(samples, "vigil_lease_renewals_total", outcome="ok") or 0) >= 1
    assert value(samples, "vigil_lease_renewals_total", outcome="failed") == 0
    assert value(samples, "vigil_leases_held") == 1
    assert (value(samples, "vigil_gallery_version") or 0) >= 1  # the enrollment is in the change log
    assert value(samples, "vigil_alerts_queued") == 0
    assert value(samples, "vigil_outbox_lag_seconds") is not None and value(samples, "vigil_outbox_pending") is not None
    assert value(samples, "vigil_bus_pending_events") == 0
    assert value(samples, "vigil_worker_info", worker="worker-1") == 1
    assert value(samples, "vigil_worker_model_refused") == 0
    model = next(s for s in samples if s.name == "vigil_model_info")
    assert model.labels["name"] == "dlib-resnet" and model.labels["version"] and "sha256" in model.labels
    assert (value(samples, "vigil_disk_free_bytes", volume="data") or 0) > 0
    everything = ready.text + _scrape(stack.worker) + httpx.get(stack.worker + "/healthz").text
    for word in _personal(stack):
        assert word not in everything
    assert httpx.get(stack.worker + "/nothing").status_code == 404


def test_control_room_readiness_names_schema_model_and_redis_and_metrics_carry_fleet_and_audit(stack: Stack) -> None:
    ready = httpx.get(stack.web + "/readyz")
    assert ready.status_code == 200, ready.text
    assert {"database", "schema", "model", "redis"} <= set(ready.json()["checks"])

    def scraped() -> list | None:  # type: ignore[type-arg]
        _, samples = parse(_scrape(stack.web))
        verified = value(samples, "vigil_audit_chain_ok") is not None
        # the camera's state is what its worker last reported (at a heartbeat): on a loaded machine the
        # first scrape can still find it connecting
        streaming = value(samples, "vigil_camera_state", camera="gate", state="streaming") == 1
        return samples if verified and streaming else None

    samples = wait_for(scraped, 60, "the control room never verified the audit chain or saw the camera streaming")
    assert isinstance(samples, list)
    assert value(samples, "vigil_audit_chain_ok") == 1
    assert value(samples, "vigil_workers", state="live") == 1 and value(samples, "vigil_workers", state="lost") == 0
    assert value(samples, "vigil_cameras_registered") == 1
    assert value(samples, "vigil_camera_state", camera="gate", state="streaming") == 1  # as its worker reported
    assert (value(samples, "vigil_gallery_version") or 0) >= 1
    for word in _personal(stack):
        assert word not in ready.text + _scrape(stack.web)


def _json_lines(text: str) -> list[dict[str, object]]:
    """Every line of a JSON-format log, parsed (a line that is not one JSON object fails)."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"line {number} is not JSON: {line[:200]!r}") from None
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), line
        records.append(record)
    return records


def test_json_logs_are_one_object_per_line_with_camera_worker_request_and_user(stack: Stack) -> None:
    token = stack.population.token
    request_id = "obs-test-request-0001"
    response = httpx.get(
        stack.web + "/api/auth/me", headers={"Authorization": f"Bearer {token}", "X-Request-ID": request_id}
    )
    assert response.status_code == 200 and response.headers["x-request-id"] == request_id
    fresh = httpx.get(stack.web + "/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", fresh)  # none given: one is made

    def web_line() -> dict[str, object] | None:
        return next((r for r in _json_lines(stack.dep.log("web")) if r.get("request_id") == request_id), None)

    line = wait_for(web_line, 10, "no log line of the request")
    assert isinstance(line, dict)
    assert line["user"] == "operator" and line["logger"] == "vigil.web.access"
    assert line["message"] == "GET /api/auth/me 200" + str(line["message"]).removeprefix("GET /api/auth/me 200")

    def camera_line() -> dict[str, object] | None:
        records = _json_lines(stack.dep.log("worker-1"))
        return next((r for r in records if r.get("camera") == "gate"), None)

    line = wait_for(camera_line, 30, "no worker log line names the camera")
    assert isinstance(line, dict) and line["worker"] == "worker-1"
    assert time.time() - 600 < _epoch(str(line["time"])) < time.time() + 5
    assert all(r.get("worker") == "worker-1" for r in _json_lines(stack.dep.log("worker-1")) if r.get("camera"))


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso).timestamp()


def test_every_metric_the_alerting_rules_and_the_autoscaler_read_is_exported(stack: Stack) -> None:
    exported = names(_scrape(stack.web)) | names(_scrape(stack.worker))
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "vigil-rules.yaml").read_text())
    alerts = {}
    for group in rules["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert rule["labels"]["severity"] in ("critical", "warning") and rule["annotations"]["summary"]
            used = metric_names(rule["expr"])
            assert used, rule["alert"]
            assert used <= exported, f"{rule['alert']} reads {sorted(used - exported)}, which Vigil does not export"
            alerts[rule["alert"]] = used
    # the five: a camera down, a worker missing, outbox lag, audit verification failing, disk filling
    for alert in ("VigilCameraDown", "VigilWorkerMissing", "VigilOutboxLag", "VigilAuditVerificationFailing"):
        assert alert in alerts
    assert "VigilDiskFilling" in alerts and "vigil_disk_free_bytes" in alerts["VigilDiskFilling"]
    adapter = yaml.safe_load((ROOT / "deploy" / "prometheus" / "adapter.yaml").read_text())
    for rule in adapter["externalRules"]:
        assert (
            metric_names(rule["seriesQuery"]) | metric_names(rule["metricsQuery"].replace("<<.LabelMatchers>>", ""))
            <= exported
        )
    hpa = yaml.safe_load((ROOT / "deploy" / "k8s" / "autoscaling.yaml").read_text())
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] in exported
