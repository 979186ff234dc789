"""The deliverer: a thread in every Vigil process that sends the outbox's rows to their endpoints and
escalates red flags nobody acknowledged in time.

It wakes at once when this process wrote rows (``Outbox.on_enqueue``) and every ``notify_poll_s``
otherwise (rows other processes wrote; retries that fell due). For each endpoint with rows due it claims
as many as the endpoint's concurrency leaves free and sends them on that endpoint's own worker threads,
so a slow or dead endpoint holds up only itself. A success marks the row delivered; a failure schedules
the next attempt (exponential backoff with full jitter, or the receiver's Retry-After). A claim lasts
the endpoint's timeout plus a margin: a process killed mid-delivery leaves rows that any process sends
again once the claim runs out.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from vigil.bus import Bus
from vigil.domain.adjudication import AlertNotFoundError, AlertService
from vigil.domain.alerts import ALERTS_TOPIC
from vigil.domain.audit import AuditLog
from vigil.domain.channels import ChannelService, EndpointSecrets
from vigil.domain.outbox import Claimed, Outbox
from vigil.domain.payloads import with_images
from vigil.domain.vocabulary import AuditAction, EndpointKind
from vigil.errors import RepeatedFailure
from vigil.notify.mqtt import MqttSender
from vigil.notify.webhook import SendResult, WebhookSender
from vigil.store.media import MediaStore, media_type
from vigil.video.camera import backoff_delay

log = logging.getLogger(__name__)

CLAIM_MARGIN_S = 10.0  # a claim outlives the endpoint's timeout by this much
TARGETS_EVERY_S = 5.0  # endpoints added, changed or removed elsewhere are picked up this often
FLAG_EVERY_S = 10.0
ESCALATE_EVERY_S = 1.0
PRUNE_EVERY_S = 3600.0
DELIVERED_KEPT_S = 7 * 86_400.0  # delivered and abandoned rows stay this long, for the delivery log


class Sender(Protocol):
    def send(self, event_id: str, kind: str, body: dict[str, object]) -> SendResult: ...

    def close(self) -> None: ...


def sender_for(endpoint: EndpointSecrets) -> Sender:
    return WebhookSender(endpoint) if endpoint.kind == EndpointKind.WEBHOOK else MqttSender(endpoint)


@dataclass
class _Lane:
    """One endpoint's sender, its worker threads and how many of them are busy."""

    endpoint: EndpointSecrets
    sender: Sender
    pool: ThreadPoolExecutor
    busy: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class RetryPolicy:
    base_s: float = 1.0
    max_s: float = 300.0


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        channels: ChannelService,
        media: MediaStore,
        *,
        owner: str,
        alerts: AlertService,
        audit: AuditLog | None = None,
        bus: Bus | None = None,
        poll_s: float = 0.5,
        retry: RetryPolicy = RetryPolicy(),
        failing_after_s: float = 300.0,
    ) -> None:
        self.outbox = outbox
        self.channels = channels
        self.media = media
        self.owner = owner
        self.alerts = alerts
        self.audit = audit
        self.bus = bus
        self.poll_s = poll_s
        self.retry = retry
        self.failing_after_s = failing_after_s
        self._lanes: dict[str, _Lane] = {}
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self._targets_at = -float("inf")
        self._flag_at = -float("inf")
        self._escalate_at = -float("inf")
        self._prune_at = -float("inf")
        self.sent = 0
        self.failed = 0
        outbox.on_enqueue(self.wake)

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="vigil-notify", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for lane in self._lanes.values():
            lane.pool.shutdown(wait=True, cancel_futures=True)
            lane.sender.close()
        self._lanes.clear()

    def _run(self) -> None:
        failures = RepeatedFailure(log, "delivering the outbox failed; trying again")
        while not self._closed.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._closed.is_set():
                break
            try:
                self.step()
                failures.ok()
            except Exception:
                failures.failed()
                self._closed.wait(1.0)

    # ------------------------------------------------------------ one round
    def step(self) -> int:
        """Claim and hand out what is due now; escalate and flag when their time comes. Returns the rows
        handed out."""
        now = time.monotonic()
        if now - self._escalate_at >= ESCALATE_EVERY_S:
            self._escalate_at = now
            for alert_id in self.alerts.escalate_due():
                log.warning("alert %s escalated: nobody acknowledged it in time", alert_id)
                if self.bus is not None:
                    self.bus.publish(ALERTS_TOPIC, {"type": "alert-escalated", "alert_id": alert_id})
        if now - self._flag_at >= FLAG_EVERY_S:
            self._flag_at = now
            for name in self.outbox.flag_failing(self.failing_after_s):
                log.error("notification endpoint %s has been failing for over %g s", name, self.failing_after_s)
                if self.audit is not None:
                    self.audit.record(
                        "system",
                        AuditAction.NOTIFY_ENDPOINT_FAILING,
                        object_type="notify-endpoint",
                        object_id=name,
                        details={"failing_for_s": self.failing_after_s},
                    )
        if now - self._prune_at >= PRUNE_EVERY_S:
            self._prune_at = now
            pruned = self.outbox.prune_delivered(DELIVERED_KEPT_S)
            if pruned:
                log.info("forgot %d delivered outbox rows older than %g days", pruned, DELIVERED_KEPT_S / 86_400)
        handed = 0
        for endpoint_id in self.outbox.due_endpoints():
            lane = self._lane(endpoint_id)
            if lane is None:
                continue
            with lane.lock:
                free = lane.endpoint.concurrency - lane.busy
            rows = self.outbox.claim(
                endpoint_id, self.owner, limit=free, lease_s=lane.endpoint.timeout_s + CLAIM_MARGIN_S
            )
            for row in rows:
                with lane.lock:
                    lane.busy += 1
                lane.pool.submit(self._deliver, lane, row)
                handed += 1
        return handed

    def _lane(self, endpoint_id: str) -> _Lane | None:
        now = time.monotonic()
        if endpoint_id not in self._lanes or now - self._targets_at >= TARGETS_EVERY_S:
            self._targets_at = now
            targets = self.channels.delivery_targets()
            for gone in [e for e in self._lanes if targets.get(e) != self._lanes[e].endpoint]:
                lane = self._lanes.pop(gone)  # removed or changed: its threads finish what they hold
                lane.pool.shutdown(wait=False)
                threading.Thread(target=lane.sender.close, daemon=True).start()
            for target_id, endpoint in targets.items():
                if target_id not in self._lanes:
                    self._lanes[target_id] = _Lane(
                        endpoint,
                        sender_for(endpoint),
                        ThreadPoolExecutor(endpoint.concurrency, thread_name_prefix=f"vigil-notify-{endpoint.name}"),
                    )
        return self._lanes.get(endpoint_id)

    # ------------------------------------------------------------ one delivery
    def _body(self, lane: _Lane, row: Claimed) -> dict[str, object]:
        """The row's body, with the images its rule asked for, read now (a crop retention deleted meanwhile
        is not sent); each delivery that carries one is audited."""
        if not (row.include_crop or row.include_photo) or row.alert_id is None:
            return row.body
        try:
            case = self.alerts.get(row.alert_id)
        except AlertNotFoundError:
            return row.body
        crop = photo = None
        if row.include_crop and case.crop_name:
            crop = (media_type(case.crop_name), self.media.read("crops", case.crop_name))
        if row.include_photo and case.enrolled_photo:
            photo = (media_type(case.enrolled_photo), self.media.read("photos", case.enrolled_photo))
        if self.audit is not None and (crop or photo):
            self.audit.record(
                "system",
                AuditAction.ALERT_SENT_WITH_IMAGES,
                object_type="alert",
                object_id=row.alert_id,
                details={
                    "event_id": row.event_id,
                    "endpoint": lane.endpoint.name,
                    "rule_id": row.rule_id,
                    "crop": crop is not None,
                    "enrolled_photo": photo is not None,
                    "attempt": row.attempts,
                },
            )
        return with_images(row.body, crop=crop, photo=photo)

    def _deliver(self, lane: _Lane, row: Claimed) -> None:
        try:
            try:
                result = lane.sender.send(row.event_id, row.kind, self._body(lane, row))
            except Exception as exc:  # a bug in a sender must not lose the row: it is retried
                log.exception("sending outbox row %d failed", row.id)
                result = SendResult(False, None, f"{type(exc).__name__}: {exc}"[:300])
            if result.ok:
                self.outbox.delivered(row.id, status_code=result.status)
                self.sent += 1
            else:
                delay = backoff_delay(row.attempts - 1, base_s=self.retry.base_s, cap_s=self.retry.max_s, rng=self._rng)
                if result.retry_after_s is not None:
                    delay = max(delay, min(result.retry_after_s, self.retry.max_s))
                self.outbox.failed(row.id, self.owner, error=result.error, retry_in_s=delay, status_code=result.status)
                self.failed += 1
            self.outbox.endpoint_result(row.endpoint_id, ok=result.ok)
        except Exception:
            log.exception("recording the delivery of outbox row %d failed (its claim will run out)", row.id)
        finally:
            with lane.lock:
                lane.busy -= 1
            self._wake.set()
