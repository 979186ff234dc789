"""``/metrics`` in the Prometheus text format — counts and latencies only, never names or faces."""

from __future__ import annotations

import threading
import time
from collections import Counter

from vigil.domain.adjudication import ResponseTimes
from vigil.domain.audit import Verification
from vigil.domain.fleet import DetectionCounts
from vigil.domain.outbox import EndpointLog
from vigil.domain.telemetry import family

LATENCY_BUCKETS_MS = (100, 250, 500, 750, 1000, 2000, 5000)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.alerts_raised = 0
        self.decisions: Counter[str] = Counter()
        self.logins: Counter[str] = Counter()
        self._latency_counts = [0] * len(LATENCY_BUCKETS_MS)
        self._latency_sum = 0.0
        self._latency_n = 0
        self.audit: Verification | None = None  # the last verification of the whole chain, and when
        self.audit_at: float | None = None
        self.audit_failed_runs = 0  # verifications that could not run (the database away)

    def verified(self, result: Verification) -> None:
        with self._lock:
            self.audit, self.audit_at = result, time.time()

    def render_audit(self) -> str:
        """The audit chain as last verified by this server (nothing before the first run)."""
        with self._lock:
            result, at, failed = self.audit, self.audit_at, self.audit_failed_runs
        lines = family(
            "vigil_audit_verify_errors_total",
            "counter",
            "Scheduled verifications that could not run (the database did not answer).",
            [({}, failed)],
        )
        if result is not None and at is not None:
            lines += family(
                "vigil_audit_chain_ok",
                "gauge",
                "1 when the audit chain verified at the last check.",
                [({}, int(result.ok))],
            )
            lines += family("vigil_audit_entries", "gauge", "Audit entries at the last check.", [({}, result.entries)])
            lines += family(
                "vigil_audit_last_verified_timestamp_seconds",
                "gauge",
                "When the audit chain was last verified (Unix time).",
                [({}, round(at, 3))],
            )
        return "\n".join(lines) + "\n"

    def alert(self, latency_ms: float | None) -> None:
        with self._lock:
            self.alerts_raised += 1
            if latency_ms is None:
                return
            self._latency_n += 1
            self._latency_sum += latency_ms
            for i, bound in enumerate(LATENCY_BUCKETS_MS):
                if latency_ms <= bound:
                    self._latency_counts[i] += 1

    def render(
        self,
        cameras: list[tuple[str, str, int, int, int]],
        open_alerts: int,
        clients: int,
        *,
        camera_states: list[str] | None = None,
        bus: tuple[bool, int, int] | None = None,
        detection: dict[str, DetectionCounts] | None = None,
    ) -> str:
        """``cameras``: (name, state, frames analysed, faces analysed, dropped frames) per camera run here;
        ``camera_states``: every camera's state when workers run them instead (scale-out);
        ``bus``: (connected, reconnects, alerts caught up from the database); ``detection``: per camera
        run here, the detection scheduler's choices."""
        lines = [
            "# HELP vigil_cameras Cameras by state.",
            "# TYPE vigil_cameras gauge",
        ]
        states = Counter(camera_states if camera_states is not None else [state for _, state, *_ in cameras])
        for state in ("connecting", "streaming", "stalled", "reconnecting", "stopped", "idle", "unassigned"):
            lines.append(f'vigil_cameras{{state="{state}"}} {states.get(state, 0)}')
        for metric, index, text in (
            ("vigil_frames_analysed_total", 2, "Frames analysed."),
            ("vigil_faces_analysed_total", 3, "Faces detected and assessed (counts only)."),
            ("vigil_frames_dropped_total", 4, "Frames dropped because analysis was busy."),
        ):
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} counter"]
            lines += [f'{metric}{{camera="{c[0]}"}} {c[index]}' for c in cameras]
        for metric, field, text in (
            ("vigil_detector_full_passes_total", "full_passes", "Frames the detector searched whole."),
            ("vigil_detector_region_passes_total", "region_passes", "Frames the detector searched in regions."),
            ("vigil_detector_quiet_frames_total", "quiet_frames", "Frames that needed no detection at all."),
            ("vigil_detector_pixels_total", "pixels_detected", "Pixels sent to the detector."),
            ("vigil_detector_pixels_seen_total", "pixels_seen", "Pixels of every analysed frame."),
            ("vigil_faces_settled_skipped_total", "settled_skips", "Faces not embedded: their track was decided."),
        ):
            lines += [f"# HELP {metric} {text}", f"# TYPE {metric} counter"]
            lines += [f'{metric}{{camera="{name}"}} {getattr(d, field)}' for name, d in (detection or {}).items()]
        with self._lock:
            lines += [
                "# HELP vigil_alerts_raised_total New alerts pushed to this server's browsers.",
                "# TYPE vigil_alerts_raised_total counter",
                f"vigil_alerts_raised_total {self.alerts_raised}",
                "# HELP vigil_alerts_open Alerts waiting for a decision.",
                "# TYPE vigil_alerts_open gauge",
                f"vigil_alerts_open {open_alerts}",
                "# HELP vigil_decisions_total Adjudication decisions.",
                "# TYPE vigil_decisions_total counter",
            ]
            lines += [f'vigil_decisions_total{{decision="{d}"}} {n}' for d, n in sorted(self.decisions.items())]
            lines += ["# HELP vigil_logins_total Login attempts.", "# TYPE vigil_logins_total counter"]
            lines += [f'vigil_logins_total{{outcome="{o}"}} {n}' for o, n in sorted(self.logins.items())]
            lines += [
                "# HELP vigil_alert_latency_ms Frame capture to alert stored.",
                "# TYPE vigil_alert_latency_ms histogram",
            ]
            for bound, count in zip(LATENCY_BUCKETS_MS, self._latency_counts, strict=True):
                lines.append(f'vigil_alert_latency_ms_bucket{{le="{bound}"}} {count}')
            lines += [
                f'vigil_alert_latency_ms_bucket{{le="+Inf"}} {self._latency_n}',
                f"vigil_alert_latency_ms_sum {self._latency_sum:.1f}",
                f"vigil_alert_latency_ms_count {self._latency_n}",
            ]
        lines += ["# HELP vigil_live_clients Browsers connected for live alerts.", "# TYPE vigil_live_clients gauge"]
        lines.append(f"vigil_live_clients {clients}")
        if bus is not None:
            lines += [
                "# HELP vigil_bus_connected Whether the event bus (Redis) is reachable.",
                "# TYPE vigil_bus_connected gauge",
                f"vigil_bus_connected {int(bus[0])}",
                "# HELP vigil_bus_reconnects_total Times the bus connection came back after a loss.",
                "# TYPE vigil_bus_reconnects_total counter",
                f"vigil_bus_reconnects_total {bus[1]}",
                "# HELP vigil_alerts_caught_up_total Alerts found in the database whose announcement was lost.",
                "# TYPE vigil_alerts_caught_up_total counter",
                f"vigil_alerts_caught_up_total {bus[2]}",
            ]
        return "\n".join(lines) + "\n"


def render_fleet(cameras: list[tuple[str, str]], live: int, lost: int, gallery_version: int | None) -> str:
    """Each camera's state ((name, state) for every camera registered: as this process runs it, or as its
    worker reported it, "unassigned" when none holds it) and how many there are (what the workers'
    autoscaler follows), workers heard from within a lease and those that stopped without handing back (a
    worker missing), and the watchlist change this server's gallery reflects."""
    lines = family(
        "vigil_cameras_registered",
        "gauge",
        "Cameras registered, whichever process runs them (the worker autoscaler's metric).",
        [({}, len(cameras))],
    )
    lines += family(
        "vigil_camera_state",
        "gauge",
        "1 for the state each camera is in.",
        [({"camera": name, "state": state}, 1) for name, state in sorted(cameras)],
    )
    lines += family(
        "vigil_workers",
        "gauge",
        "Camera workers: live (heard from within a lease) and lost (silent, cameras not handed back).",
        [({"state": "live"}, live), ({"state": "lost"}, lost)],
    )
    if gallery_version is not None:
        lines += family(
            "vigil_gallery_version",
            "gauge",
            "The newest watchlist change this process's gallery reflects (compare across processes).",
            [({}, gallery_version)],
        )
    return "\n".join(lines) + "\n"


def render_reach(logs: list[EndpointLog], response: list[ResponseTimes]) -> str:
    """Deliveries per endpoint (by status, attempts, lag, failing) and, per category, how quickly red flags
    were acknowledged and decided (the last 30 days)."""
    lines: list[str] = []
    for metric, kind, text in (
        ("vigil_notify_deliveries", "gauge", "Outbox rows per endpoint and status."),
        ("vigil_notify_attempts_total", "counter", "Delivery attempts per endpoint."),
        ("vigil_notify_lag_seconds", "gauge", "Age of the oldest undelivered event per endpoint."),
        ("vigil_notify_endpoint_failing", "gauge", "1 when an endpoint has been failing for longer than allowed."),
    ):
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} {kind}"]
        for log in logs:
            label = f'endpoint="{log.name}",kind="{log.kind}"'
            if metric == "vigil_notify_deliveries":
                for status in ("pending", "delivered", "abandoned"):
                    lines.append(f'{metric}{{{label},status="{status}"}} {getattr(log, status)}')
            elif metric == "vigil_notify_attempts_total":
                lines.append(f"{metric}{{{label}}} {log.attempts}")
            elif metric == "vigil_notify_lag_seconds":
                lines.append(f"{metric}{{{label}}} {log.lag_s:.3f}")
            else:
                lines.append(f"{metric}{{{label}}} {int(log.flagged)}")
    for metric, text, fields in (
        ("vigil_alert_time_to_acknowledge_seconds", "Stored to acknowledged, last 30 days.", ("ack", "acknowledged")),
        ("vigil_alert_time_to_decide_seconds", "Stored to the first decision, last 30 days.", ("decide", "decided")),
    ):
        lines += [f"# HELP {metric} {text}", f"# TYPE {metric} summary"]
        prefix, count = fields
        for r in response:
            for quantile in ("50", "95"):
                value = getattr(r, f"{prefix}_p{quantile}_s")
                if value is not None:
                    lines.append(f'{metric}{{category="{r.category}",quantile="0.{quantile}"}} {value:.3f}')
            lines.append(f'{metric}_count{{category="{r.category}"}} {getattr(r, count)}')
    lines += ["# HELP vigil_alerts_escalated Red flags escalated, last 30 days.", "# TYPE vigil_alerts_escalated gauge"]
    lines += [f'vigil_alerts_escalated{{category="{r.category}"}} {r.escalated}' for r in response]
    return "\n".join(lines) + "\n"
