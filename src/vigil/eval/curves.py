"""Error curves measured the way the live case looks: a clean enrolled photo against CCTV-like faces
taken from a *different* photo of the person (docs/calibration.md).

On a labelled set in LFW layout: the first image of each of ``people`` people is enrolled (clean); for
every one of them with a second image, that image is turned into a short "track" of ``looks`` CCTV
stills (``vigil.eval.walkby_render.cctv_still``: small, blurred, noisy, compressed). Each still's
similarity to its own person's template is a **genuine** score, to every other template an
**impostor** score — except templates whose name is probably the same person spelled another way.
The stills of one track give the within-track correlation the fusion rule discounts
(``vigil.recognition.fusion``).

Outputs numbers only; the images are read, degraded in memory and forgotten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vigil.eval.lfw import LfwDataset
from vigil.eval.walkby_render import cctv_still
from vigil.recognition.calibration import ScoreCurve, score_curve, validated_floor
from vigil.recognition.fusion import FaceScoreModel, fit_score_model, within_track_correlation
from vigil.vision.engine import FaceEngine
from vigil.vision.image import load_image
from vigil.vision.types import central_face

CURVES_FORMAT = 1


@dataclass(frozen=True)
class MeasuredScores:
    genuine: np.ndarray  # (g,) still vs own template
    genuine_track: np.ndarray  # (g,) which track each genuine score belongs to
    impostor: np.ndarray  # (i,) still vs another person's template
    impostor_group: np.ndarray  # (i,) (track, template) pair each impostor score belongs to
    templates: int
    tracks: int
    stills: int
    no_face: int
    probe_names: tuple[str, ...] = ()  # track index -> person


def group_error_rates(scores: MeasuredScores, groups: dict[str, str], threshold: float) -> dict[str, object]:
    """FNIR (genuine stills below ``threshold``) and FPIR (impostor comparisons at or above it) per
    operator-supplied group of the person seen, with the gap between groups."""
    from vigil.eval.groups import rate_gap

    label_of = np.array([groups.get(name, "") for name in scores.probe_names] or [""])
    genuine_label = label_of[scores.genuine_track]
    impostor_label = label_of[scores.impostor_group // scores.templates]
    per: dict[str, object] = {}
    misses: dict[str, tuple[int, int]] = {}
    false: dict[str, tuple[int, int]] = {}
    for label in sorted({g for g in groups.values() if g}):
        g, i = genuine_label == label, impostor_label == label
        missed, matched = int((scores.genuine[g] < threshold).sum()), int((scores.impostor[i] >= threshold).sum())
        misses[label], false[label] = (missed, int(g.sum())), (matched, int(i.sum()))
        per[label] = {
            "genuine": int(g.sum()),
            "fnir": round(missed / g.sum(), 4) if g.any() else None,
            "impostor": int(i.sum()),
            "fpir": matched / i.sum() if i.any() else None,
        }
    return {"threshold": threshold, "per_group": per, "fnir_gap": rate_gap(misses), "fpir_gap": rate_gap(false)}


def _name_parts(name: str) -> tuple[str, ...]:
    return tuple(sorted(part for part in re.split(r"[_\s-]+", name.lower()) if part))


def _one_edit_apart(a: str, b: str) -> bool:
    """At most one letter inserted, deleted or changed."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def alias_pairs(names: list[str]) -> dict[int, list[int]]:
    """Index → indices of names that are probably the same person spelled another way ("Nan_Wang" and
    "Wang_Nan", "Hassan_Wirajuda" and "Hasan_Wirayuda"): the same name parts in any order, each part at
    most one letter different."""
    parts = [_name_parts(n) for n in names]
    buckets: dict[tuple[int, str], list[int]] = {}
    for i, p in enumerate(parts):
        buckets.setdefault((len(p), "".join(x[0] for x in p)), []).append(i)
    out: dict[int, list[int]] = {}
    for members in buckets.values():
        for a_index, i in enumerate(members):
            for j in members[a_index + 1 :]:
                if all(_one_edit_apart(x, y) for x, y in zip(parts[i], parts[j], strict=True)):
                    out.setdefault(i, []).append(j)
                    out.setdefault(j, []).append(i)
    return out


def _iod(kps: np.ndarray) -> float:
    return float(np.linalg.norm(kps[1] - kps[0]))


def measure_scores(
    engine: FaceEngine,
    lfw_dir: Path,
    *,
    people: int = 1500,
    looks: int = 5,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> MeasuredScores:
    dataset = LfwDataset(lfw_dir)
    counts = dataset.people()
    names = sorted(counts)[:people]
    rng = np.random.default_rng(seed)
    templates: list[np.ndarray] = []
    owners: list[str] = []
    for name in names:
        image = load_image(dataset.image_path(name, 1))
        faces = engine.detect(image)
        if len(faces) == 0:
            continue
        face = faces[central_face(faces, image.shape[1], image.shape[0])]
        templates.append(engine.embed(image, face).vectors[0])
        owners.append(name)
    gallery = np.stack(templates)
    index = {name: i for i, name in enumerate(owners)}
    probes = [name for name in owners if counts[name] >= 2]
    vectors: list[np.ndarray] = []
    probe_of: list[int] = []
    track_of: list[int] = []
    no_face = 0
    for t, name in enumerate(probes):
        portrait = load_image(dataset.image_path(name, 2))
        found = engine.detect(portrait)
        if len(found) == 0:
            no_face += looks
            continue
        source = found[central_face(found, portrait.shape[1], portrait.shape[0])]
        for _ in range(looks):
            still, _iod_drawn = cctv_still(portrait, _iod(source.kps[0]), rng)
            faces = engine.detect(still)
            if len(faces) == 0:
                no_face += 1
                continue
            face = faces[central_face(faces, still.shape[1], still.shape[0])]
            vectors.append(engine.embed(still, face).vectors[0])
            probe_of.append(index[name])
            track_of.append(t)
        if progress is not None:
            progress(t + 1, len(probes))
    probe_vectors = np.stack(vectors)
    sims = probe_vectors @ gallery.T  # (stills, templates)
    own = np.asarray(probe_of)
    rows = np.arange(len(own))
    genuine = sims[rows, own]
    mask = np.ones_like(sims, dtype=bool)
    mask[rows, own] = False
    # the same person filed under two spellings is not an impostor pair (LFW has several)
    aliases = alias_pairs(owners)
    for row, template in enumerate(own):
        for other in aliases.get(int(template), ()):
            mask[row, other] = False
    impostor = sims[mask]
    tracks = np.asarray(track_of)
    groups = (tracks[:, None] * len(gallery) + np.arange(len(gallery))[None, :])[mask]
    return MeasuredScores(
        genuine.astype(np.float64),
        tracks,
        impostor.astype(np.float32),
        groups,
        len(gallery),
        len(set(track_of)),
        len(vectors),
        no_face,
        tuple(probes),
    )


def fit_curves(scores: MeasuredScores, *, sample: int = 200_000, seed: int = 0) -> tuple[ScoreCurve, FaceScoreModel]:
    """The per-face error curve and the fusion model, with ρ the larger of the genuine and impostor
    within-track correlations of ℓ (the more cautious discount)."""
    curve = score_curve(scores.genuine, scores.impostor)
    draft = fit_score_model(scores.genuine, scores.impostor, rho=1.0)
    rng = np.random.default_rng(seed)
    groups = np.unique(scores.impostor_group)
    chosen = rng.choice(groups, size=min(len(groups), sample // 4), replace=False)
    keep = np.isin(scores.impostor_group, chosen)
    rho_impostor = within_track_correlation(draft.llr_of(scores.impostor[keep]), scores.impostor_group[keep])
    rho_genuine = within_track_correlation(draft.llr_of(scores.genuine), scores.genuine_track)
    model = fit_score_model(scores.genuine, scores.impostor, rho=max(rho_impostor, rho_genuine))
    return curve, model


def sequential_track_scores(values: np.ndarray, groups: np.ndarray, model: FaceScoreModel) -> np.ndarray:
    """Per group (one track against one template): the highest evidence the live rule sees as the track's
    faces arrive one by one — ``max_k n_eff(k) · mean(ℓ_1..ℓ_k)`` — as the similarity one face would need
    for it. The track raises an alert at threshold ``T`` exactly when this reaches ``T``."""
    order = np.argsort(groups, kind="stable")  # stable: a track's stills stay in the order they came
    g, llr = groups[order], model.llr_of(values[order])
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    position = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    totals = np.cumsum(llr)
    before = np.repeat(np.r_[0.0, totals[starts[1:] - 1]], np.diff(np.r_[starts, len(g)]))
    k = position + 1.0
    evidence = (totals - before) / k * model.effective_counts(k)
    return model.similarities_of(np.maximum.reduceat(evidence, starts))


def track_curve(scores: MeasuredScores, model: FaceScoreModel) -> ScoreCurve:
    """The error curve at the **track** level: genuine and impostor tracks judged as the live rule judges
    them (each still a new face, evidence fused and discounted, an alert the first time it passes), so that
    an operating point read off it holds the false-alert rate per passer-by, not per face."""
    genuine = sequential_track_scores(scores.genuine, scores.genuine_track, model)
    impostor = sequential_track_scores(scores.impostor.astype(np.float64), scores.impostor_group, model)
    return score_curve(genuine, impostor)


def curves_document(
    engine: FaceEngine,
    scores: MeasuredScores,
    curve: ScoreCurve,
    model: FaceScoreModel,
    *,
    data: str,
    command: str,
    tracks: ScoreCurve | None = None,
) -> dict[str, object]:
    """What ships as package data for one embedder (numbers only)."""
    return {
        "format": CURVES_FORMAT,
        "embedder": engine.embedder.name,
        "version": engine.embedder.version,
        "detector": engine.detector.name,
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "data": data,
        "command": command,
        "templates": scores.templates,
        "tracks": scores.tracks,
        "stills": scores.stills,
        "no_face": scores.no_face,
        "validated_floor": validated_floor(curve),
        "curve": curve.as_json(),
        "score_model": model.as_json(),
        **({"track_curve": tracks.as_json()} if tracks is not None else {}),
    }
