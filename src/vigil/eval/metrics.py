"""Biometric error metrics: 10-fold verification accuracy and open-set 1:N identification (FNIR at
FPIR, ISO/IEC 19795-1 vocabulary). Pure functions of score arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class VerificationResult:
    fold_accuracies: np.ndarray
    fold_thresholds: np.ndarray

    @property
    def accuracy(self) -> float:
        return float(self.fold_accuracies.mean())

    @property
    def std(self) -> float:
        return float(self.fold_accuracies.std())


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (accept when score >= it) that maximises accuracy on the given pairs."""
    order = np.argsort(scores)
    s, y = scores[order], same[order].astype(np.int64)
    # Accepting everything from index i up: correct = negatives below i + positives from i.
    neg_below = np.concatenate([[0], np.cumsum(1 - y)])
    pos_from = np.concatenate([np.cumsum(y[::-1])[::-1], [0]])
    correct = neg_below + pos_from
    i = int(np.argmax(correct))
    if i == 0:
        return float(s[0])
    if i == len(s):
        return float(np.nextafter(s[-1], np.inf))
    return float((s[i - 1] + s[i]) / 2.0)


def verification_10fold(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> VerificationResult:
    """LFW View-2 protocol: per fold, pick the threshold on the other folds, measure accuracy on it."""
    scores, same, fold = np.asarray(scores, float), np.asarray(same, bool), np.asarray(fold, int)
    if not (len(scores) == len(same) == len(fold)):
        raise ValueError("scores, same and fold must have the same length")
    folds = np.unique(fold)
    accuracies, thresholds = [], []
    for f in folds:
        train, test = fold != f, fold == f
        t = best_threshold(scores[train], same[train])
        accuracies.append(float(((scores[test] >= t) == same[test]).mean()))
        thresholds.append(t)
    return VerificationResult(np.array(accuracies), np.array(thresholds))


@dataclass(frozen=True)
class IdentificationScores:
    """Top-1 outcome per probe: ``mated_score``/``mated_correct`` for mated probes, ``nonmated_score``
    (the best score over the whole gallery) for non-mated probes. A probe with no face has score -inf."""

    mated_score: np.ndarray
    mated_correct: np.ndarray
    nonmated_score: np.ndarray

    @property
    def rank1(self) -> float:
        return float(self.mated_correct.mean()) if len(self.mated_correct) else 0.0

    def fpir(self, threshold: float) -> float:
        return float((self.nonmated_score >= threshold).mean())

    def fnir(self, threshold: float) -> float:
        hit = self.mated_correct & (self.mated_score >= threshold)
        return float(1.0 - hit.mean())

    def threshold_at_fpir(self, target: float) -> float:
        """The lowest threshold whose FPIR does not exceed ``target``."""
        scores = np.sort(self.nonmated_score[np.isfinite(self.nonmated_score)])[::-1]
        allowed = int(np.floor(target * len(self.nonmated_score)))
        if allowed >= len(scores):
            return float(-np.inf) if len(scores) == 0 else float(scores[-1])
        return float(np.nextafter(scores[allowed], np.inf))

    def det_curve(self, points: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(thresholds, fpir, fnir) over the range of observed scores."""
        finite = np.concatenate([self.mated_score, self.nonmated_score])
        finite = finite[np.isfinite(finite)]
        thresholds = np.unique(np.quantile(finite, np.linspace(0, 1, points)))
        fpir = np.array([self.fpir(t) for t in thresholds])
        fnir = np.array([self.fnir(t) for t in thresholds])
        return thresholds, fpir, fnir


def identify(gallery: np.ndarray, gallery_ids: np.ndarray, probes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best identity and score per probe: each identity scores the max over its templates.

    ``gallery`` (g, d) and ``probes`` (p, d) are unit vectors; returns (identity (p,), score (p,)).
    """
    gallery_ids = np.asarray(gallery_ids)
    order = np.argsort(gallery_ids, kind="stable")
    sorted_ids = gallery_ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    identities = sorted_ids[starts]
    out_id = np.empty(len(probes), dtype=gallery_ids.dtype)
    out_score = np.empty(len(probes), dtype=np.float64)
    for begin in range(0, len(probes), 2048):
        sims = probes[begin : begin + 2048] @ gallery[order].T
        per_identity = np.maximum.reduceat(sims, starts, axis=1)
        best = per_identity.argmax(axis=1)
        out_id[begin : begin + 2048] = identities[best]
        out_score[begin : begin + 2048] = per_identity[np.arange(len(best)), best]
    return out_id, out_score
