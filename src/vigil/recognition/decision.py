"""The track-level decision: when does a face track become a red flag? (docs/pipeline.md, docs/calibration.md)

A single frame is weak evidence: motion blur, a half-turned head or a look-alike can push one face
over the threshold. Vigil therefore decides per *track* (the same face followed across frames). Each
embedded face ``i`` of the track has a quality ``q_i`` and, for every candidate subject ``s`` (anyone
in some face's top results), its similarity ``score_i(s)`` to ``s``'s best template. ``T(s)`` is the
similarity *one* face needs at the category's operating point.

**Fused rule** (the default wherever error curves exist for the embedder): each face's similarity
becomes a log-likelihood ratio ℓ from the measured curves, and the track's evidence is
``Λ(s) = n_eff · Σ q_i ℓ_i(s) / Σ q_i`` (``vigil.recognition.fusion``). A red flag for ``s`` when
``s`` is the best match of at least ``N(s)`` faces (default 1) and ``Λ(s) ≥ ℓ(T(s))`` — the evidence a
single face at the threshold would give. The verdict's ``evidence`` is reported as the similarity one
face would need for the same Λ, so ``evidence ≥ threshold`` reads the same under both rules.

**Looks rule** (round two, the default wherever the curves carry a look model): each face's
evidence is conditioned on its size, the track counts its best looks and its pooled face
(``vigil.recognition.looks``); a red flag when ``Λ(s) ≥ ℓ_ref(T(s))``, ``ℓ_ref`` the per-face ℓ over all
sizes, so the threshold is still "the similarity one face would need". ``T`` is read off the track-level
curve measured for this rule.

**Vote rule** (the landed rule, kept for embedders without curves and as the benchmarks' reference):
a face votes for ``s`` when ``s`` is its best match and ``score_i(s) ≥ T(s)``; the evidence is the
quality-weighted mean ``E(s) = Σ q_i · score_i(s) / Σ q_i``; a red flag when ``votes ≥ N(s)`` and
``E(s) ≥ T(s)``.

If several subjects qualify, the one with the strongest evidence wins; when the runner-up's evidence
is within the rule's ``tie_margin`` of the winner's, the verdict carries it too, so that a person —
not the higher score — settles the tie.

Pure: numbers in, a verdict out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from vigil.recognition.fusion import FaceScoreModel
from vigil.recognition.looks import LookModel

TIE_MARGIN_NATS = float(np.log(10.0))  # runner-up evidence within a factor 10 of the winner's: a near-tie
TIE_MARGIN_SIMILARITY = 0.02  # the same for the vote rule, in similarity


@dataclass(frozen=True)
class DecisionRule:
    """A category's operating point: the similarity one face needs, the minimum number of faces that
    must have the subject as their best match, and (fused rule) the per-face score model."""

    threshold: float
    min_faces: int
    model: FaceScoreModel | None = None
    tie_margin: float | None = None  # None: TIE_MARGIN_NATS (fused) or TIE_MARGIN_SIMILARITY (votes)
    looks: LookModel | None = None  # the looks rule (round two); takes precedence over ``model``
    # the looks rule's evidence a track must reach, in nats, read off its track curve (None: ℓ_ref(threshold));
    # ``threshold`` then shows it as the similarity one face would need (which saturates where ℓ does)
    needed_nats: float | None = None

    def __post_init__(self) -> None:
        if self.min_faces < 1:
            raise ValueError("min_faces must be at least 1")

    @property
    def fused(self) -> bool:
        """Evidence in nats (the fused or the looks rule), not the vote rule."""
        return self.model is not None or self.looks is not None

    @property
    def name(self) -> str:
        return self.looks.rule if self.looks is not None else "fused" if self.model is not None else "votes"

    @property
    def needed(self) -> float:
        """The evidence (nats) one face at the threshold gives: what a track must reach."""
        if self.looks is not None:
            if self.needed_nats is not None:
                return self.needed_nats
            return float(self.looks.reference.llr_of(self.threshold))
        if self.model is not None:
            return float(self.model.llr_of(self.threshold))
        return self.threshold

    @property
    def margin(self) -> float:
        if self.tie_margin is not None:
            return self.tie_margin
        return TIE_MARGIN_NATS if self.fused else TIE_MARGIN_SIMILARITY


@dataclass(frozen=True)
class Verdict:
    subject_id: str
    evidence: float  # E(s)
    votes: int
    best_score: float
    best_face: int  # index of the face with the highest score for the subject
    threshold: float
    strength: float = 0.0  # what candidates are ranked by: Λ in nats (fused) or E (votes)
    runner_up: Verdict | None = None  # a near-tie: the second candidate, for a person to settle


def decide(
    qualities: Sequence[float] | np.ndarray,
    subject_ids: Sequence[str],
    scores: np.ndarray,
    rules: Mapping[str, DecisionRule],
    *,
    iods: Sequence[float] | np.ndarray | None = None,
    pooled: np.ndarray | None = None,
) -> Verdict | None:
    """The verdict for one track.

    ``qualities``: (n,) quality of each embedded face; ``subject_ids``: the m candidate subjects;
    ``scores``: (n, m) similarity of each face to each candidate; ``rules``: each candidate's rule;
    ``iods``: (n,) each face's inter-eye distance and ``pooled``: (m,) the pooled face's similarity to
    each candidate (both needed by the looks rule).
    """
    ranked = _ranked(qualities, subject_ids, scores, rules, iods, pooled)
    winner = next((v for v, ok in ranked if ok), None)
    if winner is None:
        return None
    others = [v for v, _ in ranked if v.subject_id != winner.subject_id]
    margin = rules[winner.subject_id].margin
    if others and winner.strength - others[0].strength <= margin:
        return replace(winner, runner_up=others[0])
    return winner


def strongest(
    qualities: Sequence[float] | np.ndarray,
    subject_ids: Sequence[str],
    scores: np.ndarray,
    rule: DecisionRule,
    *,
    iods: Sequence[float] | np.ndarray | None = None,
    pooled: np.ndarray | None = None,
) -> tuple[str, float] | None:
    """Under one rule for every candidate, whatever its threshold: the candidate a red flag would name
    (the strongest that is the best match of at least ``min_faces`` faces) and its strength in nats — the
    flag is raised exactly when that reaches ``rule.needed``. The same choice :func:`decide` makes, all
    candidates at once, for sweeping thresholds over recorded tracks; the looks and fused rules only (the
    vote rule's votes depend on the threshold)."""
    q = np.asarray(qualities, np.float64).reshape(-1)
    scores = np.asarray(scores, np.float64).reshape(len(q), len(subject_ids))
    if len(q) == 0 or len(subject_ids) == 0 or q.sum() <= 0:
        return None
    if rule.looks is not None:
        if iods is None or (rule.looks.uses_pooled and pooled is None):
            raise ValueError("the looks rule needs each face's inter-eye distance and the pooled face's scores")
        strength = rule.looks.strength(np.asarray(iods), scores, pooled)
    elif rule.model is not None:
        strength = rule.model.track_evidence(q, scores)
    else:
        raise ValueError("the vote rule's votes depend on its threshold: decide() it at each one")
    votes = np.bincount(scores.argmax(axis=1), minlength=len(subject_ids))
    eligible = votes >= rule.min_faces
    if not eligible.any():
        return None
    best = int(np.argmax(np.where(eligible, strength, -np.inf)))
    return subject_ids[best], float(strength[best])


def closest_call(
    qualities: Sequence[float] | np.ndarray,
    subject_ids: Sequence[str],
    scores: np.ndarray,
    rules: Mapping[str, DecisionRule],
    *,
    iods: Sequence[float] | np.ndarray | None = None,
    pooled: np.ndarray | None = None,
) -> float:
    """How far the closest candidate's evidence is from its threshold, in similarity (negative: below
    it; -inf without candidates): how near the track is to a red flag."""
    ranked = _ranked(qualities, subject_ids, scores, rules, iods, pooled)
    return max((v.evidence - v.threshold for v, _ in ranked), default=-np.inf)


def _ranked(
    qualities: Sequence[float] | np.ndarray,
    subject_ids: Sequence[str],
    scores: np.ndarray,
    rules: Mapping[str, DecisionRule],
    iods: Sequence[float] | np.ndarray | None = None,
    pooled: np.ndarray | None = None,
) -> list[tuple[Verdict, bool]]:
    """Every candidate's verdict, strongest first, and whether it qualifies."""
    q = np.asarray(qualities, np.float64).reshape(-1)
    scores = np.asarray(scores, np.float64).reshape(len(q), len(subject_ids))
    if len(q) == 0 or len(subject_ids) == 0 or q.sum() <= 0:
        return []
    mean_score = (q[:, None] * scores).sum(axis=0) / q.sum()
    best_of_face = scores.argmax(axis=1)
    ranked: list[tuple[Verdict, bool]] = []  # every candidate's verdict, and whether it qualifies
    for column, subject_id in enumerate(subject_ids):
        rule = rules[subject_id]
        column_scores = scores[:, column]
        best_face = int(column_scores.argmax())
        top = best_of_face == column
        if rule.looks is not None:
            if iods is None or (rule.looks.uses_pooled and pooled is None):
                raise ValueError("the looks rule needs each face's inter-eye distance and the pooled face's scores")
            pooled_column = None if pooled is None else np.asarray(pooled, np.float64).reshape(-1)[column : column + 1]
            strength = float(rule.looks.strength(np.asarray(iods), column_scores[:, None], pooled_column)[0])
            evidence = rule.looks.reference.similarity_of(strength)
            votes = int(top.sum())
            qualifies = votes >= rule.min_faces and strength >= rule.needed
        elif rule.model is not None:
            strength = float(rule.model.track_evidence(q, column_scores[:, None])[0])
            evidence = rule.model.similarity_of(strength)
            votes = int(top.sum())
            qualifies = votes >= rule.min_faces and strength >= float(rule.model.llr_of(rule.threshold))
        else:
            evidence = strength = float(mean_score[column])
            votes = int((top & (column_scores >= rule.threshold)).sum())
            qualifies = votes >= rule.min_faces and evidence >= rule.threshold
        verdict = Verdict(
            subject_id, evidence, votes, float(column_scores[best_face]), best_face, rule.threshold, strength
        )
        ranked.append((verdict, qualifies))
    ranked.sort(key=lambda item: item[0].strength, reverse=True)
    return ranked


def per_frame_flags(best_scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The baseline Vigil does not use: one flag per face whose best match passes its threshold."""
    return np.asarray(best_scores) >= np.asarray(thresholds)
