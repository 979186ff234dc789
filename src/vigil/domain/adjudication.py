"""Alerts as people see and decide them: the queue, adjudication with reasons, sightings and trails.

Rules:
* Every decision needs a reason (at least ``MIN_REASON`` characters) and is kept with who and when.
* Only open alerts (pending, awaiting a second confirmation) can be decided.
* Confirming a subject of a high-risk category takes two people: the first confirmation moves the alert
  to ``awaiting-second``; a supervisor other than the first confirmer makes it ``confirmed``.
* A confirmed alert is a **sighting**; a subject's sightings in time order, placed at their cameras'
  locations, are the **trail**.
* After confirmation, officers record the **outcome** (located, not located, spoken to, arrested, other
  — "other" with a note); each record is kept, the latest counts, and each is audited with it.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from vigil.domain.alerts import TrackMatch, alert_row
from vigil.domain.audit import Actor, AuditLog, audit_change
from vigil.domain.outbox import Outbox
from vigil.domain.users import Principal
from vigil.domain.vocabulary import (
    OPEN_ALERT_STATUSES,
    AlertStatus,
    AuditAction,
    EventKind,
    FieldActionKind,
    Outcome,
    Role,
)
from vigil.errors import RuleError, VigilError
from vigil.store.db import Database
from vigil.store.models import (
    Adjudication,
    Alert,
    AlertOutcome,
    Camera,
    Category,
    FieldAction,
    Photo,
    Subject,
    User,
)

MIN_REASON = 3
MAX_NOTE = 2000
DECISIONS = (AlertStatus.CONFIRMED, AlertStatus.REJECTED, AlertStatus.INCONCLUSIVE)


class AdjudicationError(RuleError):
    """An adjudication that breaks a named rule."""


class AlertNotFoundError(VigilError):
    """No alert with that id."""


@dataclass(frozen=True)
class Decision:
    user: str
    role: str
    decision: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class OutcomeRecord:
    user: str
    outcome: str
    note: str
    at: datetime


@dataclass(frozen=True)
class FieldActionRecord:
    """An officer's action on a red flag from the field view."""

    alert_id: str
    action: str
    user: str
    acted_at: datetime  # when the officer tapped (the phone's clock, never later than its arrival)
    received_at: datetime


CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
FIELD_CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock this far ahead is believed; beyond, arrival time


@dataclass(frozen=True)
class AlertCase:
    """An alert as people decide it: the stored row with its subject, camera, photos, decisions and
    outcomes (served to the control room as ``web.schemas.AlertOut``)."""

    id: str
    subject_id: str
    subject_name: str
    category: str
    high_risk: bool
    camera: str
    latitude: float | None
    longitude: float | None
    first_seen: datetime
    last_seen: datetime
    score: float
    threshold: float
    faces: int
    status: str
    crop_name: str | None
    enrolled_photo: str | None
    created_at: datetime
    crop_missing: str | None = None  # why the crop is not there (it could not be written)
    decisions: tuple[Decision, ...] = ()
    evidence: float | None = None
    runner_up_subject_id: str | None = None  # a near-tie: both candidates go to the person deciding
    runner_up_name: str | None = None
    runner_up_score: float | None = None
    runner_up_photo: str | None = None
    authorisation_id: str | None = None  # the authorisation the camera was scanning under
    outcomes: tuple[OutcomeRecord, ...] = ()  # oldest first; the last is what happened
    camera_group: str = ""  # the camera's area (a police station's), for filtering and routing
    acknowledged_at: datetime | None = None  # "I'm on it"
    acknowledged_by: str | None = None
    escalated_at: datetime | None = None  # nobody acknowledged it in its category's time
    evidence_nats: float | None = None  # the track's evidence in nats and what the rule in force asked
    needed_nats: float | None = None  # of it (None: the vote rule, or stored before migration 0021)
    model: str | None = None  # the face model that decided it

    @property
    def band(self) -> Band:
        return evidence_band(self.evidence_nats, self.needed_nats, self.faces, self.evidence, self.threshold)

    @property
    def outcome(self) -> str | None:
        return self.outcomes[-1].outcome if self.outcomes else None


def _first_photo(subject_id):  # type: ignore[no-untyped-def]
    """The subject's first enrolled photo (a registered photo, not a template added from a sighting)."""
    return (
        select(Photo.media_name)
        .where(Photo.subject_id == subject_id, Photo.from_alert_id.is_(None))
        .order_by(Photo.created_at)
        .limit(1)
        .correlate(Alert)
        .scalar_subquery()
    )


def _query():  # type: ignore[no-untyped-def]
    runner_up = aliased(Subject)
    return (
        select(
            Alert,
            Subject.display_name,
            Subject.category,
            Category.high_risk,
            Camera.latitude,
            Camera.longitude,
            _first_photo(Alert.subject_id),
            runner_up.display_name,
            _first_photo(Alert.runner_up_subject_id),
            Camera.group_name,
        )
        .join(Subject, Subject.id == Alert.subject_id)
        .join(Category, Category.name == Subject.category)
        .outerjoin(Camera, Camera.name == Alert.camera)
        .outerjoin(runner_up, runner_up.id == Alert.runner_up_subject_id)
    )


def _view(row, decisions: tuple[Decision, ...] = (), outcomes: tuple[OutcomeRecord, ...] = ()) -> AlertCase:  # type: ignore[no-untyped-def]
    alert, name, category, high_risk, lat, lon, photo, runner_up_name, runner_up_photo, group = row
    return AlertCase(
        id=alert.id,
        subject_id=alert.subject_id,
        subject_name=name,
        category=category,
        high_risk=bool(high_risk),
        camera=alert.camera,
        latitude=lat,
        longitude=lon,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        score=alert.best_score,
        threshold=alert.threshold,
        faces=alert.faces,
        status=alert.status,
        crop_name=alert.crop_name,
        crop_missing=alert.crop_missing,
        enrolled_photo=photo,
        created_at=alert.created_at,
        decisions=decisions,
        evidence=alert.evidence,
        runner_up_subject_id=alert.runner_up_subject_id,
        runner_up_name=runner_up_name,
        runner_up_score=alert.runner_up_score,
        runner_up_photo=runner_up_photo,
        authorisation_id=alert.authorisation_id,
        outcomes=outcomes,
        camera_group=group or "",
        acknowledged_at=alert.acknowledged_at,
        acknowledged_by=alert.acknowledged_by,
        escalated_at=alert.escalated_at,
        evidence_nats=alert.evidence_nats,
        needed_nats=alert.needed_nats,
        model=alert.model,
    )


# Evidence bands (docs/control-room.md): how far the track's calibrated evidence went past what the rule
# in force asked of it, in nats — a log-likelihood ratio, so e^margin is how many times more strongly the
# track favours the subject over a stranger than the threshold demanded — and how many looks (faces whose
# best match is the subject) it rests on. Alerts without evidence in nats (the vote rule, or stored
# before migration 0021) are read as before, on the similarity one face would need.
BANDS = ("strong", "moderate", "weak")
STRONG_NATS = math.log(1000.0)  # ≈ 6.91: a thousand times what the threshold asked
MODERATE_NATS = math.log(10.0)  # ≈ 2.30: ten times
STRONG_LOOKS = 3
STRONG_SHARE = 0.5  # the similarity scale's (no nats): the share of the way from the threshold to 1
MODERATE_SHARE = 0.2


@dataclass(frozen=True)
class Band:
    """An alert's evidence band: a reading aid for the person deciding, not a probability."""

    name: str  # strong, moderate or weak
    scale: str  # "nats" (the calibrated evidence) or "similarity" (no evidence in nats was stored)
    margin: float  # past the threshold in force: nats, or the share of the way to a perfect similarity
    looks: int


def evidence_band(
    evidence_nats: float | None, needed_nats: float | None, looks: int, evidence: float | None, threshold: float
) -> Band:
    """The band of a track's evidence (see ``BANDS``)."""
    if evidence_nats is not None and needed_nats is not None:
        margin, scale, strong, moderate = evidence_nats - needed_nats, "nats", STRONG_NATS, MODERATE_NATS
    else:
        value = threshold if evidence is None else evidence
        margin = (value - threshold) / max(1e-9, 1.0 - threshold)
        scale, strong, moderate = "similarity", STRONG_SHARE, MODERATE_SHARE
    if margin >= strong and looks >= STRONG_LOOKS:
        name = "strong"
    elif margin >= moderate:
        name = "moderate"
    else:
        name = "weak"
    return Band(name, scale, margin, looks)


def band_condition(name: str) -> ColumnElement[bool]:
    """The SQL condition that selects alerts of band ``name`` (the same rule as :func:`evidence_band`)."""
    from sqlalchemy import and_, case, literal, or_

    nats = and_(Alert.evidence_nats.is_not(None), Alert.needed_nats.is_not(None))
    value = func.coalesce(Alert.evidence, Alert.threshold)
    margin = case(
        (nats, Alert.evidence_nats - Alert.needed_nats),
        else_=(value - Alert.threshold) / case((1.0 - Alert.threshold > 1e-9, 1.0 - Alert.threshold), else_=1e-9),
    )
    strong_at = case((nats, literal(STRONG_NATS)), else_=literal(STRONG_SHARE))
    moderate_at = case((nats, literal(MODERATE_NATS)), else_=literal(MODERATE_SHARE))
    strong = and_(margin >= strong_at, Alert.faces >= STRONG_LOOKS)
    if name == "strong":
        return strong
    if name == "moderate":
        return and_(~strong, margin >= moderate_at)
    if name == "weak":
        return ~or_(strong, margin >= moderate_at)
    raise ValueError(f"no evidence band {name!r}: one of {', '.join(BANDS)}")


@dataclass(frozen=True)
class EvidenceImage:
    name: str
    width: int
    height: int
    at: datetime | None = None
    iod_px: float | None = None


@dataclass(frozen=True)
class EnrolledPhoto:
    name: str
    added_at: datetime
    width: int
    height: int


@dataclass(frozen=True)
class AlertEvidence:
    """What the person deciding an alert sees beside the two faces (issue 28): the track's best faces and
    the scene frame, every enrolled photo of the subject with its date, the subject's category, legal
    basis and expiry, and the subject's earlier decided sightings."""

    alert_id: str
    band: Band
    seconds: float
    faces: tuple[EvidenceImage, ...]
    scene: EvidenceImage | None
    photos: tuple[EnrolledPhoto, ...]
    category: str
    high_risk: bool
    legal_basis_type: str
    legal_basis_reference: str
    expires_at: datetime
    earlier_decided: int
    earlier_confirmed: int
    last_confirmed_camera: str | None
    last_confirmed_at: datetime | None
    last_confirmed_latitude: float | None
    last_confirmed_longitude: float | None


@dataclass(frozen=True)
class AlertFilters:
    """What the Live page narrows its list to (each None: any): decided or not, the camera, the camera's
    area, the subject's category, the evidence band, when it was stored, and part of the subject's name."""

    decided_only: bool = False
    camera: str | None = None
    group: str | None = None
    category: str | None = None
    band: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    subject: str | None = None  # part of the subject's name, any case

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.decided_only:
            out.append(Alert.status.in_(DECISIONS))
        if self.camera is not None:
            out.append(Alert.camera == self.camera)
        if self.group is not None:
            out.append(Camera.group_name == self.group)
        if self.category is not None:
            out.append(Subject.category == self.category)
        if self.band is not None:
            out.append(band_condition(self.band))
        if self.since is not None:
            out.append(Alert.created_at >= self.since)
        if self.until is not None:
            out.append(Alert.created_at <= self.until)
        if self.subject:
            escaped = self.subject.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            out.append(func.lower(Subject.display_name).like(f"%{escaped.lower()}%", escape="\\"))
        return out


def page_mark(case: AlertCase) -> tuple[datetime, str]:
    """Where a page ending with ``case`` ends (newest-first order)."""
    return case.created_at, case.id


FACTS_TTL_S = 60.0  # how long a subject's photo and category risk, or a camera's place, are reused


@dataclass(frozen=True)
class _Facts:
    """What a new alert's case shows besides the match itself: rows that change rarely."""

    high_risk: bool
    photo: str | None
    runner_up_photo: str | None
    latitude: float | None
    longitude: float | None
    group: str = ""


@dataclass(frozen=True)
class ResponseTimes:
    """How quickly people took up and decided one category's red flags (seconds from stored)."""

    category: str
    alerts: int
    acknowledged: int
    decided: int
    escalated: int
    ack_p50_s: float | None
    ack_p95_s: float | None
    decide_p50_s: float | None
    decide_p95_s: float | None


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class AlertService:
    """``audit``: where decisions and outcomes are recorded, each in the transaction that stores it."""

    def __init__(self, db: Database, audit: AuditLog | None = None, *, outbox: Outbox | None = None) -> None:
        self.db = db
        self.audit = audit
        self.outbox = outbox  # decisions, acknowledgements and escalations are sent out through it
        self._facts: dict[tuple[str, str | None, str], tuple[float, _Facts]] = {}
        self._facts_lock = threading.Lock()

    def case_of_raised(self, match: TrackMatch) -> AlertCase:
        """The case of an alert this process has just stored, from the match it stored — not read back
        from the database. Only the rarely changing facts around it (the subject's enrolled photo, its
        category's risk, the camera's place) are read, and reused for ``FACTS_TTL_S``."""
        if match.alert_id is None or match.stored_at is None:
            raise ValueError("only a stored match has a case")
        facts = self._facts_for(match.subject_id, match.runner_up_id, match.camera)
        row = alert_row(match, crop_name=match.crop_name)
        row.id, row.status = match.alert_id, AlertStatus.PENDING
        row.created_at = datetime.fromtimestamp(match.stored_at, UTC)
        return _view(
            (
                row,
                match.subject_name,
                match.category,
                facts.high_risk,
                facts.latitude,
                facts.longitude,
                facts.photo,
                match.runner_up_name,
                facts.runner_up_photo,
                facts.group,
            )
        )

    def _facts_for(self, subject_id: str, runner_up_id: str | None, camera: str) -> _Facts:
        key = (subject_id, runner_up_id, camera)
        now = time.monotonic()
        with self._facts_lock:
            cached = self._facts.get(key)
        if cached is not None and now - cached[0] < FACTS_TTL_S:
            return cached[1]
        with self.db.session() as session:
            high_risk = session.scalar(
                select(Category.high_risk)
                .join(Subject, Subject.category == Category.name)
                .where(Subject.id == subject_id)
            )
            place = session.execute(
                select(Camera.latitude, Camera.longitude, Camera.group_name).where(Camera.name == camera)
            ).first()
            photos = [
                session.scalar(
                    select(Photo.media_name)
                    .where(Photo.subject_id == sid, Photo.from_alert_id.is_(None))
                    .order_by(Photo.created_at)
                    .limit(1)
                )
                if sid is not None
                else None
                for sid in (subject_id, runner_up_id)
            ]
        facts = _Facts(bool(high_risk), photos[0], photos[1], *(place or (None, None, "")))
        with self._facts_lock:
            if len(self._facts) > 10_000:
                self._facts.clear()
            self._facts[key] = (now, facts)
        return facts

    def recent(
        self,
        *,
        status: str | None = None,
        open_only: bool = False,
        limit: int = 100,
        after: tuple[datetime, str] | None = None,
        filters: AlertFilters | None = None,
    ) -> list[AlertCase]:
        """Newest first; ``after`` (a case's (created_at, id), see :func:`page_mark`) starts the page just
        after that case, so pages stay put while new alerts arrive; ``filters`` narrow the list."""
        query = _query().order_by(Alert.created_at.desc(), Alert.id.desc()).limit(max(1, min(limit, 1000)))
        if after is not None:
            created, alert_id = after
            query = query.where((Alert.created_at < created) | ((Alert.created_at == created) & (Alert.id < alert_id)))
        if status is not None:
            query = query.where(Alert.status == status)
        if open_only:
            query = query.where(Alert.status.in_(OPEN_ALERT_STATUSES))
        if filters is not None:
            query = query.where(*filters.conditions())
        with self.db.session() as session:
            return [_view(row) for row in session.execute(query).all()]

    def categories(self) -> list[str]:
        """Every category's name (what the Live page's category filter offers)."""
        with self.db.session() as session:
            return sorted(session.scalars(select(Category.name)))

    def created_since(self, since: datetime, limit: int = 1000) -> list[tuple[str, datetime]]:
        """(id, stored at) of alerts stored at or after ``since``, oldest first."""
        with self.db.session() as session:
            rows = session.execute(
                select(Alert.id, Alert.created_at)
                .where(Alert.created_at >= since)
                .order_by(Alert.created_at)
                .limit(limit)
            ).all()
        return [(alert_id, created) for alert_id, created in rows]

    def open_count(self) -> int:
        with self.db.session() as session:
            query = select(func.count()).select_from(Alert).where(Alert.status.in_(OPEN_ALERT_STATUSES))
            return int(session.scalar(query) or 0)

    def get(self, alert_id: str) -> AlertCase:
        with self.db.session() as session:
            row = session.execute(_query().where(Alert.id == alert_id)).first()
            if row is None:
                raise AlertNotFoundError(f"no alert {alert_id!r}")
            return _view(row, self._decisions(session, alert_id), self._outcomes(session, alert_id))

    def evidence(self, alert_id: str) -> AlertEvidence:
        """The evidence beside the two faces (see ``AlertEvidence``)."""
        import json

        with self.db.session() as session:
            row = session.execute(
                select(Alert, Subject, Category.high_risk)
                .join(Subject, Subject.id == Alert.subject_id)
                .join(Category, Category.name == Subject.category)
                .where(Alert.id == alert_id)
            ).first()
            if row is None:
                raise AlertNotFoundError(f"no alert {alert_id!r}")
            alert, subject, high_risk = row
            media = json.loads(alert.evidence_media) if alert.evidence_media else {"faces": [], "scene": None}
            faces = tuple(
                EvidenceImage(f["name"], f["width"], f["height"], datetime.fromisoformat(f["at"]), f["iod_px"])
                for f in media["faces"]
            )
            scene = media.get("scene")
            photos = session.execute(
                select(Photo.media_name, Photo.created_at, Photo.width, Photo.height)
                .where(Photo.subject_id == subject.id)
                .order_by(Photo.created_at)
            ).all()
            decided = (AlertStatus.CONFIRMED, AlertStatus.REJECTED, AlertStatus.INCONCLUSIVE)
            earlier = Alert.subject_id == subject.id, Alert.id != alert.id, Alert.first_seen < alert.first_seen
            counts = session.execute(
                select(Alert.status, func.count()).where(*earlier, Alert.status.in_(decided)).group_by(Alert.status)
            ).all()
            last = session.execute(
                select(Alert.camera, Alert.last_seen, Camera.latitude, Camera.longitude)
                .outerjoin(Camera, Camera.name == Alert.camera)
                .where(*earlier, Alert.status == AlertStatus.CONFIRMED)
                .order_by(Alert.last_seen.desc())
                .limit(1)
            ).first()
            by_status = dict(counts)
            return AlertEvidence(
                alert_id=alert.id,
                band=evidence_band(
                    alert.evidence_nats, alert.needed_nats, alert.faces, alert.evidence, alert.threshold
                ),
                seconds=max(0.0, (alert.last_seen - alert.first_seen).total_seconds()),
                faces=faces,
                scene=None if not scene else EvidenceImage(scene["name"], scene["width"], scene["height"]),
                photos=tuple(EnrolledPhoto(n, at, w, h) for n, at, w, h in photos),
                category=subject.category,
                high_risk=bool(high_risk),
                legal_basis_type=subject.legal_basis_type,
                legal_basis_reference=subject.legal_basis_reference,
                expires_at=subject.expires_at,
                earlier_decided=sum(by_status.values()),
                earlier_confirmed=by_status.get(AlertStatus.CONFIRMED, 0),
                last_confirmed_camera=None if last is None else last[0],
                last_confirmed_at=None if last is None else last[1],
                last_confirmed_latitude=None if last is None else last[2],
                last_confirmed_longitude=None if last is None else last[3],
            )

    @staticmethod
    def _outcomes(session: Session, alert_id: str) -> tuple[OutcomeRecord, ...]:
        rows = session.execute(
            select(AlertOutcome, User.username)
            .join(User, User.id == AlertOutcome.user_id)
            .where(AlertOutcome.alert_id == alert_id)
            .order_by(AlertOutcome.id)
        ).all()
        return tuple(OutcomeRecord(username, o.outcome, o.note, o.created_at) for o, username in rows)

    def record_outcome(self, alert_id: str, who: Principal, outcome: str, note: str, *, source: str = "") -> AlertCase:
        """Record what happened after a confirmed sighting; audited in the same transaction."""
        if outcome not in tuple(Outcome):
            raise AdjudicationError("outcome", f"{outcome!r}: use one of {', '.join(tuple(Outcome))}")
        note = note.strip()
        if outcome == Outcome.OTHER and len(note) < MIN_REASON:
            raise AdjudicationError("outcome-note", "say what happened")
        if len(note) > MAX_NOTE:
            raise AdjudicationError("outcome-note", f"at most {MAX_NOTE} characters")
        if who.role not in (Role.OPERATOR, Role.SUPERVISOR):
            raise AdjudicationError("role", "only operators and supervisors record outcomes")
        with self.db.session() as session:
            status = session.scalar(select(Alert.status).where(Alert.id == alert_id))
            if status is None:
                raise AlertNotFoundError(f"no alert {alert_id!r}")
            if status != AlertStatus.CONFIRMED:
                raise AdjudicationError("outcome-unconfirmed", f"the alert is {status}: outcomes follow a confirmation")
            session.add(AlertOutcome(alert_id=alert_id, user_id=who.user_id, outcome=outcome, note=note))
            audit_change(
                self.audit,
                session,
                Actor(who.username, source),
                AuditAction.ALERT_OUTCOME_RECORDED,
                object_type="alert",
                object_id=alert_id,
                details={"outcome": outcome, "note": note},
            )
        return self.get(alert_id)

    @staticmethod
    def _decisions(session: Session, alert_id: str) -> tuple[Decision, ...]:
        rows = session.execute(
            select(Adjudication, User.username, User.role)
            .join(User, User.id == Adjudication.user_id)
            .where(Adjudication.alert_id == alert_id)
            .order_by(Adjudication.id)
        ).all()
        return tuple(Decision(username, role, a.decision, a.reason, a.created_at) for a, username, role in rows)

    def decide(self, alert_id: str, who: Principal, decision: str, reason: str, *, source: str = "") -> AlertCase:
        """Record ``who``'s decision (with its reason) and move the alert on; the audit entry commits with
        it, or neither does."""
        if decision not in DECISIONS:
            raise AdjudicationError("decision", f"{decision!r}: use one of {', '.join(DECISIONS)}")
        reason = reason.strip()
        if len(reason) < MIN_REASON:
            raise AdjudicationError("reason", "give the reason for the decision")
        if who.role not in (Role.OPERATOR, Role.SUPERVISOR):
            raise AdjudicationError("role", "only operators and supervisors decide alerts")
        with self.db.session() as session:
            alert = session.scalar(select(Alert).where(Alert.id == alert_id).with_for_update())
            if alert is None:
                raise AlertNotFoundError(f"no alert {alert_id!r}")
            if alert.status not in OPEN_ALERT_STATUSES:
                raise AdjudicationError("closed", f"the alert is {alert.status} already")
            high_risk = session.scalar(
                select(Category.high_risk)
                .join(Subject, Subject.category == Category.name)
                .where(Subject.id == alert.subject_id)
            )
            new_status = decision
            if decision == AlertStatus.CONFIRMED and high_risk:
                if alert.status == AlertStatus.PENDING:
                    new_status = AlertStatus.AWAITING_SECOND
                else:
                    first = session.scalar(
                        select(Adjudication.user_id)
                        .where(Adjudication.alert_id == alert_id, Adjudication.decision == AlertStatus.CONFIRMED)
                        .order_by(Adjudication.id)
                        .limit(1)
                    )
                    if who.role != Role.SUPERVISOR:
                        raise AdjudicationError("second-confirmation", "a supervisor must give the second confirmation")
                    if first == who.user_id:
                        raise AdjudicationError(
                            "second-confirmation", "the second confirmation must come from another person"
                        )
            # Conditional on the status read above: of two decisions racing on one alert exactly one
            # moves it (``FOR UPDATE`` serialises them on PostgreSQL; SQLite ignores it, this does not).
            moved = session.execute(
                update(Alert)
                .where(Alert.id == alert_id, Alert.status == alert.status)
                .values(status=new_status, updated_at=datetime.now(UTC))
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise AdjudicationError("closed", "someone else decided the alert a moment ago")
            session.add(Adjudication(alert_id=alert_id, user_id=who.user_id, decision=decision, reason=reason))
            audit_change(
                self.audit,
                session,
                Actor(who.username, source),
                AuditAction.ALERT_DECIDED,
                object_type="alert",
                object_id=alert_id,
                details={"decision": decision, "status": new_status, "reason": reason},
            )
            if new_status != AlertStatus.AWAITING_SECOND:
                self._send(session, EventKind(new_status), alert_id)
        return self.get(alert_id)

    def _send(self, session: Session, kind: EventKind, alert_id: str) -> None:
        """Write the event into the outbox in this transaction, with the alert as it now stands (its row is
        re-read: the change was a conditional UPDATE, not an edit of the loaded object)."""
        if self.outbox is None:
            return
        alert = session.get(Alert, alert_id)
        if alert is not None:
            session.refresh(alert)
            self.outbox.enqueue_alert(session, kind, alert)

    def acknowledge(self, alert_id: str, who: Principal, *, source: str = "") -> AlertCase:
        """ "I'm on it": the first acknowledgement of an open red flag is kept (who, when), audited and sent
        out; it stops the escalation. Acknowledging again changes nothing."""
        if who.role not in (Role.OPERATOR, Role.SUPERVISOR):
            raise AdjudicationError("role", "only operators and supervisors acknowledge red flags")
        with self.db.session() as session:
            alert = session.scalar(select(Alert).where(Alert.id == alert_id))
            if alert is None:
                raise AlertNotFoundError(f"no alert {alert_id!r}")
            if alert.acknowledged_at is None:
                if alert.status not in OPEN_ALERT_STATUSES:
                    raise AdjudicationError("closed", f"the alert is {alert.status}: nothing to acknowledge")
                self._take_up(session, alert_id, who, source)
        return self.get(alert_id)

    def _take_up(self, session: Session, alert_id: str, who: Principal, source: str) -> bool:
        """Mark the red flag acknowledged by ``who`` unless someone was first (audited, sent out)."""
        moved = session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.acknowledged_at.is_(None))
            .values(acknowledged_at=datetime.now(UTC), acknowledged_by=who.username)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return False
        audit_change(
            self.audit,
            session,
            Actor(who.username, source),
            AuditAction.ALERT_ACKNOWLEDGED,
            object_type="alert",
            object_id=alert_id,
        )
        self._send(session, EventKind.ACKNOWLEDGED, alert_id)
        return True

    def field_action(
        self,
        alert_id: str,
        who: Principal,
        action: str,
        *,
        client_id: str,
        acted_at: datetime | None = None,
        source: str = "",
    ) -> tuple[FieldActionRecord, bool]:
        """Record an officer's action from the field view — acknowledge, on my way, not found — with when it
        was tapped (``acted_at``, the phone's clock: an action queued offline arrives later), audited in
        the same transaction. ``acknowledge`` is also the red flag's acknowledgement when it is open and
        nobody was first. ``client_id`` is the phone's id for the action: sending it again (the answer was
        lost) records nothing more. Returns the record and whether it is new."""
        if who.role not in (Role.OPERATOR, Role.SUPERVISOR):
            raise AdjudicationError("role", "only operators and supervisors act on red flags")
        if action not in set(FieldActionKind):
            raise AdjudicationError("action", f"{action!r}: one of {', '.join(FieldActionKind)}")
        if not CLIENT_ID.match(client_id):
            raise AdjudicationError("client-id", "the action's id: 8-64 letters, digits, '-' or '_'")
        now = datetime.now(UTC)
        tapped = now if acted_at is None else acted_at.astimezone(UTC)
        if tapped > now + FIELD_CLOCK_SKEW:
            tapped = now  # a phone clock far ahead is not believed
        tapped = min(tapped, now)
        try:
            with self.db.session() as session:
                alert = session.get(Alert, alert_id)
                if alert is None:
                    raise AlertNotFoundError(f"no alert {alert_id!r}")
                held = self._held_action(session, who, client_id, alert_id, action)
                if held is not None:
                    return held, False
                row = FieldAction(
                    alert_id=alert_id,
                    user_id=who.user_id,
                    action=action,
                    client_id=client_id,
                    acted_at=tapped,
                    created_at=now,
                )
                session.add(row)
                session.flush()
                audit_change(
                    self.audit,
                    session,
                    Actor(who.username, source),
                    AuditAction.ALERT_FIELD_ACTION,
                    object_type="alert",
                    object_id=alert_id,
                    details={
                        "action": action,
                        "acted_at": tapped.isoformat(),
                        "delayed_s": round((now - tapped).total_seconds()),
                    },
                )
                if (
                    action == FieldActionKind.ACKNOWLEDGE
                    and alert.acknowledged_at is None
                    and alert.status in OPEN_ALERT_STATUSES
                ):
                    self._take_up(session, alert_id, who, source)
                record = FieldActionRecord(alert_id, action, who.username, tapped, now)
        except IntegrityError:  # the same action arrived twice at once: the other one recorded it
            with self.db.session() as session:
                held = self._held_action(session, who, client_id, alert_id, action)
            if held is None:
                raise
            return held, False
        return record, True

    @staticmethod
    def _held_action(
        session: Session, who: Principal, client_id: str, alert_id: str, action: str
    ) -> FieldActionRecord | None:
        row = session.scalar(
            select(FieldAction).where(FieldAction.user_id == who.user_id, FieldAction.client_id == client_id)
        )
        if row is None:
            return None
        if row.alert_id != alert_id or row.action != action:
            raise AdjudicationError("client-id", "that action id was already used for another action")
        return FieldActionRecord(row.alert_id, row.action, who.username, row.acted_at, row.created_at)

    def field_actions(self, alert_ids: list[str], user_id: str) -> dict[str, list[FieldActionRecord]]:
        """This officer's actions on these red flags, oldest first."""
        out: dict[str, list[FieldActionRecord]] = {}
        if not alert_ids:
            return out
        with self.db.session() as session:
            rows = session.execute(
                select(FieldAction, User.username)
                .join(User, User.id == FieldAction.user_id)
                .where(FieldAction.alert_id.in_(alert_ids), FieldAction.user_id == user_id)
                .order_by(FieldAction.acted_at, FieldAction.id)
            ).all()
        for row, username in rows:
            out.setdefault(row.alert_id, []).append(
                FieldActionRecord(row.alert_id, row.action, username, row.acted_at, row.created_at)
            )
        return out

    def for_officer(
        self, groups: list[str], who: Principal, *, shift_start: datetime, limit: int = 50
    ) -> list[AlertCase]:
        """A field officer's red flags, newest first: the open ones of the officer's camera groups (none:
        every camera), and — for the shift, since ``shift_start`` — every one the officer acknowledged or
        acted on from the field view, decided or not, in the officer's areas or not."""
        mine = (
            select(FieldAction.alert_id)
            .where(FieldAction.user_id == who.user_id, FieldAction.created_at >= shift_start)
            .scalar_subquery()
        )
        query = (
            _query()
            .where(
                or_(
                    Alert.id.in_(mine),
                    and_(Alert.acknowledged_by == who.username, Alert.acknowledged_at >= shift_start),
                )
            )
            .order_by(Alert.created_at.desc(), Alert.id.desc())
            .limit(200)
        )
        with self.db.session() as session:
            kept = [_view(row) for row in session.execute(query).all()]
        cases = {case.id: case for case in self.open_in_groups(groups, limit=limit)}
        for case in kept:
            cases.setdefault(case.id, case)
        return sorted(cases.values(), key=lambda c: (c.created_at, c.id), reverse=True)

    def escalate_due(self, now: datetime | None = None, *, lookback: timedelta = timedelta(days=2)) -> list[str]:
        """Escalate every open red flag nobody acknowledged within its category's time (each once, whichever
        process gets there first): marked, audited and sent out (to the rules for ``escalated``). Returns
        the ids escalated now."""
        now = now or datetime.now(UTC)
        escalated: list[str] = []
        with self.db.session() as session:
            candidates = session.execute(
                select(Alert.id, Alert.created_at, Category.ack_within_s, Category.name)
                .join(Subject, Subject.id == Alert.subject_id)
                .join(Category, Category.name == Subject.category)
                .where(
                    Category.ack_within_s.is_not(None),
                    Alert.acknowledged_at.is_(None),
                    Alert.escalated_at.is_(None),
                    Alert.status.in_(OPEN_ALERT_STATUSES),
                    Alert.created_at >= now - lookback,
                )
            ).all()
            for alert_id, created, within_s, category in candidates:
                if within_s is None or created + timedelta(seconds=within_s) > now:
                    continue
                moved = session.execute(
                    update(Alert)
                    .where(Alert.id == alert_id, Alert.escalated_at.is_(None), Alert.acknowledged_at.is_(None))
                    .values(escalated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                audit_change(
                    self.audit,
                    session,
                    Actor("system"),
                    AuditAction.ALERT_ESCALATED,
                    object_type="alert",
                    object_id=alert_id,
                    details={"category": category, "unacknowledged_s": within_s},
                )
                self._send(session, EventKind.ESCALATED, alert_id)
                escalated.append(alert_id)
        return escalated

    def open_in_groups(self, groups: list[str], *, limit: int = 50) -> list[AlertCase]:
        """Open red flags of cameras in ``groups`` (none: every camera), newest first: a field officer's list."""
        query = (
            _query()
            .where(Alert.status.in_(OPEN_ALERT_STATUSES))
            .order_by(Alert.created_at.desc(), Alert.id.desc())
            .limit(max(1, min(limit, 200)))
        )
        if groups:
            query = query.where(Camera.group_name.in_(groups))
        with self.db.session() as session:
            return [_view(row) for row in session.execute(query).all()]

    def last_sightings(self, subject_id: str, count: int = 3) -> list[AlertCase]:
        """The subject's latest confirmed sightings, newest first."""
        query = (
            _query()
            .where(Alert.subject_id == subject_id, Alert.status == AlertStatus.CONFIRMED)
            .order_by(Alert.first_seen.desc())
            .limit(count)
        )
        with self.db.session() as session:
            return [_view(row) for row in session.execute(query).all()]

    def sightings(self, subject_id: str) -> list[AlertCase]:
        """The subject's confirmed alerts, oldest first: the movement trail."""
        query = (
            _query()
            .where(Alert.subject_id == subject_id, Alert.status == AlertStatus.CONFIRMED)
            .order_by(Alert.first_seen)
        )
        with self.db.session() as session:
            return [_view(row) for row in session.execute(query).all()]

    def response_times(self, since: datetime, until: datetime | None = None) -> list[ResponseTimes]:
        """Per category, for alerts stored in [since, until): time to acknowledge and time to the first
        decision (nearest-rank p50 and p95), and how many escalated."""
        first_decision = (
            select(Adjudication.alert_id, func.min(Adjudication.created_at).label("at"))
            .group_by(Adjudication.alert_id)
            .subquery()
        )
        query = (
            select(Subject.category, Alert.created_at, Alert.acknowledged_at, Alert.escalated_at, first_decision.c.at)
            .join(Subject, Subject.id == Alert.subject_id)
            .outerjoin(first_decision, first_decision.c.alert_id == Alert.id)
            .where(Alert.created_at >= since)
        )
        if until is not None:
            query = query.where(Alert.created_at < until)
        per: dict[str, list[tuple[datetime, datetime | None, datetime | None, datetime | None]]] = {}
        with self.db.session() as session:
            for category, created, acked, escalated, decided in session.execute(query).all():
                per.setdefault(category, []).append((created, acked, escalated, decided))
        out = []
        for category, rows in sorted(per.items()):
            ack = [(a - c).total_seconds() for c, a, _, _ in rows if a is not None]
            decide = [(d - c).total_seconds() for c, _, _, d in rows if d is not None]
            out.append(
                ResponseTimes(
                    category=category,
                    alerts=len(rows),
                    acknowledged=len(ack),
                    decided=len(decide),
                    escalated=sum(1 for _, _, e, _ in rows if e is not None),
                    ack_p50_s=_quantile(ack, 0.5),
                    ack_p95_s=_quantile(ack, 0.95),
                    decide_p50_s=_quantile(decide, 0.5),
                    decide_p95_s=_quantile(decide, 0.95),
                )
            )
        return out
