"""Operating thresholds per category, set on purpose from measured error rates (docs/calibration.md).

* ``measure`` embeds a labelled set (LFW layout) and returns genuine and impostor scores.
* A calibration (error curves of one embedder version) is stored; thresholds are recommended per
  category for a target false-alert rate per passer-by and the current watchlist size.
* Setting a threshold is refused below the validated floor (or, before any calibration, below the
  embedder's provisional default), and recorded: who, why, before, after, and the expected error rates.
* Live figures per camera and category come from adjudication outcomes and the analysis counts; a
  warning is raised when the observed false-alert rate drifts above the calibrated expectation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from vigil.clock import Clock, system_clock
from vigil.domain.audit import AuditLog
from vigil.errors import RuleError
from vigil.recognition.calibration import (
    ScoreCurve,
    operating_point,
    passerby_false_alert_rate,
    score_curve,
    validated_floor,
)
from vigil.store.db import Database
from vigil.store.models import (
    Alert,
    AlertStatus,
    AnalysisCount,
    Calibration,
    Category,
    Subject,
    SubjectStatus,
    ThresholdChange,
)
from vigil.vision.catalogue import default_threshold
from vigil.vision.engine import FaceEngine

DRIFT_FACTOR = 2.0
DRIFT_MIN_REJECTED = 3


class ThresholdError(RuleError):
    """A threshold request that breaks a named rule."""


def measure(
    engine: FaceEngine, lfw_dir: Path, *, people: int = 1500, progress: Callable[[int, int], None] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Genuine scores (first two images of each person who has two) and impostor scores (first images of
    ``people`` different people, every pair) for the engine's embedder."""
    from vigil.eval.lfw import LfwDataset, embed_paths

    dataset = LfwDataset(lfw_dir)
    counts = dataset.people()
    names = sorted(counts)[:people]
    paths = [dataset.image_path(name, 1) for name in names]
    pair_names = [name for name in names if counts[name] >= 2]
    paths += [dataset.image_path(name, 2) for name in pair_names]
    vectors, found = embed_paths(engine, paths, progress=progress)
    first, second = vectors[: len(names)], vectors[len(names) :]
    first_found, second_found = found[: len(names)], found[len(names) :]
    index = {name: i for i, name in enumerate(names)}
    genuine = np.array(
        [
            float(first[index[name]] @ second[j])
            for j, name in enumerate(pair_names)
            if first_found[index[name]] and second_found[j]
        ]
    )
    usable = first[first_found]
    sims = usable @ usable.T
    impostor = sims[np.triu_indices(len(usable), k=1)]
    return genuine, impostor


@dataclass(frozen=True)
class CategoryThreshold:
    category: str
    high_risk: bool
    threshold: float
    calibrated: bool  # set from a calibration (False: the embedder's provisional default)
    watchlist_size: int
    expected_false_alert_rate: float | None
    expected_miss_rate: float | None
    floor: float | None


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
    def store_calibration(self, genuine: np.ndarray, impostor: np.ndarray, source: str, actor: str) -> ScoreCurve:
        curve = score_curve(genuine, impostor)
        with self.db.session() as session:
            session.add(
                Calibration(
                    embedder=self.embedder,
                    version=self.version,
                    source=source[:255],
                    curve=curve.as_json(),
                    floor=validated_floor(curve),
                )
            )
        self.audit.record(
            actor,
            "calibration-stored",
            source="calibrate",
            details={
                "embedder": self.embedder,
                "version": self.version,
                "genuine": curve.genuine,
                "impostor": curve.impostor,
                "floor": validated_floor(curve),
                "data": source,
            },
        )
        return curve

    def curve(self) -> ScoreCurve | None:
        """The latest calibration of the active embedder version, if any."""
        with self.db.session() as session:
            row = session.scalar(
                select(Calibration)
                .where(Calibration.embedder == self.embedder, Calibration.version == self.version)
                .order_by(Calibration.id.desc())
                .limit(1)
            )
            return ScoreCurve.from_json(row.curve) if row is not None else None

    def watchlist_size(self) -> int:
        with self.db.session() as session:
            return int(
                session.scalar(select(func.count()).select_from(Subject).where(Subject.status == SubjectStatus.ACTIVE))
                or 0
            )

    # ------------------------------------------------------------ thresholds
    def thresholds(self) -> list[CategoryThreshold]:
        curve, size = self.curve(), self.watchlist_size()
        floor = validated_floor(curve) if curve else None
        out = []
        with self.db.session() as session:
            for category in session.scalars(select(Category).order_by(Category.name)):
                value = category.match_threshold
                threshold = value if value is not None else default_threshold(self.embedder)
                far = fnmr = None
                if curve is not None:
                    fmr, fnmr = curve.at(threshold)
                    far = passerby_false_alert_rate(fmr, size)
                out.append(
                    CategoryThreshold(
                        category.name, category.high_risk, threshold, value is not None, size, far, fnmr, floor
                    )
                )
        return out

    def recommend(self, targets: dict[str, float]) -> dict[str, tuple[float, float, float, bool]]:
        """Per category: (threshold, expected false-alert rate per passer-by, expected miss rate, resolved)."""
        curve = self.curve()
        if curve is None:
            raise ThresholdError("no-calibration", "no calibration for this embedder yet: run `vigil calibrate`")
        size = self.watchlist_size()
        floor = validated_floor(curve)
        out = {}
        for category, rate in targets.items():
            point = operating_point(curve, rate, size)
            threshold = max(point.threshold, floor)
            fmr, fnmr = curve.at(threshold)
            out[category] = (threshold, passerby_false_alert_rate(fmr, size), fnmr, point.resolved)
        return out

    def set(self, category: str, threshold: float, *, by: str, reason: str) -> ThresholdChange:
        if len(reason.strip()) < 3:
            raise ThresholdError("reason", "say why the threshold changes")
        if not 0.0 < threshold < 1.0:
            raise ThresholdError("threshold", "a threshold is a similarity between 0 and 1")
        curve = self.curve()
        floor = validated_floor(curve) if curve else default_threshold(self.embedder)
        if threshold < floor:
            what = "validated floor" if curve else "provisional default (no calibration yet)"
            raise ThresholdError("threshold-floor", f"{threshold:.3f} is below the {what} {floor:.3f}")
        size = self.watchlist_size()
        far = fnmr = None
        if curve is not None:
            fmr, fnmr = curve.at(threshold)
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
            session.expunge(change)
        self.audit.record(
            by,
            "threshold-changed",
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
