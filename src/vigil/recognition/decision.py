"""The track-level decision: when does a face track become a red flag? (docs/pipeline.md)

A single frame is weak evidence: motion blur, a half-turned head or a look-alike can push one face
over the threshold. Vigil therefore decides per *track* (the same face followed across frames):

* Each embedded face ``i`` of the track has a quality ``q_i`` and, for every candidate subject ``s``
  (any subject in some face's top results), its similarity ``score_i(s)`` to ``s``'s best template.
* A face **votes** for ``s`` when ``s`` is its best match and ``score_i(s) >= T(s)``, the threshold
  of ``s``'s category.
* The track's **evidence** for ``s`` is the quality-weighted mean over *all* its embedded faces,
  ``E(s) = Σ q_i · score_i(s) / Σ q_i`` — faces that do not resemble ``s`` pull it down.
* A red flag for ``s`` is raised when ``votes(s) >= N(s)`` (the category's minimum number of faces)
  **and** ``E(s) >= T(s)``. If several subjects qualify, the one with the highest evidence wins.

Pure: numbers in, a verdict out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DecisionRule:
    """A category's operating point: similarity threshold and minimum number of voting faces."""

    threshold: float
    min_faces: int

    def __post_init__(self) -> None:
        if self.min_faces < 1:
            raise ValueError("min_faces must be at least 1")


@dataclass(frozen=True)
class Verdict:
    subject_id: str
    evidence: float  # E(s)
    votes: int
    best_score: float
    best_face: int  # index of the face with the highest score for the subject
    threshold: float


def decide(
    qualities: Sequence[float] | np.ndarray,
    subject_ids: Sequence[str],
    scores: np.ndarray,
    rules: Mapping[str, DecisionRule],
) -> Verdict | None:
    """The verdict for one track.

    ``qualities``: (n,) quality of each embedded face; ``subject_ids``: the m candidate subjects;
    ``scores``: (n, m) similarity of each face to each candidate; ``rules``: each candidate's rule.
    """
    q = np.asarray(qualities, np.float64).reshape(-1)
    scores = np.asarray(scores, np.float64).reshape(len(q), len(subject_ids))
    if len(q) == 0 or len(subject_ids) == 0 or q.sum() <= 0:
        return None
    evidence = (q[:, None] * scores).sum(axis=0) / q.sum()
    best_of_face = scores.argmax(axis=1)
    verdicts: list[Verdict] = []
    for column, subject_id in enumerate(subject_ids):
        rule = rules[subject_id]
        column_scores = scores[:, column]
        votes = int(((best_of_face == column) & (column_scores >= rule.threshold)).sum())
        if votes >= rule.min_faces and evidence[column] >= rule.threshold:
            best_face = int(column_scores.argmax())
            verdicts.append(
                Verdict(
                    subject_id,
                    float(evidence[column]),
                    votes,
                    float(column_scores[best_face]),
                    best_face,
                    rule.threshold,
                )
            )
    return max(verdicts, key=lambda v: v.evidence, default=None)


def per_frame_flags(best_scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """The baseline Vigil does not use: one flag per face whose best match passes its threshold."""
    return np.asarray(best_scores) >= np.asarray(thresholds)
