"""The fused track rule (pure): likelihood ratios from error curves, the correlation discount, decisions
that gain from several faces, near-ties, and the rule a category gets from its policy."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.eval.groups import rate_gap
from vigil.recognition.calibration import CategoryPolicy, category_rule, score_curve, shipped_curves
from vigil.recognition.decision import DecisionRule, decide
from vigil.recognition.fusion import FaceScoreModel, fit_score_model, within_track_correlation


def _scores(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(0.95, 0.02, 3000), -1, 1), np.clip(rng.normal(0.84, 0.035, 400_000), -1, 1)


@pytest.fixture(scope="module")
def model() -> FaceScoreModel:
    return fit_score_model(*_scores(), rho=0.6)


def test_likelihood_ratio_rises_with_similarity_and_is_bounded(model: FaceScoreModel) -> None:
    assert np.all(np.diff(model.llr) >= 0)
    assert model.llr_of(0.80) < 0 < model.llr_of(0.95)
    assert np.all(np.diff(model.llr) > 0)
    assert model.llr.min() >= -4.0 and model.llr.max() <= np.log(400_000) + 0.05
    # the inverse maps evidence back to the similarity one face needs for it
    assert model.similarity_of(float(model.llr_of(0.93))) == pytest.approx(0.93, abs=0.003)


def test_bad_models_are_refused() -> None:
    with pytest.raises(ValueError, match="non-decreasing"):
        FaceScoreModel(np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0, 0.5]), 0.5)
    with pytest.raises(ValueError, match="rho"):
        FaceScoreModel(np.array([0.0, 1.0]), np.array([0.0, 1.0]), 1.5)
    with pytest.raises(ValueError, match="at least"):
        fit_score_model(np.array([0.9]), np.array([0.1, 0.2]), rho=0.5)


@pytest.mark.parametrize(("rho", "expected"), [(0.0, 5.0), (1.0, 1.0), (0.5, 5 / 3)])
def test_correlated_faces_count_as_fewer(rho: float, expected: float) -> None:
    model = FaceScoreModel(np.array([0.0, 1.0]), np.array([-1.0, 1.0]), rho)
    assert model.effective_faces(5) == pytest.approx(expected)
    assert model.effective_faces(1) == 1.0


def test_within_track_correlation_is_measured() -> None:
    rng = np.random.default_rng(1)
    tracks = np.repeat(np.arange(2000), 5)
    shared = rng.normal(0, 1, 2000)[tracks]
    assert within_track_correlation(shared + rng.normal(0, 1, len(tracks)), tracks) == pytest.approx(0.5, abs=0.05)
    assert within_track_correlation(rng.normal(0, 1, len(tracks)), tracks) < 0.05
    assert within_track_correlation(shared, tracks) == pytest.approx(1.0)


def _lowest_alerting_similarity(rule: DecisionRule, faces: int) -> float:
    """The lowest similarity at which a track of ``faces`` equal faces raises an alert."""
    for s in np.arange(0.80, 1.0, 0.001):
        scores = np.array([[s, 0.5]] * faces)
        if decide(np.ones(faces), ["a", "b"], scores, {"a": rule, "b": rule}) is not None:
            return float(s)
    return 1.0


def test_several_good_faces_never_need_more_than_one_face(model: FaceScoreModel) -> None:
    rule = DecisionRule(0.95, 1, model)
    one = _lowest_alerting_similarity(rule, 1)
    assert one == pytest.approx(0.95, abs=0.002)  # one face: exactly the calibrated threshold
    needed = [_lowest_alerting_similarity(rule, n) for n in (2, 3, 5, 10)]
    assert all(n <= one for n in needed) and needed == sorted(needed, reverse=True)
    # the landed vote rule asked three faces at the threshold (and nothing below three)
    votes = DecisionRule(0.95, 3)
    assert _lowest_alerting_similarity(votes, 2) == 1.0 and _lowest_alerting_similarity(votes, 3) >= 0.95


def test_unlike_faces_pull_the_evidence_down(model: FaceScoreModel) -> None:
    rule = DecisionRule(0.95, 1, model)
    rules = {"a": rule, "b": rule}
    good = np.array([[0.96, 0.5]])
    assert decide([1.0], ["a", "b"], good, rules) is not None
    with_strangers = np.array([[0.96, 0.5], [0.80, 0.5], [0.80, 0.5]])
    assert decide([1.0, 1.0, 1.0], ["a", "b"], with_strangers, rules) is None
    verdict = decide([1.0], ["a", "b"], good, rules)
    assert verdict is not None and verdict.evidence >= verdict.threshold and verdict.best_score == pytest.approx(0.96)


def test_near_ties_carry_the_runner_up_and_clear_winners_do_not(model: FaceScoreModel) -> None:
    rule = DecisionRule(0.95, 1, model)
    rules = {"a": rule, "b": rule}
    tie = decide([1.0, 1.0], ["a", "b"], np.array([[0.962, 0.958], [0.961, 0.957]]), rules)
    assert tie is not None and tie.subject_id == "a"
    assert tie.runner_up is not None and tie.runner_up.subject_id == "b"
    clear = decide([1.0, 1.0], ["a", "b"], np.array([[0.97, 0.86], [0.97, 0.85]]), rules)
    assert clear is not None and clear.runner_up is None
    votes = {"a": DecisionRule(0.95, 1), "b": DecisionRule(0.95, 1)}
    vote_tie = decide([1.0], ["a", "b"], np.array([[0.97, 0.96]]), votes)
    assert vote_tie is not None and vote_tie.runner_up is not None  # within 0.02 in similarity


def test_category_rule_follows_policy_and_watchlist_size() -> None:
    genuine, impostor = _scores()
    from vigil.recognition.calibration import ErrorCurves

    curves = ErrorCurves(score_curve(genuine, impostor), fit_score_model(genuine, impostor, rho=0.6), "test")
    policy = CategoryPolicy(1.0, 1, None)
    sizes = [category_rule(curves, policy, n, 0.956)[0].threshold for n in (10, 100, 1000)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    strict = category_rule(curves, CategoryPolicy(0.1, 1, None), 100, 0.956)[0].threshold
    assert strict > sizes[1]
    rule, point = category_rule(curves, CategoryPolicy(1.0, 1, 0.97), 100, 0.956)
    assert rule.threshold == 0.97 and rule.fused and point is not None and point.miss_rate > 0
    provisional, none = category_rule(None, policy, 100, 0.956)
    assert provisional.threshold == 0.956 and provisional.min_faces == 3 and not provisional.fused and none is None


def test_shipped_curves_are_for_exact_weights_only() -> None:
    assert shipped_curves("dlib-resnet", "some-other-weights") is None
    assert shipped_curves("no-such-embedder", "x") is None


def test_rate_gap_between_groups() -> None:
    gap = rate_gap({"g1": (10, 100), "g2": (30, 100), "g3": (0, 0)})
    assert gap is not None and gap["highest"] == "g2" and gap["lowest"] == "g1"
    assert gap["gap"] == pytest.approx(0.2)
    low, high = gap["ci95"]  # type: ignore[misc]
    assert low < 0.2 < high and low > 0
    assert rate_gap({"only": (1, 10)}) is None
