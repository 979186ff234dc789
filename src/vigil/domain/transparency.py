"""The transparency report's figures: what Vigil did over a period, in counts — never faces or names.
(``vigil.reports`` writes them as HTML, CSV files and a PDF.)

Contents: faces analysed; alerts and their outcomes
(confirmed, rejected, inconclusive, still open) and the false-alert share (rejected of decided) by
camera, category and day; false alerts per face track analysed; threshold changes; the watchlist's
size over the period; retention runs; and, per authorisation active in the period, its results in the
format forces publish (period, cameras, faces analysed, alerts, confirmed, rejected as false, the
outcomes officers recorded, time to decide); and per category how quickly red flags were acknowledged
and decided, and how many escalated. Generating a report is itself audited.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select

from vigil.domain.adjudication import AlertService, ResponseTimes
from vigil.domain.audit import AuditLog
from vigil.domain.vocabulary import AlertStatus, Outcome
from vigil.store.db import Database
from vigil.store.models import (
    Adjudication,
    Alert,
    AlertOutcome,
    AnalysisCount,
    Authorisation,
    AuthorisationCount,
    Subject,
    ThresholdChange,
)

OUTCOMES = (AlertStatus.CONFIRMED, AlertStatus.REJECTED, AlertStatus.INCONCLUSIVE, "open")


ENGAGED = (Outcome.LOCATED, Outcome.SPOKEN_TO, Outcome.ARRESTED)  # an officer met the person


@dataclass(frozen=True)
class AuthorisationResult:
    """One authorisation's published results: counts only."""

    authorisation_id: str
    purpose: str
    starts_at: datetime
    until: datetime  # its end, or when it was ended early
    cameras: str  # names and groups, as listed on it
    faces_analysed: int
    face_tracks: int
    alerts: int
    confirmed: int
    rejected: int  # false alerts
    inconclusive: int
    open: int
    outcomes: dict[str, int]  # the latest recorded outcome per confirmed alert
    median_decision_s: float | None  # alert stored → decided
    p90_decision_s: float | None

    @property
    def engagements(self) -> int:
        return sum(self.outcomes.get(o, 0) for o in ENGAGED)

    @property
    def arrests(self) -> int:
        return self.outcomes.get(Outcome.ARRESTED, 0)


@dataclass
class ReportData:
    start: date
    end: date  # inclusive
    by_day: dict[date, Counter[str]] = field(default_factory=dict)
    by_camera: dict[str, Counter[str]] = field(default_factory=dict)
    by_category: dict[str, Counter[str]] = field(default_factory=dict)
    faces_by_day: dict[date, int] = field(default_factory=dict)
    tracks_by_camera: dict[str, int] = field(default_factory=dict)
    faces_by_camera: dict[str, int] = field(default_factory=dict)
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    watchlist_size: dict[date, int] = field(default_factory=dict)
    retention: list[dict[str, Any]] = field(default_factory=list)
    authorisations: list[AuthorisationResult] = field(default_factory=list)
    response: list[ResponseTimes] = field(default_factory=list)  # time to acknowledge and decide, per category

    @property
    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counts in self.by_day.values():
            total.update(counts)
        return total


def false_alert_share(counts: Counter[str]) -> float | None:
    decided = counts[AlertStatus.CONFIRMED] + counts[AlertStatus.REJECTED]
    return counts[AlertStatus.REJECTED] / decided if decided else None


def collect(db: Database, audit: AuditLog, start: date, end: date) -> ReportData:
    if end < start:
        raise ValueError("the report's end is before its start")
    t0 = datetime.combine(start, time.min, UTC)
    t1 = datetime.combine(end + timedelta(days=1), time.min, UTC)
    data = ReportData(start, end)
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    data.by_day = {d: Counter() for d in days}
    with db.session() as session:
        rows = session.execute(
            select(Alert.created_at, Alert.camera, Subject.category, Alert.status)
            .join(Subject, Subject.id == Alert.subject_id)
            .where(Alert.created_at >= t0, Alert.created_at < t1)
        ).all()
        counts = session.execute(
            select(AnalysisCount.day, AnalysisCount.camera, AnalysisCount.faces, AnalysisCount.tracks).where(
                AnalysisCount.day >= start, AnalysisCount.day <= end
            )
        ).all()
        changes = session.scalars(
            select(ThresholdChange)
            .where(ThresholdChange.at >= t0, ThresholdChange.at < t1)
            .order_by(ThresholdChange.id)
        ).all()
        data.thresholds = [
            {
                "at": c.at.isoformat(),
                "category": c.category,
                "before": c.before,
                "after": c.after,
                "by": c.changed_by,
                "reason": c.reason,
                "watchlist_size": c.watchlist_size,
                "expected_false_alert_rate": c.expected_false_alert_rate,
            }
            for c in changes
        ]
        for d in days:
            day_end = datetime.combine(d + timedelta(days=1), time.min, UTC)
            day_start = datetime.combine(d, time.min, UTC)
            data.watchlist_size[d] = int(
                session.scalar(
                    select(func.count())
                    .select_from(Subject)
                    .where(Subject.created_at < day_end, Subject.expires_at > day_start)
                )
                or 0
            )
    data.by_camera, data.by_category = defaultdict(Counter), defaultdict(Counter)
    for created, camera, category, status in rows:
        outcome = status if status in OUTCOMES else "open"
        data.by_day.setdefault(created.date(), Counter())[outcome] += 1
        data.by_camera[camera][outcome] += 1
        data.by_category[category][outcome] += 1
    data.faces_by_day = {d: 0 for d in days}
    for day, camera, faces, tracks in counts:
        data.faces_by_day[day] = data.faces_by_day.get(day, 0) + faces
        data.faces_by_camera[camera] = data.faces_by_camera.get(camera, 0) + faces
        data.tracks_by_camera[camera] = data.tracks_by_camera.get(camera, 0) + tracks
    data.retention = [
        {"at": e.at.isoformat(), "by": e.actor, **e.details}
        for e in reversed(audit.entries(limit=5000, action="retention-run"))
        if t0 <= e.at < t1
    ]
    data.authorisations = authorisation_results(db, t0, t1)
    data.response = AlertService(db).response_times(t0, t1)
    return data


@dataclass(frozen=True)
class AlertCount:
    camera: str
    category: str
    status: str
    alerts: int


def alert_counts(db: Database) -> list[AlertCount]:
    """Alerts by camera, category and status, all time (the control room's summary: counts only)."""
    with db.session() as session:
        rows = session.execute(
            select(Alert.camera, Subject.category, Alert.status, func.count())
            .join(Subject, Subject.id == Alert.subject_id)
            .group_by(Alert.camera, Subject.category, Alert.status)
        ).all()
    return [AlertCount(camera, category, status, int(n)) for camera, category, status, n in rows]


def authorisation_results(db: Database, t0: datetime, t1: datetime) -> list[AuthorisationResult]:
    """Results of every authorisation whose period overlaps [t0, t1), over its whole period, oldest first."""
    out = []
    with db.session() as session:
        signed = session.scalars(
            select(Authorisation).where(Authorisation.starts_at < t1, Authorisation.ends_at > t0)
        ).all()
        for a in sorted(signed, key=lambda a: (a.starts_at, a.id)):
            until = a.ends_at if a.ended_at is None else min(a.ends_at, a.ended_at)
            if until <= t0 or (a.ended_at is not None and a.ended_at <= a.starts_at):
                continue  # ended before it began: never scanned
            faces, tracks = session.execute(
                select(
                    func.coalesce(func.sum(AuthorisationCount.faces), 0),
                    func.coalesce(func.sum(AuthorisationCount.tracks), 0),
                ).where(AuthorisationCount.authorisation_id == a.id)
            ).one()
            alerts = session.execute(
                select(Alert.id, Alert.status, Alert.created_at).where(Alert.authorisation_id == a.id)
            ).all()
            status: Counter[str] = Counter(s if s in OUTCOMES else "open" for _, s, _ in alerts)
            created = {alert_id: at for alert_id, _, at in alerts}
            decided_at: dict[str, datetime] = {}
            latest: dict[str, str] = {}
            if created:
                for alert_id, at in session.execute(
                    select(Adjudication.alert_id, Adjudication.created_at)
                    .where(Adjudication.alert_id.in_(created))
                    .order_by(Adjudication.id)
                ).all():
                    decided_at[alert_id] = at  # the last decision closes it
                for alert_id, outcome in session.execute(
                    select(AlertOutcome.alert_id, AlertOutcome.outcome)
                    .where(AlertOutcome.alert_id.in_(created))
                    .order_by(AlertOutcome.id)
                ).all():
                    latest[alert_id] = outcome
            waits = [
                (decided_at[i] - created[i]).total_seconds()
                for i, s, _ in alerts
                if s in (AlertStatus.CONFIRMED, AlertStatus.REJECTED, AlertStatus.INCONCLUSIVE) and i in decided_at
            ]
            out.append(
                AuthorisationResult(
                    authorisation_id=a.id,
                    purpose=a.purpose,
                    starts_at=a.starts_at,
                    until=until,
                    cameras=", ".join([*a.cameras, *(f"group {g}" for g in a.camera_groups)]),
                    faces_analysed=int(faces),
                    face_tracks=int(tracks),
                    alerts=len(alerts),
                    confirmed=status[AlertStatus.CONFIRMED],
                    rejected=status[AlertStatus.REJECTED],
                    inconclusive=status[AlertStatus.INCONCLUSIVE],
                    open=status["open"],
                    outcomes=dict(Counter(latest.values())),
                    median_decision_s=float(np.median(waits)) if waits else None,
                    p90_decision_s=float(np.percentile(waits, 90)) if waits else None,
                )
            )
    return out
