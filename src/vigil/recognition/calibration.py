"""Thresholds from measured error rates (pure numbers, and the curves shipped as package data; docs/calibration.md).

From a labelled set we measure, for the active embedder, **genuine** scores (two images of the same
person) and **impostor** scores (images of different people). For a threshold ``T``:

* ``FMR(T)`` — the share of impostor scores ≥ T: the chance that one stranger's face passes for one
  enrolled person;
* ``FNMR(T)`` — the share of genuine scores < T: the chance that an enrolled person's face is missed.

A passer-by is compared with every one of the ``N`` people on the watchlist, so their chance of a false
alert is ``1 − (1 − FMR(T))^N`` ≈ ``N · FMR(T)``: it grows with the watchlist. For a target false-alert
rate per passer-by ``α`` the operating threshold is therefore the smallest ``T`` with
``FMR(T) ≤ 1 − (1 − α)^(1/N)`` — it rises as the watchlist grows. Per single face; the track rule
(several faces, quality-weighted evidence) lowers the live false-alert rate further.

The **validated floor** is the threshold where ``FMR`` = 1/1000 for a single enrolled person: below it
even a one-person watchlist would flag one stranger in a thousand; Vigil refuses to operate there.
When the target ``FMR`` is below what the impostor sample can resolve (1 / number of impostor
scores), the threshold is the highest impostor score seen and the result says so.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import DatasetError
from vigil.recognition.decision import DecisionRule
from vigil.recognition.fusion import FaceScoreModel
from vigil.recognition.looks import LookModel

FLOOR_FMR = 1e-3
GRID = np.round(np.arange(0.0, 1.0 + 1e-9, 0.001), 3)


@dataclass(frozen=True)
class ScoreCurve:
    """FMR and FNMR on a threshold grid, with the sample sizes behind them."""

    thresholds: np.ndarray
    fmr: np.ndarray
    fnmr: np.ndarray
    genuine: int
    impostor: int
    max_impostor: float

    def at(self, threshold: float) -> tuple[float, float]:
        """(FMR, FNMR) at ``threshold`` (linear interpolation on the grid)."""
        return (
            float(np.interp(threshold, self.thresholds, self.fmr)),
            float(np.interp(threshold, self.thresholds, self.fnmr)),
        )

    def as_json(self) -> dict[str, object]:
        keep = np.flatnonzero((self.fmr < 1.0) | (self.fnmr > 0.0))  # drop the flat ends
        lo, hi = (int(keep[0]), int(keep[-1]) + 1) if len(keep) else (0, len(self.thresholds))
        return {
            "thresholds": self.thresholds[lo:hi].tolist(),
            "fmr": self.fmr[lo:hi].tolist(),
            "fnmr": self.fnmr[lo:hi].tolist(),
            "genuine": self.genuine,
            "impostor": self.impostor,
            "max_impostor": self.max_impostor,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ScoreCurve:
        return cls(
            np.asarray(data["thresholds"], float),
            np.asarray(data["fmr"], float),
            np.asarray(data["fnmr"], float),
            int(data["genuine"]),  # type: ignore[call-overload]
            int(data["impostor"]),  # type: ignore[call-overload]
            float(data["max_impostor"]),  # type: ignore[arg-type]
        )


TAIL_SCORES = 100  # beyond the 100th-highest impostor score, FMR follows an exponential fitted to those


def score_curve(genuine: np.ndarray, impostor: np.ndarray, grid: np.ndarray = GRID) -> ScoreCurve:
    """Empirical FMR and FNMR on the grid. In the far tail — above the ``TAIL_SCORES``-th highest
    impostor score ``u`` — a handful of scores (and any labelling errors among them) would make the
    empirical FMR a staircase; there it follows ``FMR(T) = FMR(u) · exp(−(T − u)/β)`` with ``β`` the mean
    excess of those top scores over ``u``, never above the empirical value at ``u``."""
    genuine, impostor = np.sort(np.asarray(genuine, float)), np.sort(np.asarray(impostor, float))
    if len(genuine) == 0 or len(impostor) == 0:
        raise ValueError("need both genuine and impostor scores")
    fmr = 1.0 - np.searchsorted(impostor, grid, side="left") / len(impostor)
    fnmr = np.searchsorted(genuine, grid, side="left") / len(genuine)
    if len(impostor) > 10 * TAIL_SCORES:
        top = impostor[-TAIL_SCORES:]
        u = float(top[0])
        scale = max(float((top - u).mean()), 1e-4)
        beyond = grid > u
        fmr = np.where(beyond, (TAIL_SCORES / len(impostor)) * np.exp(-(grid - u) / scale), fmr)
    return ScoreCurve(grid, fmr, fnmr, len(genuine), len(impostor), float(impostor[-1]))


def target_fmr(false_alert_rate: float, watchlist_size: int) -> float:
    """Per-comparison FMR that keeps a passer-by's false-alert chance at ``false_alert_rate``."""
    if not 0 < false_alert_rate < 1:
        raise ValueError("the false-alert rate must be between 0 and 1")
    n = max(1, watchlist_size)
    return float(-np.expm1(np.log1p(-false_alert_rate) / n))


def passerby_false_alert_rate(fmr: float, watchlist_size: int) -> float:
    return float(-np.expm1(max(1, watchlist_size) * np.log1p(-min(fmr, 1 - 1e-15))))


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    false_alert_rate: float  # expected, per passer-by, single face
    miss_rate: float  # expected FNMR
    resolved: bool  # False: the target is below what the impostor sample can measure


def operating_point(curve: ScoreCurve, false_alert_rate: float, watchlist_size: int) -> OperatingPoint:
    """The lowest threshold whose FMR meets the target for this watchlist size. A target below what the
    impostor sample resolves (1 / its size) is read off the fitted exponential tail where the sample was
    large enough to fit one, else set just above the highest impostor score; either way ``resolved`` is
    False and the output says so."""
    wanted = target_fmr(false_alert_rate, watchlist_size)
    resolution = 1.0 / curve.impostor
    ok = np.flatnonzero(curve.fmr <= wanted)
    extrapolated = curve.impostor > 10 * TAIL_SCORES
    if len(ok) == 0 or (wanted < resolution and not extrapolated):
        step = float(curve.thresholds[1] - curve.thresholds[0]) if len(curve.thresholds) > 1 else 0.001
        threshold = float(np.ceil(curve.max_impostor / step) * step + step)
        resolved = False
    else:
        threshold = float(curve.thresholds[ok[0]])
        resolved = wanted >= resolution
    fmr, fnmr = curve.at(threshold)
    return OperatingPoint(threshold, passerby_false_alert_rate(fmr, watchlist_size), fnmr, resolved)


def validated_floor(curve: ScoreCurve) -> float:
    ok = np.flatnonzero(curve.fmr <= FLOOR_FMR)
    return float(curve.thresholds[ok[0]]) if len(ok) else float(curve.thresholds[-1])


# ------------------------------------------------------------------------------ curves shipped and rules
@dataclass(frozen=True)
class ErrorCurves:
    """What an operating point is derived from: the per-face error curve, where measured the fusion
    model (``vigil.recognition.fusion``) and the track-level curve of the fused rule, with where they
    came from."""

    curve: ScoreCurve
    model: FaceScoreModel | None
    source: str
    tracks: ScoreCurve | None = None  # tracks judged as the live rule judges them (eval.curves)
    looks: LookModel | None = None  # round two: size-banded ℓ and the pooled face (the rule ``tracks`` is of)

    @property
    def decision_curve(self) -> ScoreCurve:
        """The curve operating points are read off: the track-level one under the fused rule, so that the
        policy holds per passer-by rather than per face."""
        fused = self.model is not None or self.looks is not None
        return self.tracks if self.tracks is not None and fused else self.curve


def _curves_of(document: dict[str, Any], source: str) -> ErrorCurves:
    tracks, looks = document.get("track_curve"), document.get("look_model")
    return ErrorCurves(
        ScoreCurve.from_json(document["curve"]),
        FaceScoreModel.from_json(document["score_model"]),
        f"{source}: {document['data']} ({document['measured']}, {document['command']})",
        ScoreCurve.from_json(tracks) if tracks else None,
        LookModel.from_json(looks) if isinstance(looks, dict) else None,
    )


@functools.lru_cache(maxsize=8)
def shipped_curves(embedder: str, version: str) -> ErrorCurves | None:
    """The curves the project measured for a bundled embedder (package data ``vigil/recognition/curves``),
    if they were measured on these exact weights."""
    resource = resources.files("vigil.recognition").joinpath("curves", f"{embedder}.json")
    if not resource.is_file():
        return None
    document = json.loads(resource.read_text())
    if document.get("version") != version:
        return None
    return _curves_of(document, "shipped")


def load_curves_file(path: Path, embedder: Any) -> ErrorCurves:
    """Curves written by ``vigil eval curves``; refused unless measured on this embedder's exact weights."""
    document = json.loads(Path(path).read_text())
    if document.get("embedder") != embedder.name or document.get("version") != embedder.version:
        raise DatasetError(
            f"{path}: curves of {document.get('embedder')}@{document.get('version')}, "
            f"not of {embedder.name}@{embedder.version}"
        )
    return _curves_of(document, str(path))


@dataclass(frozen=True)
class CategoryPolicy:
    """What the operator states for a category (a new category's: ``DEFAULT_FALSE_ALERTS_PER_1000``)."""

    false_alerts_per_1000: float  # per 1,000 passers-by
    min_faces: int
    threshold_override: float | None  # a threshold set by hand (recorded); None: follow the policy


DEFAULT_FALSE_ALERTS_PER_1000 = 0.1
NATS_GRID = np.round(np.arange(-8.0, 60.0 + 1e-9, 0.01), 2)  # the looks rule's track curve is kept in nats


def _looks_rule(
    curves: ErrorCurves, looks: LookModel, tracks: ScoreCurve, policy: CategoryPolicy, watchlist_size: int
) -> tuple[DecisionRule, OperatingPoint]:
    """The looks rule's operating point, read off its track curve in nats (its evidence outgrows what one
    face's similarity can express), never below what one face at the validated floor gives; a threshold
    set by hand is the similarity one face would need, as everywhere."""
    point = operating_point(tracks, policy.false_alerts_per_1000 / 1000.0, watchlist_size)
    floor = float(looks.reference.llr_of(validated_floor(curves.curve)))
    needed = max(point.threshold, floor)
    if policy.threshold_override is not None:
        needed = float(looks.reference.llr_of(policy.threshold_override))
    fmr, fnmr = tracks.at(needed)
    shown = (
        policy.threshold_override if policy.threshold_override is not None else looks.reference.similarity_of(needed)
    )
    point = OperatingPoint(round(shown, 4), passerby_false_alert_rate(fmr, watchlist_size), fnmr, point.resolved)
    return DecisionRule(point.threshold, policy.min_faces, curves.model, looks=looks, needed_nats=needed), point


VOTE_RULE_MIN_FACES = 3


def category_rule(
    curves: ErrorCurves | None, policy: CategoryPolicy, watchlist_size: int, provisional: float
) -> tuple[DecisionRule, OperatingPoint | None]:
    """The decision rule for a category at this watchlist size, and the operating point behind it.

    With curves: the threshold for the policy read off the track-level curve of the rule they were
    measured for (else the per-face curve), never below the validated floor, unless overridden; the
    looks rule where a look model was measured, else the fused rule where a fusion model was. Without:
    the vote rule at the override or the embedder's provisional threshold. The operating point's rates
    are the track's (or the face's, without)."""
    if curves is None:
        threshold = policy.threshold_override if policy.threshold_override is not None else provisional
        return DecisionRule(threshold, max(VOTE_RULE_MIN_FACES, policy.min_faces)), None
    if curves.looks is not None and curves.tracks is not None:
        return _looks_rule(curves, curves.looks, curves.tracks, policy, watchlist_size)
    decision = curves.decision_curve
    point = operating_point(decision, policy.false_alerts_per_1000 / 1000.0, watchlist_size)
    threshold = max(point.threshold, validated_floor(curves.curve))
    if policy.threshold_override is not None:
        threshold = policy.threshold_override
    fmr, fnmr = decision.at(threshold)
    point = OperatingPoint(threshold, passerby_false_alert_rate(fmr, watchlist_size), fnmr, point.resolved)
    if curves.model is None and curves.looks is None:
        return DecisionRule(threshold, max(VOTE_RULE_MIN_FACES, policy.min_faces)), point
    return DecisionRule(threshold, policy.min_faces, curves.model, looks=curves.looks), point
