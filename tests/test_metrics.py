from __future__ import annotations

import numpy as np
import pytest

from vigil.eval.metrics import IdentificationScores, best_threshold, identify, verification_10fold


def test_best_threshold_separates_clean_scores() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([0, 0, 0, 1, 1, 1], bool)
    t = best_threshold(scores, same)
    assert 0.3 < t <= 0.7


def test_ten_fold_accuracy_on_synthetic_scores() -> None:
    rng = np.random.default_rng(1)
    same = np.tile(np.r_[np.ones(30), np.zeros(30)].astype(bool), 10)
    scores = np.where(same, rng.normal(0.8, 0.05, same.size), rng.normal(0.3, 0.05, same.size))
    scores[0] = 0.0  # one hopeless genuine pair
    result = verification_10fold(scores, same, np.repeat(np.arange(10), 60))
    assert result.fold_accuracies.shape == (10,)
    assert result.accuracy == pytest.approx(1 - 1 / 600, abs=1e-9)


def test_verification_requires_equal_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        verification_10fold(np.zeros(3), np.zeros(2, bool), np.zeros(3, int))


def test_identify_takes_max_over_each_identitys_templates() -> None:
    gallery = np.array([[1, 0], [0, 1], [0.6, 0.8]], np.float32)
    ids = np.array([7, 3, 3])
    probes = np.array([[0.6, 0.8], [1, 0]], np.float32)
    who, score = identify(gallery, ids, probes)
    assert who.tolist() == [3, 7]
    assert score[0] == pytest.approx(1.0)


def test_fnir_fpir_and_threshold_at_fpir() -> None:
    ident = IdentificationScores(
        mated_score=np.array([0.9, 0.8, 0.4, -np.inf]),
        mated_correct=np.array([True, True, False, False]),
        nonmated_score=np.linspace(0.0, 0.99, 100),
    )
    assert ident.rank1 == 0.5
    t = ident.threshold_at_fpir(0.01)
    assert ident.fpir(t) <= 0.01 and ident.fpir(np.nextafter(t, -np.inf) - 1e-9) > 0.01
    assert ident.fnir(0.85) == 0.75
    _thresholds, fpir, fnir = ident.det_curve(points=20)
    assert np.all(np.diff(fpir) <= 0) and np.all(np.diff(fnir) >= 0)
