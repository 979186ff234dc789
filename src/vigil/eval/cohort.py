"""Cohort normalisation, measured once (docs/calibration.md, "Round two").

Adaptive T-norm: a probe's score against a template is re-expressed against how that probe scores
against a **cohort** of people on no watchlist — ``(s − μ) / σ`` over its ``top`` closest cohort
faces — so that a probe that resembles everyone (a small, blurred face) is discounted. It needs
biometric data of people on no watchlist, so Vigil ships none; this module only measures whether it
would help, on calibration looks (``vigil.eval.curves.MeasuredLooks``):

* gallery: ``enrolled`` people who have a probe track (mated searches);
* non-mated searches: the tracks of probe people not in the gallery;
* cohort: ``cohort`` further people's enrolled photos, in neither.

For each track the probe is its pooled face (every still) or its best single still, raw or
T-normed; reported as open-set identification rates: TPIR (rank 1 and above the threshold) at the
threshold where a given share of non-mated tracks pass (FPIR). Numbers only.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vigil.eval.curves import MeasuredLooks
from vigil.recognition.looks import pooled_face


def _tnorm(scores: np.ndarray, cohort_scores: np.ndarray, top: int) -> np.ndarray:
    closest = -np.sort(-cohort_scores, axis=1)[:, :top]
    mu, sigma = closest.mean(axis=1, keepdims=True), closest.std(axis=1, keepdims=True) + 1e-6
    return (scores - mu) / sigma


def open_set_rates(mated: np.ndarray, mated_right: np.ndarray, non_mated: np.ndarray, fpir: float) -> float:
    """TPIR at the threshold where ``fpir`` of the non-mated top scores pass: ``mated`` top scores,
    ``mated_right`` whether the top candidate was the right person."""
    threshold = float(np.quantile(non_mated, 1.0 - fpir, method="higher")) + 1e-9
    return float(((mated >= threshold) & mated_right).mean())


def tnorm_study(
    looks: MeasuredLooks, *, enrolled: int = 1000, cohort: int = 1000, top: int = 100, seed: int = 0
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    probe_people = sorted({int(o) for o in looks.own})
    rng.shuffle(probe_people)
    gallery = np.array(probe_people[: min(enrolled, len(probe_people) * 3 // 5)])
    outsiders = np.setdiff1d(np.arange(len(looks.templates)), np.asarray(probe_people))
    cohort_ids = rng.choice(outsiders, size=min(cohort, len(outsiders)), replace=False)
    starts = np.flatnonzero(np.r_[True, looks.track[1:] != looks.track[:-1]])
    ends = np.r_[starts[1:], len(looks.track)]
    probes: dict[str, list[np.ndarray]] = {"pooled": [], "best look": []}
    owners = []
    templates, cohort_t = looks.templates[gallery], looks.templates[cohort_ids]
    for start, end in zip(starts, ends, strict=True):
        vectors = looks.vectors[start:end]
        owners.append(int(looks.own[start]))
        probes["pooled"].append(pooled_face(vectors, looks.qualities[start:end]))
        # the still whose best gallery score is highest (a best-look rule's probe)
        probes["best look"].append(vectors[int(np.argmax((vectors @ templates.T).max(axis=1)))])
    owner = np.asarray(owners)
    in_gallery = np.isin(owner, gallery)
    position = {int(g): i for i, g in enumerate(gallery)}
    right_column = np.array([position.get(int(o), -1) for o in owner])
    out: dict[str, Any] = {
        "enrolled": len(gallery),
        "mated_tracks": int(in_gallery.sum()),
        "non_mated_tracks": int((~in_gallery).sum()),
        "cohort": len(cohort_ids),
        "cohort_top": top,
        "protocol": looks.protocol,
        "rates": {},
    }
    for name, chosen in probes.items():
        p = np.stack(chosen)
        raw = p @ templates.T
        normed = _tnorm(raw, p @ cohort_t.T, top)
        for label, scores in (("raw", raw), ("adaptive T-norm", normed)):
            best, top_score = scores.argmax(axis=1), scores.max(axis=1)
            right = best == right_column
            out["rates"][f"{name}, {label}"] = {
                f"tpir_at_fpir_{tag}": round(
                    open_set_rates(top_score[in_gallery], right[in_gallery], top_score[~in_gallery], rate), 4
                )
                for tag, rate in (("0.1pct", 0.001), ("1pct", 0.01))
            }
    return out
