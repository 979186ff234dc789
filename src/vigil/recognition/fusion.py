"""What one face's similarity is worth as evidence, and how a track's faces add up (docs/calibration.md).

From measured genuine scores (an enrolled photo against a CCTV-like face of the same person) and
impostor scores (against other people), the **log-likelihood ratio** of a similarity ``s`` is

    ℓ(s) = ln p_genuine(s) − ln p_impostor(s)

estimated from smoothed histograms, with a normal fit to the impostor scores where the impostor
sample runs out (the far tail that decides false alerts at large watchlists). ℓ is forced to be
non-decreasing (a higher similarity is never weaker evidence) and bounded by what the samples can
support: at most ``ln(impostor count)`` above zero, at least ``−LLR_FLOOR`` below (plus a negligible
rise per grid step, so that ℓ is strictly increasing and has an inverse).

A track's faces are several looks at one person, and they are **correlated** (same person, same
light, seconds apart), so they are not independent evidence. With ``ρ`` the measured correlation of
per-face ℓ values within a track, ``n`` faces count as ``n_eff = n / (1 + (n − 1) ρ)`` independent
ones, and the track's evidence for a subject is

    Λ = n_eff · Σ q_i ℓ_i / Σ q_i          (q_i: face quality)

For ``n`` faces of equal score ``s`` this is ``n_eff · ℓ(s) ≥ ℓ(s)`` whenever the faces favour the
subject, so a track of several good faces never needs a higher per-face similarity than one face.
Pure numbers in, numbers out.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

GRID = np.round(np.arange(-1.0, 1.0 + 1e-9, 0.005), 3)
LLR_FLOOR = 4.0  # a face unlike the subject counts against it, but at most e^-4
MIN_BIN_COUNT = 20  # impostor histogram bins with fewer samples use the exponential tail fit
LLR_STEP = 1e-4  # nats added per grid step (0.04 over the whole grid): ℓ strictly increasing


@dataclass(frozen=True)
class FaceScoreModel:
    """ℓ(s) on a similarity grid, and the within-track correlation ``rho`` of per-face ℓ values."""

    grid: np.ndarray
    llr: np.ndarray
    rho: float

    def __post_init__(self) -> None:
        if self.grid.shape != self.llr.shape or self.grid.ndim != 1 or len(self.grid) < 2:
            raise ValueError("grid and llr must be 1-D arrays of the same length")
        if np.any(np.diff(self.llr) < -1e-9):
            raise ValueError("llr must be non-decreasing in the similarity")
        if not 0.0 <= self.rho <= 1.0:
            raise ValueError("rho must be between 0 and 1")

    def llr_of(self, scores: np.ndarray | float) -> np.ndarray:
        return np.interp(np.asarray(scores, np.float64), self.grid, self.llr)

    @functools.cached_property
    def _rising(self) -> tuple[np.ndarray, np.ndarray]:
        keep = np.concatenate([[True], np.diff(self.llr) > 1e-12])
        return self.llr[keep], self.grid[keep]

    def similarities_of(self, llr: np.ndarray) -> np.ndarray:
        """The similarity one face needs for each evidence value (the inverse of ℓ, where ℓ rises)."""
        rising, grid = self._rising
        return np.interp(np.asarray(llr, np.float64), rising, grid)

    def similarity_of(self, llr: float) -> float:
        return float(self.similarities_of(np.asarray(llr)))

    def effective_faces(self, n: int) -> float:
        return float(self.effective_counts(np.asarray(n))) if n > 0 else 0.0

    def effective_counts(self, n: np.ndarray) -> np.ndarray:
        """``n / (1 + (n − 1) ρ)`` for face counts ``n ≥ 1``."""
        n = np.asarray(n, np.float64)
        return n / (1.0 + (n - 1.0) * self.rho)

    def track_evidence(self, qualities: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """Λ per candidate: ``qualities`` (n,), ``scores`` (n, m) → (m,) in nats."""
        q = np.asarray(qualities, np.float64).reshape(-1)
        llr = self.llr_of(np.asarray(scores, np.float64).reshape(len(q), -1))
        return self.effective_faces(len(q)) * (q[:, None] * llr).sum(axis=0) / q.sum()

    def as_json(self) -> dict[str, object]:
        return {"grid": self.grid.tolist(), "llr": [round(float(v), 4) for v in self.llr], "rho": self.rho}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> FaceScoreModel:
        return cls(np.asarray(data["grid"], float), np.asarray(data["llr"], float), float(data["rho"]))  # type: ignore[arg-type]


def _smoothed_density(values: np.ndarray, edges: np.ndarray, sigma_bins: float) -> tuple[np.ndarray, np.ndarray]:
    counts, _ = np.histogram(values, bins=edges)
    radius = max(1, int(3 * sigma_bins))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_bins) ** 2)
    smooth = np.convolve(counts.astype(np.float64), kernel / kernel.sum(), mode="same")
    return smooth / (len(values) * np.diff(edges)), counts


def fit_score_model(
    genuine: np.ndarray, impostor: np.ndarray, *, rho: float, grid: np.ndarray = GRID
) -> FaceScoreModel:
    """ℓ on ``grid`` from genuine and impostor similarities (docstring above).

    Densities are histograms (genuine smoothed over ±2 bins, impostors over ±½) with a floor of half a
    count. Above the point ``u`` where the impostor bins first hold fewer than ``MIN_BIN_COUNT`` scores,
    the impostor density follows an exponential tail fitted to the excesses over ``u`` (its scale is
    their mean, its mass their share). ℓ is then
    made non-decreasing from the top down (each value at most every value above it: the cautious side)
    and bounded."""
    genuine, impostor = np.asarray(genuine, np.float64), np.asarray(impostor, np.float64)
    if len(genuine) < 10 or len(impostor) < 100:
        raise ValueError("need at least 10 genuine and 100 impostor scores")
    step = float(grid[1] - grid[0])
    edges = np.concatenate([grid - step / 2, [grid[-1] + step / 2]])
    p_gen, _ = _smoothed_density(genuine, edges, 2.0)
    p_imp, imp_counts = _smoothed_density(impostor, edges, 0.5)  # plenty of impostors: barely smoothed
    p_gen = np.maximum(p_gen, 0.5 / (len(genuine) * step))
    # the tail starts where the impostor histogram thins out; above it an exponential fitted to the
    # excesses (so it joins the histogram where the two meet, without a step in ℓ)
    thin = np.flatnonzero((imp_counts < MIN_BIN_COUNT) & (grid > float(np.median(impostor))))
    u = float(grid[thin[0]] - step / 2) if len(thin) else float(impostor.max())
    excess = impostor[impostor > u] - u
    scale = max(float(excess.mean()) if len(excess) else step, step / 4)
    tail = (max(len(excess), 1) / len(impostor)) / scale * np.exp(-(grid - u) / scale)
    p_imp = np.where(grid > u, tail, np.maximum(p_imp, 0.5 / (len(impostor) * step)))
    llr = np.log(p_gen) - np.log(np.maximum(p_imp, 1e-300))
    llr = np.minimum.accumulate(llr[::-1])[::-1]
    llr = np.clip(llr, -LLR_FLOOR, float(np.log(len(impostor))))
    # a negligible rise on every step keeps ℓ strictly increasing, so that a plateau (few genuine scores
    # and a heavy impostor tail up there) never lets a face below the threshold count as one at it
    llr = llr + LLR_STEP * np.arange(len(grid))
    return FaceScoreModel(np.asarray(grid, np.float64), llr, float(np.clip(rho, 0.0, 1.0)))


def within_track_correlation(values: np.ndarray, groups: np.ndarray) -> float:
    """Intra-class correlation of ``values`` grouped by ``groups`` (one-way ANOVA estimator, ≥ 0)."""
    values, groups = np.asarray(values, np.float64), np.asarray(groups)
    _, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    keep = sizes[inverse] >= 2
    values, inverse = values[keep], inverse[keep]
    if len(values) < 4:
        return 1.0
    _, inverse, sizes = np.unique(inverse, return_inverse=True, return_counts=True)
    k = len(sizes)
    means = np.bincount(inverse, values) / sizes
    grand = values.mean()
    msb = float((sizes * (means - grand) ** 2).sum() / max(1, k - 1))
    msw = float(((values - means[inverse]) ** 2).sum() / max(1, len(values) - k))
    n0 = (len(values) - (sizes**2).sum() / len(values)) / max(1, k - 1)
    icc = (msb - msw) / (msb + (n0 - 1) * msw) if msb + (n0 - 1) * msw > 0 else 1.0
    return float(np.clip(icc, 0.0, 1.0))
