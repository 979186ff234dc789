"""A worker's own ``/metrics`` (Prometheus text), served on its health port: the cameras it runs (state,
analysed and dropped frames, faces, detection and analysis time), its leases (renewals, fencing), its
gallery replica (the change-log version it reflects), the alerts queued on its disk, the outbox's
backlog, the bus, its disks and the face model it runs. Camera names, counts and times only."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vigil import __version__
from vigil.domain.fleet import detection_counts
from vigil.domain.telemetry import Sample, disk_lines, family, model_lines
from vigil.video.camera import CameraState

if TYPE_CHECKING:
    from vigil.scaleout.worker import Worker

log = logging.getLogger(__name__)

STATES = tuple(CameraState)


def render_worker(worker: Worker) -> str:
    """Everything above for ``worker``, read now; what needs the database is left out while it is away
    (``vigil_outbox_*``), the rest is always there."""
    w = worker
    lines = family(
        "vigil_worker_info",
        "gauge",
        "This worker: its id and Vigil's version.",
        [({"worker": w.worker_id, "version": __version__}, 1)],
    )
    name, version, sha256 = w.model
    if name:
        lines += model_lines(name, version, sha256)
    lines += family(
        "vigil_worker_model_refused",
        "gauge",
        "1 while the active model is not the one this process loaded (it runs no camera then).",
        [({}, int(w.model_refusal is not None))],
    )
    health = {h.camera: h for h in w.runner.health() if h.camera in w.running}
    counters = {c: n for c, n in w.runner.counters().items() if c in health}
    states = [h.state for h in health.values()]
    lines += family(
        "vigil_cameras",
        "gauge",
        "Cameras this worker runs, by state.",
        [({"state": s.value}, states.count(s)) for s in STATES],
    )
    lines += family(
        "vigil_camera_state",
        "gauge",
        "1 for the state each camera run here is in.",
        [({"camera": c, "state": h.state.value}, 1) for c, h in sorted(health.items())],
    )
    per_camera: list[tuple[str, str, str, str]] = [
        ("vigil_frames_analysed_total", "counter", "Frames analysed.", "frames"),
        ("vigil_frames_dropped_total", "counter", "Frames dropped because analysis was busy.", "dropped"),
        ("vigil_faces_analysed_total", "counter", "Faces detected and assessed (counts only).", "faces"),
        ("vigil_detection_seconds_total", "counter", "Time spent detecting faces and assessing quality.", "detect_s"),
        (
            "vigil_embedding_seconds_total",
            "counter",
            "Time spent embedding faces and searching.",
            "embed_s",
        ),
        ("vigil_analysis_seconds_total", "counter", "All analysis time.", "busy_s"),
        ("vigil_camera_analysed_fps", "gauge", "Frames analysed per second, lately.", "fps"),
        ("vigil_camera_reconnects_total", "counter", "Times the stream was reconnected.", "reconnects"),
        ("vigil_detector_full_passes_total", "counter", "Frames the detector searched whole.", "full_passes"),
        ("vigil_detector_region_passes_total", "counter", "Frames the detector searched in regions.", "region_passes"),
    ]
    for metric, kind, text, key in per_camera:
        samples: list[Sample] = []
        for camera, h in sorted(health.items()):
            n = counters.get(camera)
            value: float | int | None
            if key == "dropped":
                value = h.dropped_frames
            elif key == "fps":
                value = float(h.analysed_fps)
            elif key == "reconnects":
                value = h.reconnects
            elif n is None:
                value = None
            elif key in ("full_passes", "region_passes"):
                value = getattr(detection_counts(n), key)
            else:
                value = getattr(n, key)
            if value is not None:
                samples.append(({"camera": camera}, value))
        lines += family(metric, kind, text, samples)
    lines += family("vigil_leases_held", "gauge", "Camera leases this worker holds.", [({}, len(w.running))])
    lines += family(
        "vigil_lease_renewals_total",
        "counter",
        "Lease renewals at each heartbeat, by outcome.",
        [({"outcome": "ok"}, w.renewals["ok"]), ({"outcome": "failed"}, w.renewals["failed"])],
    )
    lines += family(
        "vigil_worker_fenced_total",
        "counter",
        "Times this worker stopped all its cameras because it could not renew its leases.",
        [({}, w.fenced)],
    )
    lines += family(
        "vigil_worker_heartbeat_age_seconds",
        "gauge",
        "Seconds since the heartbeat loop last turned.",
        [({}, round(w.heartbeat_age(), 3))],
    )
    replica = w.replica
    lines += family(
        "vigil_gallery_version",
        "gauge",
        "The newest watchlist change this process's gallery reflects (compare across processes).",
        [({}, replica.applied_version)],
    )
    lines += family(
        "vigil_gallery_changes_applied_total", "counter", "Watchlist changes applied.", [({}, replica.changes_applied)]
    )
    lines += family(
        "vigil_gallery_full_loads_total", "counter", "Times the whole gallery was loaded.", [({}, replica.full_loads)]
    )
    if w.recorder is not None:
        try:
            queued = w.recorder.queued()
        except OSError:
            queued = None
        if queued is not None:
            lines += family(
                "vigil_alerts_queued",
                "gauge",
                "Alerts waiting on this process's disk for the database (stored when it answers).",
                [({}, queued)],
            )
        lines += family(
            "vigil_crops_not_written_total",
            "counter",
            "Alert crops that could not be written (the alert was stored without).",
            [({}, w.recorder.media_writes.failures)],
        )
    if w.outbox is not None:
        try:
            waiting, lag = w.outbox.backlog()
        except Exception as exc:  # the database away: the rest still answers
            log.debug("outbox backlog not read: %s", type(exc).__name__)
        else:
            lines += family("vigil_outbox_pending", "gauge", "Deliveries waiting in the outbox.", [({}, waiting)])
            lines += family(
                "vigil_outbox_lag_seconds",
                "gauge",
                "Age of the oldest undelivered outbox event.",
                [({}, round(lag, 3))],
            )
    bus = w.bus  # a worker only publishes: what waits for Redis says whether it is reachable
    lines += family(
        "vigil_bus_pending_events",
        "gauge",
        "Announcements waiting for the event bus (Redis); growing while it is unreachable.",
        [({}, int(getattr(bus, "pending", 0)))],
    )
    lines += family(
        "vigil_bus_published_total",
        "counter",
        "Announcements sent on the bus.",
        [({}, int(getattr(bus, "published", 0)))],
    )
    lines += disk_lines(w.volumes)
    return "\n".join(lines) + "\n"
