"""Round two of the track rule (pure): evidence conditioned on the face's size, a track's best looks and
its pooled face — and the guarantees that keep it honest: monotone in every face's score, never worse
with one more good face, n equal faces at least as strong as one, bounded for a look-alike who stays."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.recognition.calibration import CategoryPolicy, category_rule, shipped_curves, validated_floor
from vigil.recognition.decision import DecisionRule, decide, strongest
from vigil.recognition.fusion import FaceScoreModel, fit_score_model
from vigil.recognition.looks import (
    SIZE_BAND_EDGES,
    LookModel,
    best_looks_evidence,
    pooled_face,
    size_bands,
)


def _band_model(centre: float, spread: float, seed: int) -> FaceScoreModel:
    """ℓ of a size band whose impostors reach ``centre`` ± ``spread`` (small faces: higher, wider)."""
    rng = np.random.default_rng(seed)
    genuine = np.clip(rng.normal(0.95, 0.02, 3000), -1, 1)
    impostor = np.clip(rng.normal(centre, spread, 200_000), -1, 1)
    return fit_score_model(genuine, impostor, rho=0.6)


@pytest.fixture(scope="module")
def looks() -> LookModel:
    bands = tuple(
        _band_model(c, s, i) for i, (c, s) in enumerate([(0.88, 0.035), (0.86, 0.033), (0.84, 0.03), (0.83, 0.03)])
    )
    reference = _band_model(0.85, 0.035, 9)
    return LookModel(reference, bands, _band_model(0.82, 0.03, 10), "looks+pooled", 3)


def test_size_bands_follow_the_inter_eye_distance() -> None:
    assert SIZE_BAND_EDGES == (16.0, 24.0, 36.0)
    assert size_bands(np.array([12.0, 15.9, 16.0, 30.0, 36.0, 60.0])).tolist() == [0, 0, 1, 2, 3, 3]


def test_pooled_face_is_the_quality_weighted_unit_mean() -> None:
    v = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    pooled = pooled_face(v, np.array([3.0, 1.0]))
    assert np.linalg.norm(pooled) == pytest.approx(1.0)
    assert pooled[0] == pytest.approx(3 / np.sqrt(10), abs=1e-6)


def test_a_small_face_at_the_same_similarity_is_weaker_evidence(looks: LookModel) -> None:
    small, large = looks.face_llr(np.array([[0.95], [0.95]]), np.array([13.0, 50.0]))[:, 0]
    assert small < large


def test_best_looks_gain_from_several_good_faces_and_never_from_staying() -> None:
    llr = np.array([[2.0], [2.0], [2.0], [2.0], [2.0], [2.0]])
    one = best_looks_evidence(llr[:1], 0.5, 3)[0]
    three = best_looks_evidence(llr[:3], 0.5, 3)[0]
    six = best_looks_evidence(llr, 0.5, 3)[0]
    assert one == pytest.approx(2.0)
    assert three == pytest.approx(3 / (1 + 2 * 0.5) * 2.0) and three > one
    assert six == pytest.approx(three)  # a look-alike who stays does not grow surer
    # poor looks do not drown the best ones: the best look alone is always in reach
    assert best_looks_evidence(np.array([[3.0], [-4.0], [-4.0]]), 0.5, 3)[0] == pytest.approx(3.0)


def test_evidence_is_monotone_in_every_face_and_in_the_pooled_face(looks: LookModel) -> None:
    rng = np.random.default_rng(4)
    for _ in range(200):
        n = int(rng.integers(1, 10))
        scores = rng.uniform(0.85, 0.99, (n, 1))
        iods = rng.uniform(12, 60, n)
        pooled = rng.uniform(0.85, 0.99, 1)
        base = looks.strength(iods, scores, pooled)[0]
        raised = scores.copy()
        raised[int(rng.integers(n)), 0] += rng.uniform(0.0, 0.02)
        assert looks.strength(iods, raised, pooled)[0] >= base - 1e-12
        assert looks.strength(iods, scores, pooled + 0.01)[0] >= base - 1e-12
        # one more face never lowers the best-looks evidence, whatever its score
        more = np.vstack([scores, rng.uniform(0.5, 0.99, (1, 1))])
        assert looks.strength(np.r_[iods, 30.0], more, pooled)[0] >= base - 1e-12


def test_one_more_face_as_close_as_the_pool_never_lowers_the_pooled_score() -> None:
    rng = np.random.default_rng(5)
    template = rng.normal(size=64)
    template /= np.linalg.norm(template)
    for _ in range(200):
        faces = rng.normal(size=(4, 64)) + 3 * template
        faces /= np.linalg.norm(faces, axis=1, keepdims=True)
        q = rng.uniform(0.3, 1.0, 4)
        before = float(pooled_face(faces, q) @ template)
        pool = pooled_face(faces, q)
        new = pool + rng.uniform(0.0, 1.0) * template  # a face at least as close as the pooled face
        new /= np.linalg.norm(new)
        assert float(new @ template) >= before
        after = float(pooled_face(np.vstack([faces, new]), np.r_[q, 0.5]) @ template)
        assert after >= before - 1e-6


def test_the_looks_rule_decides_with_sizes_and_the_pooled_face(looks: LookModel) -> None:
    rule = DecisionRule(0.955, 1, looks=looks)
    assert rule.fused and rule.name == "looks+pooled"
    scores = np.array([[0.965, 0.90], [0.93, 0.91]])
    with pytest.raises(ValueError, match="inter-eye"):
        decide([0.8, 0.8], ["a", "b"], scores, {"a": rule, "b": rule})
    verdict = decide(
        [0.8, 0.8], ["a", "b"], scores, {"a": rule, "b": rule}, iods=[45.0, 14.0], pooled=np.array([0.96, 0.9])
    )
    assert verdict is not None and verdict.subject_id == "a" and verdict.evidence >= 0.955
    # the same faces, but the close one is tiny: not enough
    weak = decide(
        [0.8, 0.8], ["a", "b"], scores, {"a": rule, "b": rule}, iods=[13.0, 13.0], pooled=np.array([0.9, 0.88])
    )
    assert weak is None
    # the pooled face alone can carry a track whose every look is middling
    pooled_only = LookModel(looks.reference, looks.bands, looks.pooled, "pooled", 3)
    strong_pool = DecisionRule(0.955, 1, looks=pooled_only)
    middling = np.array([[0.94, 0.85], [0.94, 0.86], [0.94, 0.85]])
    rules = {"a": strong_pool, "b": strong_pool}
    assert decide([1.0] * 3, ["a", "b"], middling, rules, iods=[30.0] * 3, pooled=np.array([0.975, 0.86])) is not None
    # what a threshold sweep reads: the winner and its evidence, whatever the threshold
    best = strongest([0.8, 0.8], ["a", "b"], scores, rule, iods=[45.0, 14.0], pooled=np.array([0.96, 0.9]))
    assert best is not None and best[0] == "a" and best[1] == pytest.approx(verdict.strength)


def test_look_model_round_trips_and_refuses_nonsense(looks: LookModel) -> None:
    again = LookModel.from_json(looks.as_json())
    assert again.rule == looks.rule and again.best == looks.best and again.edges == looks.edges
    assert np.allclose(again.bands[0].llr, looks.bands[0].llr, atol=1e-4)
    with pytest.raises(ValueError, match="one score model per size band"):
        LookModel(looks.reference, looks.bands[:2], looks.pooled)
    with pytest.raises(ValueError, match="pooled-face model"):
        LookModel(looks.reference, looks.bands, None, "looks+pooled")
    with pytest.raises(ValueError, match="rule must be"):
        LookModel(looks.reference, looks.bands, looks.pooled, "average")


def test_the_shipped_curves_carry_the_looks_rule_and_sensible_band_curves() -> None:
    curves = shipped_curves("dlib-resnet", "v1-onnx1+flip")
    assert curves is not None and curves.looks is not None and curves.tracks is not None
    model = curves.looks
    assert model.rule == "looks+pooled" and len(model.bands) == len(model.edges) + 1
    for band in model.bands:
        assert np.all(np.diff(band.llr) > 0)
    # each band measured on its own faces (not a copy of the all-sizes curve), and all of them telling a
    # stranger's typical score (0.85) from a genuine one (0.96) by a wide margin
    assert all(not np.array_equal(band.llr, model.reference.llr) for band in model.bands)
    for band in model.bands:
        assert band.llr_of(0.85) < 0 < 5 < band.llr_of(0.96)
    rule, point = category_rule(curves, CategoryPolicy(1.0, 1, None), 1000, 0.956)
    assert rule.looks is model and point is not None
    # the evidence needed grows with the watchlist, as before, and never falls below what one face at the
    # validated floor gives; the threshold shown is the similarity one face would need for it
    small = category_rule(curves, CategoryPolicy(1.0, 1, None), 10, 0.956)[0]
    assert small.needed <= rule.needed and small.threshold <= rule.threshold
    assert rule.needed >= model.reference.llr_of(validated_floor(curves.curve)) - 1e-9
    assert rule.threshold == pytest.approx(model.reference.similarity_of(rule.needed), abs=1e-4)
    # a threshold set by hand is a similarity, as everywhere
    manual = category_rule(curves, CategoryPolicy(1.0, 1, 0.97), 1000, 0.956)[0]
    assert manual.threshold == 0.97 and manual.needed == pytest.approx(float(model.reference.llr_of(0.97)))
