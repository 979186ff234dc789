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

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vigil.eval.lfw import LfwDataset
from vigil.eval.walkby_render import cctv_still
from vigil.recognition.calibration import NATS_GRID, ScoreCurve, score_curve, validated_floor
from vigil.recognition.fusion import FaceScoreModel, fit_score_model, within_track_correlation
from vigil.recognition.looks import SIZE_BAND_EDGES, LookModel, best_looks_evidence, pooled_face, size_bands
from vigil.vision.engine import FaceEngine
from vigil.vision.image import load_image
from vigil.vision.quality import assess_quality
from vigil.vision.types import central_face

CURVES_FORMAT = 2
VARIED_MIN_PHOTOS = 4  # the varied-looks protocol: one photo enrolled, at least three others seen


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


@dataclass(frozen=True)
class MeasuredLooks:
    """Every calibration look before it becomes a score: the enrolled templates and, per CCTV-like still,
    its embedding, the inter-eye distance the detector measured, its quality and the track it belongs
    to. Every rule's curves are fitted from these (numbers only; the images are forgotten)."""

    templates: np.ndarray  # (t, d) one enrolled template per person
    owners: tuple[str, ...]  # (t,) whose template
    vectors: np.ndarray  # (s, d) one embedding per still
    track: np.ndarray  # (s,) which track each still belongs to (its stills in the order they came)
    own: np.ndarray  # (s,) index of the still's own person's template
    iods: np.ndarray  # (s,) inter-eye distance the detector measured, px
    qualities: np.ndarray  # (s,) the live quality score
    probe_names: tuple[str, ...]  # track index -> person
    no_face: int
    protocol: str = "single-photo"  # or "varied-looks"

    @property
    def tracks(self) -> int:
        return len(self.probe_names)

    def save(self, path: Path) -> None:
        np.savez_compressed(
            path,
            templates=self.templates,
            owners=np.array(self.owners),
            vectors=self.vectors,
            track=self.track,
            own=self.own,
            iods=self.iods,
            qualities=self.qualities,
            probe_names=np.array(self.probe_names),
            no_face=self.no_face,
            protocol=self.protocol,
        )

    @classmethod
    def load(cls, path: Path) -> MeasuredLooks:
        with np.load(path) as z:
            return cls(
                z["templates"],
                tuple(str(x) for x in z["owners"]),
                z["vectors"],
                z["track"],
                z["own"],
                z["iods"],
                z["qualities"],
                tuple(str(x) for x in z["probe_names"]),
                int(z["no_face"]),
                str(z["protocol"]),
            )

    def admitted(self, min_quality: float) -> MeasuredLooks:
        """Only the stills the live gate would embed (quality at least ``min_quality``)."""
        keep = self.qualities >= min_quality
        return MeasuredLooks(
            self.templates,
            self.owners,
            self.vectors[keep],
            self.track[keep],
            self.own[keep],
            self.iods[keep],
            self.qualities[keep],
            self.probe_names,
            self.no_face + int((~keep).sum()),
            self.protocol,
        )


@functools.lru_cache(maxsize=4)
def _aliases_of(owners: tuple[str, ...]) -> dict[int, list[int]]:
    return alias_pairs(list(owners))


def _iod(kps: np.ndarray) -> float:
    return float(np.linalg.norm(kps[1] - kps[0]))


def _probe_photos(dataset: LfwDataset, name: str, count: int, looks: int, varied: bool) -> list[int]:
    """Which photo of ``name`` each of the track's ``looks`` stills is made from: the second photo every
    time (single-photo protocol), or photos 2, 3, … in turn (varied looks: pose and expression change
    within the track, as in real video)."""
    if not varied:
        return [2] * looks
    others = list(range(2, count + 1))
    return [others[i % len(others)] for i in range(looks)]


def measure_looks(
    engine: FaceEngine,
    lfw_dir: Path,
    *,
    people: int = 1500,
    looks: int = 5,
    seed: int = 0,
    varied: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> MeasuredLooks:
    """The first image of each of ``people`` people enrolled (clean); tracks of ``looks`` CCTV-like stills
    of each person with a second image (single-photo protocol) or, with ``varied``, of each person with
    at least ``VARIED_MIN_PHOTOS`` images, the stills made from their photos after the first in turn."""
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
    least = VARIED_MIN_PHOTOS if varied else 2
    probes = [name for name in owners if counts[name] >= least]
    vectors: list[np.ndarray] = []
    own: list[int] = []
    track_of: list[int] = []
    iods: list[float] = []
    qualities: list[float] = []
    no_face = 0
    for t, name in enumerate(probes):
        sources: dict[int, tuple[np.ndarray, float] | None] = {}
        for photo in _probe_photos(dataset, name, counts[name], looks, varied):
            if photo not in sources:
                portrait = load_image(dataset.image_path(name, photo))
                found = engine.detect(portrait)
                central = found[central_face(found, portrait.shape[1], portrait.shape[0])] if len(found) else None
                sources[photo] = None if central is None else (portrait, _iod(central.kps[0]))
            source = sources[photo]
            if source is None:
                no_face += 1
                continue
            still, _iod_drawn = cctv_still(source[0], source[1], rng)
            faces = engine.detect(still)
            if len(faces) == 0:
                no_face += 1
                continue
            face = faces[central_face(faces, still.shape[1], still.shape[0])]
            vectors.append(engine.embed(still, face).vectors[0])
            own.append(index[name])
            track_of.append(t)
            iods.append(_iod(face.kps[0]))
            qualities.append(float(assess_quality(still, face).score[0]))
        if progress is not None:
            progress(t + 1, len(probes))
    return MeasuredLooks(
        gallery.astype(np.float32),
        tuple(owners),
        np.stack(vectors).astype(np.float32),
        np.asarray(track_of),
        np.asarray(own),
        np.asarray(iods, np.float32),
        np.asarray(qualities, np.float32),
        tuple(probes),
        no_face,
        "varied-looks" if varied else "single-photo",
    )


def impostor_mask(looks: MeasuredLooks, rows: np.ndarray) -> np.ndarray:
    """(len(rows), t): which templates are impostors for each still — every one but its own person's and
    those of the same person filed under another spelling (LFW has several)."""
    own = looks.own[rows]
    mask = np.ones((len(rows), len(looks.templates)), dtype=bool)
    mask[np.arange(len(rows)), own] = False
    aliases = _aliases_of(looks.owners)
    for row, template in enumerate(own):
        for other in aliases.get(int(template), ()):
            mask[row, other] = False
    return mask


def scores_of(looks: MeasuredLooks) -> MeasuredScores:
    """Genuine and impostor similarities of every still (one template per person)."""
    sims = looks.vectors @ looks.templates.T  # (stills, templates)
    rows = np.arange(len(looks.own))
    genuine = sims[rows, looks.own]
    mask = impostor_mask(looks, rows)
    groups = (looks.track[:, None] * len(looks.templates) + np.arange(len(looks.templates))[None, :])[mask]
    return MeasuredScores(
        genuine.astype(np.float64),
        looks.track,
        sims[mask].astype(np.float32),
        groups,
        len(looks.templates),
        len(set(looks.track.tolist())),
        len(looks.vectors),
        looks.no_face,
        looks.probe_names,
    )


def measure_scores(
    engine: FaceEngine,
    lfw_dir: Path,
    *,
    people: int = 1500,
    looks: int = 5,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> MeasuredScores:
    return scores_of(measure_looks(engine, lfw_dir, people=people, looks=looks, seed=seed, progress=progress))


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


# ------------------------------------------------------------------------- round two: looks and pools
MIN_BAND_FACES = 50  # a size band with fewer calibration faces uses ℓ over all sizes
LIVE_MAX_FACES = 10  # the live analyser keeps a track's best 10 faces by quality (VIGIL_LIVE_MAX_FACES)


def kept_faces(looks: MeasuredLooks, max_faces: int = LIVE_MAX_FACES) -> list[np.ndarray]:
    """For each still, the stills of its track the live analyser holds once it has arrived: every face
    so far, the lowest-quality one dropped whenever there are more than ``max_faces``."""
    out: list[np.ndarray] = []
    kept: list[int] = []
    for i in range(len(looks.track)):
        if i == 0 or looks.track[i] != looks.track[i - 1]:
            kept = []
        kept.append(i)
        if len(kept) > max_faces:
            del kept[int(np.argmin(looks.qualities[kept]))]
        out.append(np.array(kept))
    return out


def live_pools(looks: MeasuredLooks, kept: list[np.ndarray]) -> np.ndarray:
    """(s, d): the pooled face of each still's track as it stands once that still has arrived."""
    return np.stack([pooled_face(looks.vectors[k], looks.qualities[k]) for k in kept])


def _genuine_and_impostor(looks: MeasuredLooks, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = np.arange(len(looks.own))
    mask = impostor_mask(looks, rows)
    return sims[rows, looks.own].astype(np.float64), mask, rows


def fit_look_model(
    looks: MeasuredLooks,
    reference: FaceScoreModel,
    *,
    rule: str = "looks+pooled",
    best: int = 1,
    max_faces: int = LIVE_MAX_FACES,
    edges: tuple[float, ...] = SIZE_BAND_EDGES,
    sample: int = 200_000,
    seed: int = 0,
) -> LookModel:
    """ℓ per size band (the detector's inter-eye distance), ℓ of the pooled face (tracks pooled as the
    live analyser pools them, after every face) and ρ of the band-conditioned ℓ within tracks (the
    larger of the genuine and impostor estimates). ``reference``: ℓ over all sizes, also what a band with
    fewer than ``MIN_BAND_FACES`` calibration faces uses (a small labelled set says nothing per band)."""
    sims = looks.vectors @ looks.templates.T
    genuine, mask, _ = _genuine_and_impostor(looks, sims)
    band = size_bands(looks.iods, edges)
    models = []
    for b in range(len(edges) + 1):
        rows = band == b
        if rows.sum() < MIN_BAND_FACES:  # too few to say more than every size together does
            models.append(reference)
            continue
        models.append(fit_score_model(genuine[rows], sims[rows][mask[rows]], rho=1.0))
    draft = LookModel(reference, tuple(models), None, "best-looks", best, edges)
    llr_genuine = draft.face_llr(genuine[:, None], looks.iods)[:, 0]
    rho_genuine = within_track_correlation(llr_genuine, looks.track)
    rng = np.random.default_rng(seed)
    columns = rng.choice(
        len(looks.templates), size=min(len(looks.templates), max(2, sample // len(looks.templates) + 50)), replace=False
    )
    sub = sims[:, columns]
    llr_impostor = draft.face_llr(sub, looks.iods)
    keep = mask[:, columns]
    groups = looks.track[:, None] * len(looks.templates) + columns[None, :]
    rho_impostor = within_track_correlation(llr_impostor[keep], groups[keep])
    rho = max(rho_genuine, rho_impostor)
    bands = tuple(replace(m, rho=rho) for m in models)
    pooled_model = None
    if rule != "best-looks":
        pools = live_pools(looks, kept_faces(looks, max_faces))
        pool_sims = pools @ looks.templates.T
        pool_genuine, pool_mask, _ = _genuine_and_impostor(looks, pool_sims)
        pooled_model = fit_score_model(pool_genuine, pool_sims[pool_mask], rho=rho)
    return LookModel(replace(reference, rho=rho), bands, pooled_model, rule, best, edges)


def look_track_scores(
    looks: MeasuredLooks, model: LookModel, *, max_faces: int = LIVE_MAX_FACES
) -> tuple[np.ndarray, np.ndarray]:
    """Genuine (one per track) and impostor (one per track and other template) track scores under
    ``model``'s rule, judged as live tracks are: after every face, on the faces the analyser keeps,
    the highest Λ reached (nats: the rule's evidence outgrows what one face's similarity expresses)."""
    kept = kept_faces(looks, max_faces)
    pools = live_pools(looks, kept) if model.uses_pooled else None
    starts = np.flatnonzero(np.r_[True, looks.track[1:] != looks.track[:-1]])
    ends = np.r_[starts[1:], len(looks.track)]
    genuine, impostor = [], []
    for start, end in zip(starts, ends, strict=True):
        rows = np.arange(start, end)
        sims = looks.vectors[rows] @ looks.templates.T  # (n, t)
        llr = model.face_llr(sims, looks.iods[rows])
        pool_sims = pools[rows] @ looks.templates.T if pools is not None else None
        strongest = np.full(len(looks.templates), -np.inf)
        for step, i in enumerate(rows):
            held = kept[i] - start
            parts = []
            if model.rule != "pooled":
                parts.append(best_looks_evidence(llr[held], model.rho, model.best))
            if pool_sims is not None and model.pooled is not None:
                parts.append(model.pooled.llr_of(pool_sims[step]))
            strongest = np.maximum(strongest, np.max(np.stack(parts), axis=0))
        mask = impostor_mask(looks, rows[:1])[0]
        own = looks.own[start]
        genuine.append(strongest[own])
        impostor.append(strongest[mask])
    return np.asarray(genuine), np.concatenate(impostor)


def look_track_curve(looks: MeasuredLooks, model: LookModel, *, max_faces: int = LIVE_MAX_FACES) -> ScoreCurve:
    """The track-level error curve of ``model``'s rule, in nats (what its operating points are read off)."""
    return score_curve(*look_track_scores(looks, model, max_faces=max_faces), grid=NATS_GRID)


@dataclass(frozen=True)
class FittedCurves:
    """Everything measured for one embedder: the per-face curve and ℓ, the issue-12 fusion model and its
    track curve (kept as the reference), the look model and the track-level curve of its rule."""

    scores: MeasuredScores
    curve: ScoreCurve
    model: FaceScoreModel
    fused_tracks: ScoreCurve
    looks: LookModel
    tracks: ScoreCurve
    protocol: str


def fit_all(measured: MeasuredLooks, *, rule: str = "looks+pooled", best: int = 1) -> FittedCurves:
    scores = scores_of(measured)
    curve, model = fit_curves(scores)
    looks = fit_look_model(measured, model, rule=rule, best=best)
    return FittedCurves(
        scores, curve, model, track_curve(scores, model), looks, look_track_curve(measured, looks), measured.protocol
    )


def measure_and_fit(
    engine: FaceEngine,
    lfw_dir: Path,
    *,
    people: int,
    looks: int,
    rule: str = "looks+pooled",
    best: int = 1,
    varied: bool = False,
    min_quality: float = 0.3,
    progress: Callable[[int, int], None] | None = None,
) -> FittedCurves:
    """Measure on a labelled set and fit everything; only stills the live quality gate would embed count."""
    measured = measure_looks(engine, lfw_dir, people=people, looks=looks, varied=varied, progress=progress)
    return fit_all(measured.admitted(min_quality), rule=rule, best=best)


def curves_document(engine: FaceEngine, fitted: FittedCurves, *, data: str, command: str) -> dict[str, object]:
    """What ships as package data for one embedder (numbers only)."""
    scores = fitted.scores
    return {
        "format": CURVES_FORMAT,
        "embedder": engine.embedder.name,
        "version": engine.embedder.version,
        "detector": engine.detector.name,
        "measured": datetime.now(UTC).strftime("%Y-%m-%d"),
        "data": data,
        "command": command,
        "protocol": fitted.protocol,
        "rule": fitted.looks.rule,
        "templates": scores.templates,
        "tracks": scores.tracks,
        "stills": scores.stills,
        "no_face": scores.no_face,
        "validated_floor": validated_floor(fitted.curve),
        "curve": fitted.curve.as_json(),
        "score_model": fitted.model.as_json(),
        "look_model": fitted.looks.as_json(),
        "track_curve": fitted.tracks.as_json(),
        "fused_track_curve": fitted.fused_tracks.as_json(),
    }
