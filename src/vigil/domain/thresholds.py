"""Operating thresholds per category, set on purpose from measured error rates (docs/calibration.md).

* Error curves of the active embedder version: the latest stored calibration (``vigil calibrate``),
  else the curves the project measured and ships for a bundled embedder.
* Each category states a policy — false alerts per 1,000 passers-by — and its decision rule follows
  from the curves and the current watchlist size (``category_rules``); a threshold set by hand
  overrides the policy and is recorded. Thresholds are recommended per category for a target.
* Setting a threshold is refused below the validated floor (or, before any calibration, below the
  embedder's provisional default), and recorded: who, why, before, after, and the expected error rates.
* Live figures per camera and category come from adjudication outcomes and the analysis counts; a
  warning is raised when the observed false-alert rate drifts above the calibrated expectation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
from sqlalchemy import func, select

from vigil.clock import Clock, system_clock
from vigil.domain.audit import Actor, AuditLog
from vigil.domain.vocabulary import AlertStatus, AuditAction, SubjectStatus
from vigil.errors import RuleError
from vigil.recognition.calibration import (
    DEFAULT_FALSE_ALERTS_PER_1000,
    CategoryPolicy,
    ErrorCurves,
    ScoreCurve,
    category_rule,
    passerby_false_alert_rate,
    score_curve,
    shipped_curves,
    validated_floor,
)
from vigil.recognition.decision import DecisionRule
from vigil.recognition.fusion import FaceScoreModel
from vigil.recognition.looks import LookModel
from vigil.store.db import Database
from vigil.store.models import Alert, AnalysisCount, Calibration, Category, Subject, ThresholdChange
from vigil.vision.catalogue import default_threshold

DRIFT_FACTOR = 2.0
DRIFT_MIN_REJECTED = 3


class ThresholdError(RuleError):
    """A threshold request that breaks a named rule."""


@dataclass(frozen=True)
class CategoryThreshold:
    category: str
    high_risk: bool
    threshold: float
    calibrated: bool  # set by hand (False: from the policy, or the embedder's provisional default)
    watchlist_size: int
    expected_false_alert_rate: float | None
    expected_miss_rate: float | None
    floor: float | None
    false_alerts_per_1000: float = DEFAULT_FALSE_ALERTS_PER_1000  # the category's policy
    rule: str = "votes"  # "looks+pooled" (etc., round two), "fused" (issue 12) or "votes"
    source: str = "provisional"  # "set" by hand, "policy" (from the curves), "provisional"
    expected_hit_rate: float | None = None  # a track at the threshold (one face, without a track curve)


def load_curves(db: Database, embedder: str, version: str) -> ErrorCurves | None:
    """The active embedder version's error curves: the latest stored calibration, else the shipped ones."""
    with db.session() as session:
        row = session.scalar(
            select(Calibration)
            .where(Calibration.embedder == embedder, Calibration.version == version)
            .order_by(Calibration.id.desc())
            .limit(1)
        )
        if row is not None:
            model, tracks = row.curve.get("score_model"), row.curve.get("track_curve")
            looks = row.curve.get("look_model")
            return ErrorCurves(
                ScoreCurve.from_json(row.curve),
                FaceScoreModel.from_json(model) if isinstance(model, dict) else None,
                f"calibration #{row.id}: {row.source}",
                ScoreCurve.from_json(tracks) if isinstance(tracks, dict) else None,
                LookModel.from_json(looks) if isinstance(looks, dict) else None,
            )
    return shipped_curves(embedder, version)


def policy_of(category: Category) -> CategoryPolicy:
    """What the operator stated for a category, as the rule derivation reads it."""
    return CategoryPolicy(category.false_alerts_per_1000, category.min_faces, category.match_threshold)


def category_rules(
    db: Database, embedder: str, version: str, watchlist_size: int
) -> dict[str, tuple[DecisionRule, CategoryPolicy]]:
    """Every category's decision rule at this watchlist size (what the live pipeline decides by)."""
    curves = load_curves(db, embedder, version)
    provisional = default_threshold(embedder)
    out = {}
    with db.session() as session:
        for category in session.scalars(select(Category)):
            policy = policy_of(category)
            out[category.name] = (category_rule(curves, policy, watchlist_size, provisional)[0], policy)
    return out


@dataclass(frozen=True)
class LiveFigure:
    camera: str
    category: str
    alerts: int
    confirmed: int
    rejected: int
    inconclusive: int
    tracks: int
    observed_false_alert_rate: float | None  # rejected per track analysed
    expected_false_alert_rate: float | None
    drift: bool


class ThresholdService:
    def __init__(self, db: Database, audit: AuditLog, embedder: str, version: str) -> None:
        self.db = db
        self.audit = audit
        self.embedder = embedder
        self.version = version

    # ------------------------------------------------------------ calibrations
    def store_calibration(
        self,
        genuine: np.ndarray,
        impostor: np.ndarray,
        source: str,
        actor: str,
        *,
        model: FaceScoreModel | None = None,
        tracks: ScoreCurve | None = None,
        looks: LookModel | None = None,
    ) -> ScoreCurve:
        """Store measured curves (and the fusion model and track-level curve fitted to them): from now on
        they replace the shipped ones for this embedder version."""
        curve = score_curve(genuine, impostor)
        document = curve.as_json()
        if model is not None:
            document["score_model"] = model.as_json()
        if tracks is not None:
            document["track_curve"] = tracks.as_json()
        if looks is not None:
            document["look_model"] = looks.as_json()
        with self.db.session() as session:
            session.add(
                Calibration(
                    embedder=self.embedder,
                    version=self.version,
                    source=source[:255],
                    curve=document,
                    floor=validated_floor(curve),
                )
            )
            session.flush()
            self.audit.record_change(
                session,
                Actor(actor, "calibrate"),
                AuditAction.CALIBRATION_STORED,
                details={
                    "embedder": self.embedder,
                    "version": self.version,
                    "genuine": curve.genuine,
                    "impostor": curve.impostor,
                    "floor": validated_floor(curve),
                    "data": source,
                    "rho": None if model is None else model.rho,
                },
            )
        return curve

    def curves(self) -> ErrorCurves | None:
        return load_curves(self.db, self.embedder, self.version)

    def latest_calibration_id(self) -> int | None:
        """The id of this embedder version's latest stored calibration, if any."""
        with self.db.session() as session:
            return session.scalar(
                select(Calibration.id)
                .where(Calibration.embedder == self.embedder, Calibration.version == self.version)
                .order_by(Calibration.id.desc())
                .limit(1)
            )

    def curve(self) -> ScoreCurve | None:
        """The active embedder version's per-face error curve (calibrated, else shipped), if any."""
        curves = self.curves()
        return curves.curve if curves is not None else None

    def watchlist_size(self) -> int:
        with self.db.session() as session:
            return int(
                session.scalar(select(func.count()).select_from(Subject).where(Subject.status == SubjectStatus.ACTIVE))
                or 0
            )

    # ------------------------------------------------------------ thresholds
    def thresholds(self) -> list[CategoryThreshold]:
        curves, size = self.curves(), self.watchlist_size()
        with self.db.session() as session:
            return [
                self._threshold_of(category, curves, size)
                for category in session.scalars(select(Category).order_by(Category.name))
            ]

    def _threshold_of(self, category: Category, curves: ErrorCurves | None, size: int) -> CategoryThreshold:
        """A category's threshold in force, from its row as it is (committed or not)."""
        floor = validated_floor(curves.curve) if curves else None
        policy = policy_of(category)
        rule, point = category_rule(curves, policy, size, default_threshold(self.embedder))
        source = "set" if category.match_threshold is not None else ("policy" if curves else "provisional")
        return CategoryThreshold(
            category.name,
            category.high_risk,
            rule.threshold,
            category.match_threshold is not None,
            size,
            point.false_alert_rate if point else None,
            point.miss_rate if point else None,
            floor,
            category.false_alerts_per_1000,
            rule.name,
            source,
            1.0 - point.miss_rate if point else None,
        )

    def set_policy(
        self, category: str, false_alerts_per_1000: float, *, by: str, reason: str, source: str = ""
    ) -> CategoryThreshold:
        """State a category's policy; its threshold then follows the curves and the watchlist size (a
        threshold set by hand is cleared)."""
        if len(reason.strip()) < 3:
            raise ThresholdError("reason", "say why the policy changes")
        if not 0.0 < false_alerts_per_1000 < 1000.0:
            raise ThresholdError("policy", "false alerts per 1,000 passers-by must be between 0 and 1,000")
        curves, size = self.curves(), self.watchlist_size()
        if curves is None:
            raise ThresholdError(
                "no-calibration", "no error curves for this embedder: run `vigil calibrate` or set a threshold"
            )
        with self.db.session() as session:
            row = session.get(Category, category)
            if row is None:
                raise ThresholdError("category", f"no category {category!r}")
            before = (row.false_alerts_per_1000, row.match_threshold)
            row.false_alerts_per_1000 = false_alerts_per_1000
            row.match_threshold = None
            session.flush()
            now = self._threshold_of(row, curves, size)
            self.audit.record_change(
                session,
                Actor(by, source),
                AuditAction.POLICY_CHANGED,
                object_type="category",
                object_id=category,
                details={
                    "before_false_alerts_per_1000": before[0],
                    "before_threshold_set": before[1],
                    "false_alerts_per_1000": false_alerts_per_1000,
                    "reason": reason,
                    "watchlist_size": now.watchlist_size,
                    "threshold": now.threshold,
                    "expected_hit_rate": now.expected_hit_rate,
                },
            )
        return now

    def recommend(self, targets: dict[str, float]) -> dict[str, tuple[float, float, float, bool]]:
        """Per category: (threshold, expected false-alert rate per passer-by, expected miss rate, resolved)."""
        curves = self.curves()
        if curves is None:
            raise ThresholdError("no-calibration", "no calibration for this embedder yet: run `vigil calibrate`")
        size = self.watchlist_size()
        provisional = default_threshold(self.embedder)
        out = {}
        for category, rate in targets.items():
            # the rule a category with this policy gets (the looks rule's operating point is read in nats and
            # shown as the similarity one face would need; never below the validated floor)
            _, point = category_rule(curves, CategoryPolicy(1000.0 * rate, 1, None), size, provisional)
            assert point is not None  # curves exist
            out[category] = (point.threshold, point.false_alert_rate, point.miss_rate, point.resolved)
        return out

    def set(self, category: str, threshold: float, *, by: str, reason: str, source: str = "") -> ThresholdChange:
        if len(reason.strip()) < 3:
            raise ThresholdError("reason", "say why the threshold changes")
        if not 0.0 < threshold < 1.0:
            raise ThresholdError("threshold", "a threshold is a similarity between 0 and 1")
        curves = self.curves()
        floor = validated_floor(curves.curve) if curves else default_threshold(self.embedder)
        if threshold < floor:
            what = "validated floor" if curves else "provisional default (no calibration yet)"
            raise ThresholdError("threshold-floor", f"{threshold:.3f} is below the {what} {floor:.3f}")
        size = self.watchlist_size()
        far = fnmr = None
        if curves is not None:
            fmr, fnmr = curves.decision_curve.at(threshold)
            far = passerby_false_alert_rate(fmr, size)
        with self.db.session() as session:
            row = session.get(Category, category)
            if row is None:
                raise ThresholdError("category", f"no category {category!r}")
            change = ThresholdChange(
                category=category,
                before=row.match_threshold,
                after=threshold,
                changed_by=by[:64],
                reason=reason,
                watchlist_size=size,
                expected_false_alert_rate=far,
                expected_miss_rate=fnmr,
            )
            row.match_threshold = threshold
            session.add(change)
            session.flush()
            self.audit.record_change(
                session,
                Actor(by, source),
                AuditAction.THRESHOLD_CHANGED,
                object_type="category",
                object_id=category,
                details={
                    "before": change.before,
                    "after": threshold,
                    "reason": reason,
                    "watchlist_size": size,
                    "expected_false_alert_rate": far,
                    "expected_miss_rate": fnmr,
                },
            )
            session.expunge(change)
        return change

    def history(self, start: datetime | None = None, end: datetime | None = None) -> list[ThresholdChange]:
        query = select(ThresholdChange).order_by(ThresholdChange.id)
        if start is not None:
            query = query.where(ThresholdChange.at >= start)
        if end is not None:
            query = query.where(ThresholdChange.at < end)
        with self.db.session() as session:
            rows = list(session.scalars(query))
            for row in rows:
                session.expunge(row)
            return rows

    # ------------------------------------------------------------ live figures
    def live_figures(self) -> list[LiveFigure]:
        expected = {t.category: t.expected_false_alert_rate for t in self.thresholds()}
        with self.db.session() as session:
            outcomes = session.execute(
                select(Alert.camera, Subject.category, Alert.status, func.count())
                .join(Subject, Subject.id == Alert.subject_id)
                .group_by(Alert.camera, Subject.category, Alert.status)
            ).all()
            tracks = dict(
                session.execute(
                    select(AnalysisCount.camera, func.sum(AnalysisCount.tracks)).group_by(AnalysisCount.camera)
                ).all()
            )
        table: dict[tuple[str, str], dict[str, int]] = {}
        for camera, category, status, n in outcomes:
            table.setdefault((camera, category), {})[status] = int(n)
        figures = []
        for (camera, category), counts in sorted(table.items()):
            rejected = counts.get(AlertStatus.REJECTED, 0)
            seen = int(tracks.get(camera) or 0)
            observed = rejected / seen if seen else None
            exp = expected.get(category)
            drift = (
                observed is not None
                and exp is not None
                and rejected >= DRIFT_MIN_REJECTED
                and observed > DRIFT_FACTOR * exp
            )
            figures.append(
                LiveFigure(
                    camera,
                    category,
                    sum(counts.values()),
                    counts.get(AlertStatus.CONFIRMED, 0),
                    rejected,
                    counts.get(AlertStatus.INCONCLUSIVE, 0),
                    seen,
                    observed,
                    exp,
                    drift,
                )
            )
        return figures


class AnalysisCounter:
    """Adds a camera's analysis counts to today's row (counts only: no face data)."""

    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock

    def add(self, camera: str, *, frames: int, faces: int, tracks: int, embedded: int, day: date | None = None) -> None:
        if not (frames or faces or tracks or embedded):
            return
        day = day or self.clock().date()
        with self.db.session() as session:
            row = session.get(AnalysisCount, (camera, day))
            if row is None:
                row = AnalysisCount(camera=camera, day=day, frames=0, faces=0, tracks=0, embedded=0)
                session.add(row)
            row.frames += frames
            row.faces += faces
            row.tracks += tracks
            row.embedded += embedded


def template_floor(db: Database, embedder: str, version: str) -> float:
    """The similarity a confirmed sighting's face needs to the subject's photos to become a template: the
    validated floor of the active curves (FMR 1/1000), else the embedder's provisional threshold."""
    curves = load_curves(db, embedder, version)
    return validated_floor(curves.curve) if curves is not None else default_threshold(embedder)
