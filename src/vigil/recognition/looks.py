"""A track's evidence from its best looks and its pooled face (docs/calibration.md, "Round two").

A walk-by's faces run from 12 to 60 px between the eyes. A similarity of 0.95 at 50 px is strong
evidence; the same 0.95 at 14 px is weak, because small faces of strangers score high too. So a face's
**log-likelihood ratio is conditioned on its size**: ``ℓ_b(s)``, measured per band ``b`` of the
inter-eye distance the detector measured (``SIZE_BAND_EDGES``).

A track then counts its **best looks**, not the average of all of them: with the track's per-face
evidence sorted, ``ℓ_(1) ≥ ℓ_(2) ≥ …``,

    Λ_looks = max over j ≤ k of  n_eff(j) · (ℓ_(1) + … + ℓ_(j)) / j,     n_eff(j) = j / (1 + (j − 1) ρ)

(``k`` looks at most; ρ the within-track correlation of ℓ). And it **pools** its faces: the
quality-weighted mean of its embeddings (pose, expression and blur average out; the person does not)
is compared with the subject's templates and that similarity has its own measured ℓ, ``ℓ_pool``. The
rule named ``looks+pooled`` takes the stronger of the two:

    Λ = max(Λ_looks, ℓ_pool(s_pooled))

Guarantees (tests/test_looks.py): Λ never falls when any face's similarity rises (each term is
non-decreasing in every ℓ); one more face never lowers Λ_looks (the best ``j`` looks can only get
better); ``n`` equal faces give at least what one gives; and Λ_looks is bounded by ``n_eff(k)`` times
the best face's ℓ, so a look-alike who stays in view does not grow ever surer. A best-look rule gets
more chances on a long track: the track-level curve the threshold is read off is measured on tracks
judged after every face, as live tracks are, which is what accounts for it.

Pure: numbers in, numbers out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vigil.recognition.fusion import FaceScoreModel

SIZE_BAND_EDGES = (16.0, 24.0, 36.0)  # px between the eyes: < 16, 16–24, 24–36, ≥ 36
RULES = ("best-looks", "pooled", "looks+pooled")


def size_bands(iods: np.ndarray, edges: tuple[float, ...] = SIZE_BAND_EDGES) -> np.ndarray:
    """The band index of each face's inter-eye distance."""
    return np.searchsorted(np.asarray(edges, np.float64), np.asarray(iods, np.float64), side="right")


def pooled_face(vectors: np.ndarray, qualities: np.ndarray) -> np.ndarray:
    """The track's pooled face: the quality-weighted mean of its embeddings, made unit length again."""
    v = np.asarray(vectors, np.float64).reshape(len(qualities), -1)
    q = np.maximum(np.asarray(qualities, np.float64), 1e-6)
    mean = (q[:, None] * v).sum(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)


def effective_counts(j: np.ndarray, rho: float) -> np.ndarray:
    j = np.asarray(j, np.float64)
    return j / (1.0 + (j - 1.0) * rho)


def best_looks_evidence(llr: np.ndarray, rho: float, k: int) -> np.ndarray:
    """Λ_looks per candidate from per-face evidence ``llr`` (n, m): the best ``j ≤ k`` looks' mean ℓ,
    times their effective count, at the ``j`` that gives the most."""
    llr = np.asarray(llr, np.float64)
    if llr.ndim == 1:
        llr = llr[:, None]
    top = -np.sort(-llr, axis=0)[:k]  # (j, m), best first
    j = np.arange(1, len(top) + 1, dtype=np.float64)
    means = np.cumsum(top, axis=0) / j[:, None]
    return (means * effective_counts(j, rho)[:, None]).max(axis=0)


@dataclass(frozen=True)
class LookModel:
    """What a track's looks are worth: ℓ per size band, ℓ of the pooled face, the rule that combines
    them and ``reference`` — ℓ over all sizes, which turns evidence into "the similarity one face would
    need" and back (thresholds stay similarities)."""

    reference: FaceScoreModel
    bands: tuple[FaceScoreModel, ...]
    pooled: FaceScoreModel | None
    rule: str = "looks+pooled"
    best: int = 1  # looks that count (1 measured best: docs/calibration.md)
    edges: tuple[float, ...] = SIZE_BAND_EDGES

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {', '.join(RULES)}")
        if len(self.bands) != len(self.edges) + 1:
            raise ValueError("one score model per size band")
        if self.rule != "best-looks" and self.pooled is None:
            raise ValueError(f"the {self.rule} rule needs a pooled-face model")
        if self.best < 1:
            raise ValueError("at least one look must count")

    @property
    def rho(self) -> float:
        return self.reference.rho

    @property
    def uses_pooled(self) -> bool:
        return self.rule != "best-looks"

    def face_llr(self, scores: np.ndarray, iods: np.ndarray) -> np.ndarray:
        """ℓ_b(s) of each face (rows) against each candidate (columns), ``b`` the face's size band."""
        scores = np.asarray(scores, np.float64)
        scores = scores.reshape(len(np.atleast_1d(iods)), -1)
        band = size_bands(np.atleast_1d(iods), self.edges)
        out = np.empty_like(scores)
        for b in np.unique(band):
            rows = band == b
            out[rows] = self.bands[int(b)].llr_of(scores[rows])
        return out

    def strength(self, iods: np.ndarray, scores: np.ndarray, pooled_scores: np.ndarray | None) -> np.ndarray:
        """Λ per candidate (nats): ``scores`` (n, m) the faces' similarities, ``pooled_scores`` (m,) the
        pooled face's (needed unless the rule is best-looks)."""
        evidence = []
        if self.rule != "pooled":
            evidence.append(best_looks_evidence(self.face_llr(scores, iods), self.rho, self.best))
        if self.uses_pooled:
            if pooled_scores is None or self.pooled is None:
                raise ValueError(f"the {self.rule} rule needs the pooled face's scores")
            evidence.append(self.pooled.llr_of(np.asarray(pooled_scores, np.float64).reshape(-1)))
        return np.max(np.stack(evidence), axis=0)

    def as_json(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "best": self.best,
            "edges": list(self.edges),
            "reference": self.reference.as_json(),
            "bands": [b.as_json() for b in self.bands],
            **({"pooled": self.pooled.as_json()} if self.pooled is not None else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> LookModel:
        pooled = data.get("pooled")
        return cls(
            FaceScoreModel.from_json(data["reference"]),  # type: ignore[arg-type]
            tuple(FaceScoreModel.from_json(b) for b in data["bands"]),  # type: ignore[attr-defined]
            FaceScoreModel.from_json(pooled) if isinstance(pooled, dict) else None,
            str(data["rule"]),
            int(data["best"]),  # type: ignore[call-overload]
            tuple(float(e) for e in data["edges"]),  # type: ignore[attr-defined]
        )
