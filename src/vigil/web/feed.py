"""The alert feed: how alerts reach this server's browsers, wherever they were raised or decided.

Alerts are announced on the bus (topic ``alerts``) by whichever process stored them — a camera worker,
or this process in the embedded mode — and decisions by whichever web server took them. Every web
server subscribes and pushes each announced alert to its own WebSocket clients, so any number of
servers behind a load balancer show every alert. The database stays the system of record: after the
bus reconnects (say Redis restarted) and every ``catch_up_s`` anyway, the feed looks for stored alerts it
has not pushed yet, so an announcement lost on the way never loses an alert. Each alert is pushed once.

An alert stored by this very process (the embedded mode) is handed to the feed first (:meth:`hold`),
so when its announcement comes round the case is built from what was stored rather than read back.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import OrderedDict
from datetime import datetime, timedelta

from vigil.bus import Bus, Event
from vigil.clock import Clock, system_clock
from vigil.domain.adjudication import AlertNotFoundError, AlertService
from vigil.domain.alerts import ALERTS_TOPIC, TrackMatch
from vigil.web.metrics import Metrics
from vigil.web.push import PushHub
from vigil.web.schemas import AlertOut

log = logging.getLogger(__name__)

FRESH = timedelta(minutes=5)  # an announced alert stored longer ago than this is not pushed as new
ALERT_ID = re.compile(r"^[0-9a-f]{32}$")
REMEMBERED = 20_000  # alert ids already pushed (far more than a catch-up window can hold)
LATE_COMMIT = timedelta(seconds=60)  # an alert may be committed this long after its created_at
HELD = 1_000  # stored matches waiting for their announcement
ANNOUNCEMENTS = ("alert-raised", "alert-updated", "alert-escalated")


def parse_announcement(event: object) -> tuple[str, str, float | None] | None:
    """(kind, alert id, latency in ms) of a well-formed message on the alerts topic, else None: the bus
    is a network service, so its messages are checked like any other input."""
    if not isinstance(event, dict):
        return None
    kind, alert_id, latency = event.get("type"), event.get("alert_id"), event.get("latency_ms")
    if (
        kind not in ("alert-raised", "alert-updated", "alert-escalated")
        or not isinstance(alert_id, str)
        or not ALERT_ID.match(alert_id)
    ):
        return None
    if latency is not None:
        if isinstance(latency, bool) or not isinstance(latency, int | float) or not math.isfinite(latency):
            return None
        if not 0 <= latency < 3_600_000:
            return None
        latency = float(latency)
    return kind, alert_id, latency


class AlertFeed:
    def __init__(self, alerts: AlertService, hub: PushHub, metrics: Metrics, bus: Bus, clock: Clock = system_clock):
        self.alerts = alerts
        self.hub = hub
        self.metrics = metrics
        self.bus = bus
        self.clock = clock
        self._pushed: OrderedDict[str, None] = OrderedDict()
        self._held: OrderedDict[str, TrackMatch] = OrderedDict()
        self._lock = threading.Lock()
        self._since: datetime | None = None
        self.caught_up = 0

    def start(self) -> None:
        """Listen from now on (alerts stored before this server started are in the queue, not pushed)."""
        self._since = self.clock()
        self.bus.subscribe(ALERTS_TOPIC, self._on_event, on_reconnect=self.catch_up)

    # ------------------------------------------------------------ announcing (new alerts: domain.alerts.announcer)
    def updated(self, alert_id: str) -> None:
        """A decision changed the alert: every server's browsers get it again."""
        self.bus.publish(ALERTS_TOPIC, {"type": "alert-updated", "alert_id": alert_id})

    def hold(self, kind: str, match: TrackMatch) -> None:
        """An AlertRecorder listener (before the announcer): keep the match of an alert this process has
        just stored until its announcement arrives."""
        if kind != "raised" or match.alert_id is None:
            return
        with self._lock:
            self._held[match.alert_id] = match
            while len(self._held) > HELD:
                self._held.popitem(last=False)

    # ------------------------------------------------------------ pushing
    def _claim(self, alert_id: str) -> bool:
        """True the first time an alert id is seen by this server."""
        with self._lock:
            if alert_id in self._pushed:
                return False
            self._pushed[alert_id] = None
            while len(self._pushed) > REMEMBERED:
                self._pushed.popitem(last=False)
            return True

    def _on_event(self, event: Event) -> None:
        announced = parse_announcement(event)
        if announced is None:
            log.warning("ignored a malformed message on the alerts topic")
            return
        kind, alert_id, latency = announced
        if kind == "alert-raised":
            if self._claim(alert_id):
                self._push("alert", alert_id, latency, fresh_only=True)
        elif kind == "alert-escalated":  # nobody acknowledged it in time: every Live page sounds louder
            self._push("alert-escalated", alert_id, None)
        else:
            self._push("alert-updated", alert_id, None)

    def _push(self, kind: str, alert_id: str, latency_ms: float | None, *, fresh_only: bool = False) -> None:
        with self._lock:
            held = self._held.pop(alert_id, None) if kind == "alert" else None
        try:
            view = self.alerts.case_of_raised(held) if held is not None else self.alerts.get(alert_id)
        except AlertNotFoundError:  # deleted meanwhile (retention), or an id that never was
            return
        if fresh_only and self.clock() - view.created_at > FRESH:
            # an announcement of an old alert (a replay, a forged message): not a new red flag
            log.warning("ignored an announcement of alert %s, stored %s", alert_id, view.created_at.isoformat())
            return
        if kind == "alert":
            self.metrics.alert(latency_ms)
        self.hub.publish(
            {"type": kind, "alert": AlertOut.of(view).model_dump(mode="json"), "open": self.alerts.open_count()}
        )

    def catch_up(self) -> int:
        """Push stored alerts that no announcement brought (lost while the bus was down); returns how many."""
        if self._since is None:
            return 0
        now = self.clock()
        missed = 0
        for alert_id, created in self.alerts.created_since(self._since - LATE_COMMIT):
            if self._claim(alert_id):
                missed += 1
                self._push("alert", alert_id, None)
            self._since = max(self._since, created)
        self._since = max(self._since, now - LATE_COMMIT)
        if missed:
            self.caught_up += missed
            log.info("pushed %d alerts that were stored but not announced", missed)
        return missed
