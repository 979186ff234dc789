"""The outbox: every event that leaves Vigil, one row per event and endpoint, written in the very
transaction that stores the event (an alert, a decision, an acknowledgement, an escalation).

So an event is sent if and only if it happened: a receiver that is down, a broker restart or a process
killed with SIGKILL loses nothing — the row waits in the database until some process delivers it.
Delivery is at least once: a row is *claimed* by one process for a short lease (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL, as camera leases are, and a conditional update everywhere), and a claim that
dies with its process expires and the row is sent again — under the same ``event_id``, the idempotency
key the receiver deduplicates on. A failure is retried with exponential backoff and full jitter until
the endpoint's retry period (24 h by default) has passed; then the row is *abandoned* (counted, shown).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, delete, event, func, or_, select, update
from sqlalchemy.orm import Session

from vigil.clock import Clock, system_clock
from vigil.domain.payloads import AlertFacts, alert_body, camera_state_body
from vigil.domain.routing import Delivery, EventFacts, Route, deliveries
from vigil.domain.vocabulary import DeliveryStatus, EndpointKind, EventKind
from vigil.store.db import Database
from vigil.store.models import Alert, Camera, NotifyEndpoint, NotifyRule, OutboxDelivery, Subject

log = logging.getLogger(__name__)


def new_event_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Claimed:
    """A row this process holds for sending."""

    id: int
    event_id: str
    kind: str
    endpoint_id: str
    alert_id: str | None
    rule_id: str | None
    body: dict[str, Any]
    include_crop: bool
    include_photo: bool
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class EndpointLog:
    """The delivery log of one endpoint."""

    endpoint_id: str
    name: str
    kind: str
    active: bool
    pending: int
    delivered: int
    abandoned: int
    attempts: int
    last_status: int | None
    last_error: str
    lag_s: float  # the oldest undelivered event's age (0 when none waits)
    failing_since: datetime | None
    last_success_at: datetime | None
    flagged: bool  # failing for longer than the settings allow: shown to admins


class Deliverer(Protocol):
    """What a process runs to deliver the outbox (``vigil.notify.dispatcher.Dispatcher``)."""

    def start(self) -> None: ...

    def close(self) -> None: ...


def alert_facts(session: Session, alert: Alert) -> AlertFacts:
    """The facts of a stored alert that an event carries (read in the caller's transaction)."""
    category = session.scalar(select(Subject.category).where(Subject.id == alert.subject_id)) or ""
    place = session.execute(
        select(Camera.group_name, Camera.latitude, Camera.longitude).where(Camera.name == alert.camera)
    ).first()
    group, lat, lon = place if place is not None else ("", None, None)
    return AlertFacts(
        alert_id=alert.id,
        subject_id=alert.subject_id,
        category=category,
        camera=alert.camera,
        camera_group=group or "",
        latitude=lat,
        longitude=lon,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        score=alert.best_score,
        evidence=alert.evidence,
        status=alert.status,
        acknowledged_by=alert.acknowledged_by,
    )


class Outbox:
    """Writes events into the outbox (in the caller's transaction) and hands rows to the deliverers."""

    def __init__(self, db: Database, *, public_url: str, clock: Clock = system_clock) -> None:
        self.db = db
        self.public_url = public_url
        self.clock = clock
        self._wakers: list[Callable[[], None]] = []

    def on_enqueue(self, waker: Callable[[], None]) -> None:
        """``waker()`` after each commit that wrote rows: a deliverer in this process sends them at once."""
        self._wakers.append(waker)

    def _wake_after_commit(self, session: Session) -> None:
        def wake(_session: Session) -> None:
            for waker in self._wakers:
                try:
                    waker()
                except Exception:
                    log.exception("outbox waker failed")

        if self._wakers:
            event.listen(session, "after_commit", wake, once=True)

    # ------------------------------------------------------------ writing (in the event's transaction)
    @staticmethod
    def routes(session: Session) -> list[Route]:
        rows = session.execute(
            select(NotifyRule)
            .join(NotifyEndpoint, NotifyEndpoint.id == NotifyRule.endpoint_id)
            .where(
                NotifyRule.active.is_(True),
                NotifyRule.state == "approved",  # a proposed rule (it sends images) delivers nothing
                NotifyEndpoint.active.is_(True),
                NotifyEndpoint.suspended == "",  # its address fails the outbound guard: nothing is sent
            )
            .order_by(NotifyRule.created_at, NotifyRule.id)
        ).scalars()
        return [
            Route(
                rule_id=r.id,
                endpoint_id=r.endpoint_id,
                event_kinds=tuple(r.event_kinds or ()),
                categories=tuple(r.categories or ()),
                camera_groups=tuple(r.camera_groups or ()),
                min_score=r.min_score,
                include_crop=r.include_crop,
                include_photo=r.include_photo,
            )
            for r in rows
        ]

    def _retry_periods(self, session: Session, endpoint_ids: list[str]) -> dict[str, float]:
        rows = session.execute(
            select(NotifyEndpoint.id, NotifyEndpoint.retry_for_s).where(NotifyEndpoint.id.in_(endpoint_ids))
        ).all()
        return {endpoint_id: retry_for for endpoint_id, retry_for in rows}

    def _write(
        self,
        session: Session,
        kind: str,
        body_for: Callable[[str, datetime], dict[str, Any]],
        routed: list[Delivery],
        *,
        alert_id: str | None = None,
    ) -> int:
        """One event's rows, one per delivery, each retried for its endpoint's period; wakes this
        process's deliverer once the transaction commits."""
        if not routed:
            return 0
        now = self.clock()
        event_id = new_event_id()
        body = body_for(event_id, now)
        periods = self._retry_periods(session, [d.endpoint_id for d in routed])
        for delivery in routed:
            session.add(
                OutboxDelivery(
                    event_id=event_id,
                    kind=kind,
                    alert_id=alert_id,
                    endpoint_id=delivery.endpoint_id,
                    rule_id=delivery.rule_id,
                    body=body,
                    include_crop=delivery.include_crop,
                    include_photo=delivery.include_photo,
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=now,
                    abandon_at=now + timedelta(seconds=periods[delivery.endpoint_id]),
                    created_at=now,
                )
            )
        self._wake_after_commit(session)
        return len(routed)

    def enqueue_alert(self, session: Session, kind: EventKind, alert: Alert) -> int:
        """Route an event about ``alert`` (flushed in ``session``) and write its rows; returns how many."""
        routes = self.routes(session)
        if not routes:  # nothing is sent anywhere: the alert's facts need not be read
            return 0
        facts = alert_facts(session, alert)
        routed = deliveries(
            routes,
            EventFacts(kind=kind, category=facts.category, camera_group=facts.camera_group, score=facts.evidence),
        )

        def body(event_id: str, at: datetime) -> dict[str, Any]:
            return alert_body(kind, event_id, at, facts, public_url=self.public_url)

        return self._write(session, kind, body, routed, alert_id=alert.id)

    def enqueue_camera_state(self, camera: str, state: str) -> int:
        """A camera's new state, to every active MQTT endpoint (retained there; no personal data)."""
        with self.db.session() as session:
            endpoints = session.scalars(
                select(NotifyEndpoint.id).where(
                    NotifyEndpoint.active.is_(True),
                    NotifyEndpoint.suspended == "",
                    NotifyEndpoint.kind == EndpointKind.MQTT,
                )
            ).all()
            if not endpoints:
                return 0
            group = session.scalar(select(Camera.group_name).where(Camera.name == camera)) or ""

            def body(event_id: str, at: datetime) -> dict[str, Any]:
                return camera_state_body(event_id, at, camera, group, state)

            routed = [Delivery(endpoint_id, None) for endpoint_id in endpoints]
            return self._write(session, EventKind.CAMERA_STATE, body, routed)

    # ------------------------------------------------------------ delivering
    def due_endpoints(self) -> list[str]:
        """Endpoints with a row due now and not held by anyone."""
        now = self.clock()
        with self.db.session() as session:
            return list(
                session.scalars(
                    select(OutboxDelivery.endpoint_id).where(*self._due(now)).group_by(OutboxDelivery.endpoint_id)
                )
            )

    @staticmethod
    def _due(now: datetime) -> tuple[Any, ...]:
        return (
            OutboxDelivery.status == DeliveryStatus.PENDING,
            OutboxDelivery.next_attempt_at <= now,
            or_(OutboxDelivery.claimed_until.is_(None), OutboxDelivery.claimed_until < now),
        )

    def claim(self, endpoint_id: str, owner: str, *, limit: int, lease_s: float) -> list[Claimed]:
        """Up to ``limit`` due rows of one endpoint, oldest first, held by ``owner`` for ``lease_s``."""
        if limit <= 0:
            return []
        now = self.clock()
        until = now + timedelta(seconds=lease_s)
        claimed: list[Claimed] = []
        with self.db.session() as session:
            rows = session.scalars(
                select(OutboxDelivery)
                .where(OutboxDelivery.endpoint_id == endpoint_id, *self._due(now))
                .order_by(OutboxDelivery.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                moved = session.execute(
                    update(OutboxDelivery)
                    .where(OutboxDelivery.id == row.id, *self._due(now))
                    .values(claimed_by=owner, claimed_until=until, attempts=OutboxDelivery.attempts + 1)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    continue  # another process took it a moment ago (SQLite has no SKIP LOCKED)
                claimed.append(
                    Claimed(
                        id=row.id,
                        event_id=row.event_id,
                        kind=row.kind,
                        endpoint_id=row.endpoint_id,
                        alert_id=row.alert_id,
                        rule_id=row.rule_id,
                        body=dict(row.body),
                        include_crop=row.include_crop,
                        include_photo=row.include_photo,
                        attempts=row.attempts + 1,
                        created_at=row.created_at,
                    )
                )
        return claimed

    def delivered(self, row_id: int, *, status_code: int | None = None) -> None:
        now = self.clock()
        with self.db.session() as session:
            session.execute(
                update(OutboxDelivery)
                .where(OutboxDelivery.id == row_id, OutboxDelivery.status == DeliveryStatus.PENDING)
                .values(
                    status=DeliveryStatus.DELIVERED,
                    delivered_at=now,
                    claimed_by=None,
                    claimed_until=None,
                    last_status=status_code,
                    last_error="",
                )
                .execution_options(synchronize_session=False)
            )

    def failed(self, row_id: int, owner: str, *, error: str, retry_in_s: float, status_code: int | None = None) -> str:
        """Schedule the row's next attempt (or abandon it past its retry period); returns its status."""
        now = self.clock()
        retry_at = now + timedelta(seconds=retry_in_s)
        with self.db.session() as session:
            abandon_at = session.scalar(select(OutboxDelivery.abandon_at).where(OutboxDelivery.id == row_id))
            status = (
                DeliveryStatus.ABANDONED if abandon_at is not None and retry_at > abandon_at else DeliveryStatus.PENDING
            )
            session.execute(
                update(OutboxDelivery)
                .where(
                    OutboxDelivery.id == row_id,
                    OutboxDelivery.status == DeliveryStatus.PENDING,
                    OutboxDelivery.claimed_by == owner,
                )
                .values(
                    status=status,
                    next_attempt_at=retry_at,
                    claimed_by=None,
                    claimed_until=None,
                    last_status=status_code,
                    last_error=error[:500],
                )
                .execution_options(synchronize_session=False)
            )
        if status == DeliveryStatus.ABANDONED:
            log.warning("outbox row %d abandoned after its retry period: %s", row_id, error[:200])
        return status

    def endpoint_result(self, endpoint_id: str, *, ok: bool) -> None:
        now = self.clock()
        with self.db.session() as session:
            if ok:
                session.execute(
                    update(NotifyEndpoint)
                    .where(NotifyEndpoint.id == endpoint_id)
                    .values(last_success_at=now, failing_since=None, failing_flagged_at=None)
                    .execution_options(synchronize_session=False)
                )
            else:
                session.execute(
                    update(NotifyEndpoint)
                    .where(NotifyEndpoint.id == endpoint_id, NotifyEndpoint.failing_since.is_(None))
                    .values(failing_since=now)
                    .execution_options(synchronize_session=False)
                )

    def flag_failing(self, failing_after_s: float) -> list[str]:
        """Mark endpoints failing for longer than ``failing_after_s`` (each once, whichever process sees it
        first); returns the names newly flagged, for the caller to audit."""
        now = self.clock()
        limit = now - timedelta(seconds=failing_after_s)
        flagged: list[str] = []
        with self.db.session() as session:
            candidates = session.execute(
                select(NotifyEndpoint.id, NotifyEndpoint.name).where(
                    NotifyEndpoint.failing_since.is_not(None),
                    NotifyEndpoint.failing_since < limit,
                    NotifyEndpoint.failing_flagged_at.is_(None),
                )
            ).all()
            for endpoint_id, name in candidates:
                moved = session.execute(
                    update(NotifyEndpoint)
                    .where(NotifyEndpoint.id == endpoint_id, NotifyEndpoint.failing_flagged_at.is_(None))
                    .values(failing_flagged_at=now)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount == 1:  # type: ignore[attr-defined]
                    flagged.append(name)
        return flagged

    # ------------------------------------------------------------ the log
    def backlog(self) -> tuple[int, float]:
        """Deliveries waiting (to every endpoint) and the age in seconds of the oldest: one query, for a
        worker's ``/metrics`` (the control room's shows them per endpoint)."""
        with self.db.session() as session:
            waiting, oldest = session.execute(
                select(func.count(), func.min(OutboxDelivery.created_at)).where(
                    OutboxDelivery.status == DeliveryStatus.PENDING
                )
            ).one()
        lag = max(0.0, (self.clock() - oldest).total_seconds()) if oldest is not None else 0.0
        return int(waiting), lag

    def logs(self) -> list[EndpointLog]:
        now = self.clock()
        with self.db.session() as session:
            endpoints = session.scalars(select(NotifyEndpoint).order_by(NotifyEndpoint.name)).all()
            counts: dict[tuple[str, str], int] = {
                (endpoint_id, status): int(n)
                for endpoint_id, status, n in session.execute(
                    select(OutboxDelivery.endpoint_id, OutboxDelivery.status, func.count()).group_by(
                        OutboxDelivery.endpoint_id, OutboxDelivery.status
                    )
                ).all()
            }
            attempts = dict(
                session.execute(
                    select(OutboxDelivery.endpoint_id, func.sum(OutboxDelivery.attempts)).group_by(
                        OutboxDelivery.endpoint_id
                    )
                ).all()
            )
            oldest = dict(
                session.execute(
                    select(OutboxDelivery.endpoint_id, func.min(OutboxDelivery.created_at))
                    .where(OutboxDelivery.status == DeliveryStatus.PENDING)
                    .group_by(OutboxDelivery.endpoint_id)
                ).all()
            )
            logs = []
            for e in endpoints:
                last = session.execute(
                    select(OutboxDelivery.last_status, OutboxDelivery.last_error)
                    .where(OutboxDelivery.endpoint_id == e.id, OutboxDelivery.attempts > 0)
                    .order_by(OutboxDelivery.id.desc())
                    .limit(1)
                ).first()
                waiting_since = oldest.get(e.id)  # MIN() keeps the column's type: an aware datetime
                logs.append(
                    EndpointLog(
                        endpoint_id=e.id,
                        name=e.name,
                        kind=e.kind,
                        active=e.active,
                        pending=counts.get((e.id, DeliveryStatus.PENDING), 0),
                        delivered=counts.get((e.id, DeliveryStatus.DELIVERED), 0),
                        abandoned=counts.get((e.id, DeliveryStatus.ABANDONED), 0),
                        attempts=int(attempts.get(e.id) or 0),
                        last_status=last[0] if last else None,
                        last_error=last[1] if last else "",
                        lag_s=max(0.0, (now - waiting_since).total_seconds()) if waiting_since is not None else 0.0,
                        failing_since=e.failing_since,
                        last_success_at=e.last_success_at,
                        flagged=e.failing_flagged_at is not None,
                    )
                )
        return logs

    def prune_delivered(self, older_than_s: float) -> int:
        """Forget delivered and abandoned rows older than ``older_than_s`` (their bodies name people)."""
        limit = self.clock() - timedelta(seconds=older_than_s)
        with self.db.session() as session:
            result = session.execute(
                delete(OutboxDelivery).where(
                    and_(OutboxDelivery.status != DeliveryStatus.PENDING, OutboxDelivery.created_at < limit)
                )
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]
