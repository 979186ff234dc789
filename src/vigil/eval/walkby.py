"""The walk-by benchmark: does the live pipeline find an enrolled person seen on camera, when the
watchlist photo is a *different* photo? (docs/evaluation.md)

* **Enrolled** people: LFW people with at least two images, enrolled from their first; each is seen in
  a synthetic walk-by clip rendered from their second (``vigil.eval.walkby_render``).
* **Distractors**: LFW people with a single image, rendered the same way, enrolled nowhere.
* **Padding**: further people (first images, never rendered) fill the watchlist to ``N``. When ``N``
  is smaller than the enrolled set, the enrolled people are split into watchlists of ``N`` and each
  walk-by is judged against its own. Each distractor walk-by is a passer-by trial against each of
  ``distractor_watchlists`` watchlists (the enrolled ones, then padding-only ones, disjoint while the
  padding lasts), so that a false-alert rate of one per thousand can be resolved from a few hundred clips.
* Every clip is decoded (PyAV, the cameras' decoder) at the analysis rate and goes through the real
  ``CameraAnalyser`` — detector, tracker, quality gate, embedder, gallery search, track decision — once
  per watchlist size. The detector's and embedder's outputs do not depend on the watchlist, so they
  are computed once per frame and reused for the other sizes (:class:`MemoEngine`).
* The rule under test (the fused, calibrated rule at the category's policy) raises the alerts. The
  references are replayed on the same judgements the analyser made: today's vote rule and a
  face_recognition-style per-frame rule, each at the threshold that gives the same false-alert rate
  on the same distractors, and the per-frame rule at face_recognition's tolerance 0.6.

The result holds counts and rates only.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import DatasetError
from vigil.eval.lfw import LfwDataset
from vigil.eval.walkby_render import draw_scene, encode_h264, render_frames, street_background
from vigil.pipeline.analyser import AnalysisSettings, CameraAnalyser, TrackFaces
from vigil.pipeline.events import TrackMatch
from vigil.pipeline.gate import Coverage
from vigil.pipeline.offline import CollectingSink, GalleryMatcher, sample_frames
from vigil.recognition.calibration import CategoryPolicy, ErrorCurves, category_rule
from vigil.recognition.decision import DecisionRule, decide, strongest
from vigil.recognition.gallery import Gallery
from vigil.recognition.looks import pooled_face
from vigil.video.sources import Frame
from vigil.vision.engine import FaceEngine
from vigil.vision.image import decode_image, load_image
from vigil.vision.types import Embeddings, FaceDetections, central_face

FACE_RECOGNITION_TOLERANCE = 0.6  # face_recognition's default Euclidean distance between descriptors
SWEEP = np.round(np.arange(0.30, 1.0005, 0.002), 3)
CATEGORY = "walkby"


def tolerance_as_similarity(tolerance: float) -> float:
    """Euclidean distance between unit vectors → cosine similarity (d² = 2 − 2 cos)."""
    return 1.0 - tolerance**2 / 2.0


@dataclass(frozen=True)
class Person:
    name: str
    photo: Path  # enrolled (first image), or the only image of a distractor
    clip_image: Path | None  # rendered in the walk-by (second image; distractors: their only one)
    next_image: Path | None = None  # a third image: the walk-by after a confirmed sighting
    more_images: tuple[Path, ...] = ()  # varied looks: further photos shown in turn in the same walk-by


@dataclass(frozen=True)
class Plan:
    enrolled: list[Person]
    distractors: list[Person]
    padding: list[Person]


VARIED_PHOTOS = 4  # varied looks: one photo enrolled, the walk-by made of the next (up to) three


def plan_people(
    dataset: LfwDataset, *, enrolled: int, distractors: int, padding: int, seed: int = 0, varied: bool = False
) -> Plan:
    """Who is enrolled, who walks by unenrolled and who pads the watchlists. ``varied``: the enrolled are
    drawn from people with at least four photos, and their walk-by shows photos 2, 3 and 4 in turn."""
    counts = dataset.people()
    rng = np.random.default_rng(seed)
    multi = [n for n, c in counts.items() if c >= (VARIED_PHOTOS if varied else 2)]
    single = [n for n, c in counts.items() if c == 1]
    rng.shuffle(multi)
    rng.shuffle(single)
    chosen = [
        Person(
            n,
            dataset.image_path(n, 1),
            dataset.image_path(n, 2),
            None if varied or counts[n] < 3 else dataset.image_path(n, 3),
            tuple(dataset.image_path(n, i) for i in range(3, VARIED_PHOTOS + 1)) if varied else (),
        )
        for n in multi[:enrolled]
    ]
    strangers = [Person(n, dataset.image_path(n, 1), dataset.image_path(n, 1)) for n in single[:distractors]]
    rest = (
        [n for n, c in counts.items() if c >= 2 and n not in {p.name for p in chosen}] if varied else multi[enrolled:]
    )
    spare = [dataset.image_path(n, 1) for n in rest] + [dataset.image_path(n, 1) for n in single[distractors:]]
    pad_names = [p.parent.name for p in spare]
    order = rng.permutation(len(spare))[:padding]
    pad = [Person(pad_names[i], spare[i], None) for i in order]
    if len(chosen) < enrolled or len(strangers) < distractors:
        raise DatasetError(
            f"the data set has {len(multi)} people with two images and {len(single)} with one: too few for "
            f"{enrolled} enrolled and {distractors} distractors"
        )
    return Plan(chosen, strangers, pad)


# ------------------------------------------------------------------------------------------ the engine
class MemoEngine:
    """The face engine with its outputs remembered per image content (they do not depend on the
    watchlist): the same clip analysed against several watchlists detects and embeds once. Keys are the
    pixels' digest, not the array's identity — the detection schedule's mosaics are short-lived arrays
    whose ids are reused."""

    def __init__(self, engine: FaceEngine) -> None:
        self.engine = engine
        self.detector = engine.detector
        self.embedder = engine.embedder
        self.model_lock = engine.model_lock
        self._detections: dict[bytes, FaceDetections] = {}
        self._vectors: dict[tuple[bytes, bytes], np.ndarray] = {}

    def forget(self) -> None:
        self._detections.clear()
        self._vectors.clear()

    @staticmethod
    def _key(image: np.ndarray) -> bytes:
        digest = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16)
        digest.update(repr(image.shape).encode())
        return digest.digest()

    def detect(self, image: np.ndarray) -> FaceDetections:
        key = self._key(image)
        if key not in self._detections:
            self._detections[key] = self.engine.detect(image)
        return self._detections[key]

    def embed(self, image: np.ndarray, faces: FaceDetections) -> Embeddings:
        key = self._key(image)
        boxes = [(key, face.tobytes()) for face in np.concatenate([faces.xyxy, faces.kps.reshape(-1, 10)], axis=1)]
        missing = [i for i, box in enumerate(boxes) if box not in self._vectors]
        if missing:
            fresh = self.engine.embed(image, faces[np.array(missing)]).vectors
            for i, vector in zip(missing, fresh, strict=True):
                self._vectors[boxes[i]] = vector
        vectors = np.stack([self._vectors[box] for box in boxes])
        return Embeddings(vectors, model=self.embedder.name, version=self.embedder.version)


# ----------------------------------------------------------------------------------------- the matcher
def watchlist_of(names: list[str], vectors: np.ndarray, rule: DecisionRule) -> GalleryMatcher:
    """A watchlist of templates in a real :class:`Gallery` (never expiring), one rule for everyone."""
    gallery = Gallery(vectors.shape[1])
    gallery.add_many(names, vectors, np.full(len(names), np.inf))
    return GalleryMatcher(gallery, rule)


@dataclass(frozen=True)
class Judgement:
    """One call of the track decision: the track's faces so far and their scores against its candidates."""

    track: str
    qualities: np.ndarray
    subject_ids: list[str]
    scores: np.ndarray
    iods: np.ndarray  # (n,) px between the eyes of each face
    pooled: np.ndarray  # (m,) the track's pooled face against each candidate


class RecordingAnalyser(CameraAnalyser):
    """The real analyser, noting every judgement it makes so reference rules can be replayed on it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.judgements: list[Judgement] = []

    def _judge(self, track: TrackFaces, frame: Frame, coverage: Coverage | None) -> Any:
        if track.candidates:
            subject_ids = sorted(track.candidates)
            stacked = np.stack(track.vectors)
            scores = self.matcher.subject_scores(stacked, subject_ids)
            pool = pooled_face(stacked, np.asarray(track.qualities))
            pooled = self.matcher.subject_scores(pool[None], subject_ids)[0]
            self.judgements.append(
                Judgement(track.uid, np.array(track.qualities), subject_ids, scores, np.array(track.iods), pooled)
            )
        return super()._judge(track, frame, coverage)


@dataclass
class ClipRun:
    """One walk-by against one watchlist: who it alerted for, the judgements made, the alerts' crops."""

    person: Person
    kind: str  # "enrolled" | "distractor"
    alerted: set[str]
    judgements: list[Judgement]
    crops: dict[str, bytes]  # subject -> the crop its alert would store
    faces_embedded: int


# --------------------------------------------------------------------------------------------- replays
def vote_rule_alerts(judgements: list[Judgement], threshold: float, min_faces: int = 3) -> set[str]:
    rule = DecisionRule(threshold, min_faces)
    out = set()
    for j in judgements:
        verdict = decide(j.qualities, j.subject_ids, j.scores, dict.fromkeys(j.subject_ids, rule))
        if verdict is not None:
            out.add(verdict.subject_id)
    return out


def rule_alerts(judgements: list[Judgement], rule: DecisionRule) -> set[str]:
    """Who ``rule`` (any of them: looks, fused, votes) alerts for on the recorded judgements."""
    out = set()
    for j in judgements:
        rules = dict.fromkeys(j.subject_ids, rule)
        verdict = decide(j.qualities, j.subject_ids, j.scores, rules, iods=j.iods, pooled=j.pooled)
        if verdict is not None:
            out.add(verdict.subject_id)
    return out


def per_frame_alerts(judgements: list[Judgement], threshold: float) -> set[str]:
    out = set()
    for j in judgements:
        best = j.scores.argmax(axis=1)
        for row, column in enumerate(best):
            if j.scores[row, column] >= threshold:
                out.add(j.subject_ids[column])
    return out


@dataclass(frozen=True)
class Rates:
    hit_rate: float
    wrong_subject_rate: float
    false_alerts_per_1000: float


def rates(runs: list[ClipRun], alerted: Callable[[ClipRun], set[str]]) -> Rates:
    enrolled = [r for r in runs if r.kind == "enrolled"]
    strangers = [r for r in runs if r.kind == "distractor"]
    hits = wrong = false = 0
    for r in enrolled:
        subjects = alerted(r)
        hits += r.person.name in subjects
        wrong += bool(subjects - {r.person.name})
    for r in strangers:
        false += bool(alerted(r))
    return Rates(hits / max(1, len(enrolled)), wrong / max(1, len(enrolled)), 1000.0 * false / max(1, len(strangers)))


@dataclass(frozen=True)
class EvidenceOutcomes:
    """Under one rule (looks or fused, one threshold for every candidate), per walk-by: the strongest
    evidence (nats) for the right person, for anyone else, and for anyone. A judgement alerts for its
    strongest candidate once that candidate's strength reaches the threshold, so these three numbers fix
    every walk-by's outcome at every threshold."""

    kinds: np.ndarray
    right: np.ndarray
    other: np.ndarray
    anyone: np.ndarray

    @classmethod
    def of(cls, runs: list[ClipRun], rule: DecisionRule) -> EvidenceOutcomes:
        right, other, anyone = [], [], []
        for run in runs:
            found = [
                best
                for j in run.judgements
                if (best := strongest(j.qualities, j.subject_ids, j.scores, rule, iods=j.iods, pooled=j.pooled))
            ]
            right.append(max((e for s, e in found if s == run.person.name), default=-np.inf))
            other.append(max((e for s, e in found if s != run.person.name), default=-np.inf))
            anyone.append(max((e for _, e in found), default=-np.inf))
        return cls(np.array([r.kind for r in runs]), np.array(right), np.array(other), np.array(anyone))

    def at(self, threshold: float) -> Rates:
        enrolled = self.kinds == "enrolled"
        strangers = self.anyone[self.kinds == "distractor"]
        hits, wrong = self.right[enrolled] >= threshold, self.other[enrolled] >= threshold
        return Rates(
            float(hits.mean()) if enrolled.any() else 0.0,
            float(wrong.mean()) if enrolled.any() else 0.0,
            1000.0 * int((strangers >= threshold).sum()) / max(1, len(strangers)),
        )

    def best_within(self, budget_per_1000: float) -> tuple[float, Rates]:
        """The threshold (nats) with the best hit rate whose false alerts stay within the budget."""
        strangers = self.anyone[self.kinds == "distractor"]
        allowed = int(np.floor(budget_per_1000 * len(strangers) / 1000.0 + 1e-9))
        ranked = np.sort(strangers[np.isfinite(strangers)])[::-1]
        threshold = float(np.nextafter(ranked[allowed], np.inf)) if allowed < len(ranked) else -np.inf
        return threshold, self.at(threshold)


def evidence_sweep(runs: list[ClipRun], rule: DecisionRule, budget_per_1000: float) -> tuple[float, Rates]:
    """``rule`` (looks or fused) at the evidence (nats) with the best hit rate within the budget."""
    return EvidenceOutcomes.of(runs, rule).best_within(budget_per_1000)


def at_same_false_alerts(
    runs: list[ClipRun], rule: Callable[[list[Judgement], float], set[str]], budget_per_1000: float
) -> tuple[float, Rates]:
    """The threshold of ``rule`` with the best hit rate whose false alerts stay within the budget."""
    best: tuple[float, Rates] | None = None
    for threshold in SWEEP:

        def alerted(run: ClipRun, t: float = float(threshold)) -> set[str]:
            return rule(run.judgements, t)

        r = rates(runs, alerted)
        if r.false_alerts_per_1000 <= budget_per_1000 + 1e-9 and (best is None or r.hit_rate > best[1].hit_rate):
            best = (float(threshold), r)
    assert best is not None  # at the top of the sweep nothing alerts
    return best


# ------------------------------------------------------------------------------------------- rendering
def render_clips(
    people: list[Person], folder: Path, engine: FaceEngine, *, seed: int, image: str = "clip_image"
) -> dict[str, Path]:
    """Render (or reuse) one walk-by clip per person from ``image`` (``clip_image`` or ``next_image``);
    a person whose photo has no face gets none."""
    folder.mkdir(parents=True, exist_ok=True)
    clips: dict[str, Path] = {}
    for i, person in enumerate(people):
        source = getattr(person, image)
        if source is None:
            continue
        varied = image == "clip_image" and bool(person.more_images)
        path = folder / f"{source.stem}-{'v' if varied else 's'}{seed}.mp4"
        if not path.is_file():
            looks = [_face_of(engine, photo) for photo in (source, *(person.more_images if varied else ()))]
            if looks[0] is None:
                continue
            rng = np.random.default_rng([seed, i, len(person.name), image == "next_image"])
            background = street_background(rng)
            scene = draw_scene(rng)
            more = [look for look in looks[1:] if look is not None]
            frames = render_frames(*looks[0], background, scene, more)
            encode_h264(frames, path.with_suffix(".tmp.mp4"), bitrate=scene.bitrate).rename(path)
        clips[person.name] = path
    return clips


def _face_of(engine: FaceEngine, photo: Path) -> tuple[np.ndarray, np.ndarray, float] | None:
    """A photo, its central face's box and inter-eye distance (None: no face found)."""
    portrait = load_image(photo)
    faces = engine.detect(portrait)
    if len(faces) == 0:
        return None
    face = faces[central_face(faces, portrait.shape[1], portrait.shape[0])]
    return portrait, face.xyxy[0], float(np.linalg.norm(face.kps[0][1] - face.kps[0][0]))


def cached_templates(engine: FaceEngine, people: list[Person], folder: Path) -> dict[str, np.ndarray]:
    """:func:`enroll_vectors`, remembered beside the clips for this embedder's exact weights (a run
    against 1,000-person watchlists enrolls thousands of photos; the next run reuses them)."""
    path = folder / f"templates-{engine.embedder.name}-{engine.embedder.version}.npz".replace("/", "_")
    known: dict[str, np.ndarray] = {}
    if path.is_file():
        with np.load(path) as stored:
            known = {name: stored[name] for name in stored.files}
    missing = [p for p in people if p.name not in known]
    if missing:
        known |= enroll_vectors(engine, missing)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(path.with_suffix(".tmp.npz"), **known)  # type: ignore[arg-type]
        path.with_suffix(".tmp.npz").rename(path)
    return {p.name: known[p.name] for p in people if p.name in known}


def enroll_vectors(engine: FaceEngine, people: list[Person]) -> dict[str, np.ndarray]:
    """One template per person from their photo (the largest central face); people without a face are left out."""
    out = {}
    for person in people:
        image = load_image(person.photo)
        faces = engine.detect(image)
        if len(faces) == 0:
            continue
        face = faces[central_face(faces, image.shape[1], image.shape[0])]
        out[person.name] = engine.embed(image, face).vectors[0]
    return out


# --------------------------------------------------------------------------------------------- the run
@dataclass
class WalkbyConfig:
    watchlist_sizes: tuple[int, ...] = (10, 100, 1000)
    enrolled: int = 100
    distractors: int = 200
    policy_per_1000: float = 1.0  # false alerts per 1,000 passers-by
    analysis_fps: float = 5.0
    seed: int = 0
    groups: dict[str, str] = field(default_factory=dict)
    sighting_templates: bool = True  # also measure the gain of one confirmed sighting's face as a template
    distractor_watchlists: int = 5  # each distractor walk-by is a passer-by trial against this many watchlists
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)  # the live analysis (its detection schedule)
    # further track rules (curves files with a look model) replayed on the same walk-bys, for choosing one
    candidates: dict[str, ErrorCurves] = field(default_factory=dict)
    workers: int = 1  # analysis processes (each walk-by analysed whole in one of them)
    varied_looks: bool = False  # enrolled walk-bys rendered from several photos of the person (>= 4 photos)


def rule_for(
    curves: ErrorCurves | None, policy_per_1000: float, size: int, fallback: float
) -> tuple[DecisionRule, dict[str, Any]]:
    """The rule a fresh install runs for a category with this policy and a watchlist of ``size``: the looks
    (or fused) rule at the operating point from the curves, or the vote rule at ``fallback`` without them."""
    rule, point = category_rule(curves, CategoryPolicy(policy_per_1000, 1, None), size, fallback)
    if point is None or not rule.fused:
        return rule, {"rule": "votes", "threshold": rule.threshold, "calibrated": point is not None}
    return rule, {
        "rule": rule.name,
        "policy_false_alerts_per_1000": policy_per_1000,
        "threshold": rule.threshold,
        "evidence_needed_nats": round(rule.needed, 3),
        "rho": rule.looks.rho if rule.looks is not None else rule.model.rho if rule.model is not None else None,
        "resolved": point.resolved,
        "curve": "track" if curves is not None and curves.tracks is not None else "face",
        "expected_false_alerts_per_1000": round(1000 * point.false_alert_rate, 3),
        "expected_hit_rate": round(1.0 - point.miss_rate, 4),
    }


class CropKeepingSink(CollectingSink):
    """Keeps, per subject, the crop the alert would store (the best-scoring face's), as a sighting's."""

    def __init__(self) -> None:
        super().__init__()
        self.crops: dict[str, tuple[float, bytes]] = {}

    def _keep(self, event: TrackMatch) -> None:
        if event.crop_jpeg and event.score > self.crops.get(event.subject_id, (-2.0, b""))[0]:
            self.crops[event.subject_id] = (event.score, event.crop_jpeg)

    def raise_alert(self, event: TrackMatch) -> TrackMatch | None:
        self._keep(event)
        return super().raise_alert(event)

    def update_alert(self, event: TrackMatch) -> None:
        self._keep(event)


def run_clip(
    engine: MemoEngine,
    person: Person,
    kind: str,
    matcher: GalleryMatcher,
    frames: list[Frame],
    analysis: AnalysisSettings | None = None,
) -> ClipRun:
    """One walk-by through the real analyser at the analysis rate the frames were sampled at."""
    sink = CropKeepingSink()
    analyser = RecordingAnalyser(person.name, engine, matcher, sink, analysis or AnalysisSettings())  # type: ignore[arg-type]
    for frame in frames:
        analyser.process(frame)
    analyser.finish()
    return ClipRun(
        person,
        kind,
        {e.subject_id for e in sink.raised},
        analyser.judgements,
        {s: crop for s, (_, crop) in sink.crops.items()},
        analyser.counters.embedded,
    )


def sighting_template(engine: FaceEngine, crop_jpeg: bytes) -> np.ndarray | None:
    """The template a supervisor's "add this face" makes of a sighting's crop: its centre face, embedded."""
    image = decode_image(crop_jpeg)
    faces = engine.detect(image)
    if len(faces) == 0:
        return None
    return engine.embed(image, faces[central_face(faces, image.shape[1], image.shape[0])]).vectors[0]


def watchlist_members(config: WalkbyConfig, enrolled: list[Person], pool: list[str]) -> dict[int, list[list[str]]]:
    """Per watchlist size, the names on each of its watchlists: the enrolled split into lists of ``N``,
    padded with further people; more padding-only lists until there are ``distractor_watchlists``."""
    members: dict[int, list[list[str]]] = {}
    for n in config.watchlist_sizes:
        chunks = [enrolled[i : i + n] for i in range(0, len(enrolled), n)] or [[]]
        while len(chunks) < config.distractor_watchlists:
            chunks.append([])  # further watchlists of padding only, for more passer-by trials
        lists, used = [], 0
        for chunk in chunks:
            need = max(0, n - len(chunk))
            fill = [pool[(used + j) % len(pool)] for j in range(need)] if pool else []
            used += need
            lists.append([p.name for p in chunk] + fill)
        members[n] = lists
    return members


def build_watchlists(
    members: dict[int, list[list[str]]], templates: dict[str, np.ndarray], rules: dict[int, DecisionRule]
) -> dict[int, list[GalleryMatcher]]:
    return {
        n: [watchlist_of(names, np.stack([templates[x] for x in names]), rules[n]) for names in lists]
        for n, lists in members.items()
    }


def analyse_walker(
    memo: MemoEngine,
    person: Person,
    kind: str,
    clip: Path,
    members: dict[int, list[list[str]]],
    watchlists: dict[int, list[GalleryMatcher]],
    config: WalkbyConfig,
) -> list[tuple[int, ClipRun]]:
    """One walk-by through the analyser against every watchlist it is judged on: the enrolled against the
    one holding them, a distractor once per watchlist (a passer-by trial each)."""
    frames = sample_frames(clip, config.analysis_fps)
    out = []
    for n in config.watchlist_sizes:
        if kind == "enrolled":
            which = [next(i for i, names in enumerate(members[n]) if person.name in names)]
        else:
            which = list(range(min(config.distractor_watchlists, len(members[n]))))
        for i in which:
            out.append((n, run_clip(memo, person, kind, watchlists[n][i], frames, config.analysis)))
    memo.forget()
    return out


_WORKER: dict[str, Any] = {}  # one analysis process's engine and watchlists (``--workers``)


def _worker_start(
    engine_factory: Callable[[], FaceEngine],
    members: dict[int, list[list[str]]],
    templates: dict[str, np.ndarray],
    rules: dict[int, DecisionRule],
    config: WalkbyConfig,
) -> None:
    _WORKER["memo"] = MemoEngine(engine_factory().prepare())
    _WORKER["members"], _WORKER["config"] = members, config
    _WORKER["watchlists"] = build_watchlists(members, templates, rules)


def _worker_walk(walker: tuple[Person, str, Path]) -> list[tuple[int, ClipRun]]:
    person, kind, clip = walker
    w = _WORKER
    return analyse_walker(w["memo"], person, kind, clip, w["members"], w["watchlists"], w["config"])


def _analyse_in_parallel(
    walkers: list[tuple[Person, str, Path]],
    engine_factory: Callable[[], FaceEngine],
    members: dict[int, list[list[str]]],
    templates: dict[str, np.ndarray],
    rules: dict[int, tuple[DecisionRule, dict[str, Any]]],
    config: WalkbyConfig,
    say: Callable[[str], None],
) -> list[list[tuple[int, ClipRun]]]:
    """The walk-bys spread over ``config.workers`` processes (each with its own engine, one model thread):
    the same analysis, in walker order, faster on a machine with the cores for it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    plain_rules = {n: r for n, (r, _) in rules.items()}
    args = (engine_factory, members, templates, plain_rules, config)
    out = []
    with ProcessPoolExecutor(config.workers, mp_context=context, initializer=_worker_start, initargs=args) as pool:
        for done, result in enumerate(pool.map(_worker_walk, walkers, chunksize=4), 1):
            out.append(result)
            if done % 25 == 0:
                say(f"{done}/{len(walkers)} walk-bys analysed")
    return out


def run_walkby(
    engine: FaceEngine,
    lfw_dir: Path,
    clips_dir: Path,
    config: WalkbyConfig,
    *,
    curves: ErrorCurves | None,
    fallback_threshold: float,
    progress: Callable[[str], None] | None = None,
    engine_factory: Callable[[], FaceEngine] | None = None,
) -> dict[str, Any]:
    """``engine_factory`` (picklable) builds the engine again in each analysis process when
    ``config.workers`` > 1."""
    started = time.perf_counter()
    say = progress or (lambda _m: None)
    dataset = LfwDataset(lfw_dir)
    largest = max(config.watchlist_sizes)
    plan = plan_people(
        dataset,
        enrolled=config.enrolled,
        distractors=config.distractors,
        padding=largest * config.distractor_watchlists,
        seed=config.seed,
        varied=config.varied_looks,
    )
    say(f"rendering {len(plan.enrolled) + len(plan.distractors)} walk-by clips into {clips_dir}")
    clips = render_clips(plan.enrolled + plan.distractors, clips_dir, engine, seed=config.seed)
    say("enrolling")
    templates = cached_templates(engine, plan.enrolled + plan.padding, clips_dir)
    enrolled = [p for p in plan.enrolled if p.name in templates and p.name in clips]
    distractors = [p for p in plan.distractors if p.name in clips]
    padding = [p for p in plan.padding if p.name in templates]
    if len(padding) < largest - len(enrolled):
        raise DatasetError(f"too few further people ({len(padding)}) to pad a watchlist to {largest}")
    memo = MemoEngine(engine)
    results = []
    runs_by_size: dict[int, list[ClipRun]] = {n: [] for n in config.watchlist_sizes}
    rules = {n: rule_for(curves, config.policy_per_1000, n, fallback_threshold) for n in config.watchlist_sizes}
    members = watchlist_members(config, enrolled, [p.name for p in padding])
    watchlists = build_watchlists(members, templates, {n: r for n, (r, _) in rules.items()})
    sightings: dict[int, dict[str, bytes]] = {n: {} for n in config.watchlist_sizes}
    walkers = [(p, "enrolled", clips[p.name]) for p in enrolled] + [
        (p, "distractor", clips[p.name]) for p in distractors
    ]
    if config.workers > 1 and engine_factory is not None:
        done_runs = _analyse_in_parallel(walkers, engine_factory, members, templates, rules, config, say)
    else:
        done_runs = []
        for done, (person, kind, clip) in enumerate(walkers, 1):
            done_runs.append(analyse_walker(memo, person, kind, clip, members, watchlists, config))
            if done % 25 == 0:
                say(f"{done}/{len(walkers)} walk-bys analysed")
    for walker_runs in done_runs:
        for n, run in walker_runs:
            runs_by_size[n].append(run)
            person = run.person
            if run.kind == "enrolled" and person.name in run.crops and person.next_image is not None:
                sightings[n][person.name] = run.crops[person.name]
    gains: dict[int, dict[str, Any]] = {}
    if config.sighting_templates and not config.varied_looks:
        later = [p for p in enrolled if p.next_image is not None]
        say(f"rendering {len(later)} later walk-bys (a third photo) for the sighting-template measurement")
        next_clips = render_clips(later, clips_dir, engine, seed=config.seed, image="next_image")
        for n in config.watchlist_sizes:
            gains[n] = measure_sighting_gain(
                engine,
                memo,
                [p for p in later if p.name in next_clips],
                next_clips,
                sightings[n],
                members[n],
                templates,
                rules[n][0],
                config.analysis_fps,
                config.analysis,
            )
    tolerance = tolerance_as_similarity(FACE_RECOGNITION_TOLERANCE)
    for n in config.watchlist_sizes:
        runs = runs_by_size[n]
        fused = rates(runs, lambda r: r.alerted)
        votes_t, votes = at_same_false_alerts(runs, vote_rule_alerts, fused.false_alerts_per_1000)
        frame_t, frame = at_same_false_alerts(runs, per_frame_alerts, fused.false_alerts_per_1000)
        at_tolerance = rates(runs, lambda r: per_frame_alerts(r.judgements, tolerance))
        landed = rates(runs, lambda r: vote_rule_alerts(r.judgements, fallback_threshold))
        fused_model = curves.model if curves is not None else None
        fused_t, fused_r = (
            evidence_sweep(runs, DecisionRule(1.0, 1, fused_model), fused.false_alerts_per_1000)
            if fused_model is not None
            else (None, None)
        )
        candidates = {}
        for name, other in config.candidates.items():
            assert other.looks is not None
            own_rule, own_point = rule_for(other, config.policy_per_1000, n, fallback_threshold)
            outcomes = EvidenceOutcomes.of(runs, own_rule)
            swept = outcomes.best_within(fused.false_alerts_per_1000)
            candidates[name] = (swept, own_point, outcomes.at(own_rule.needed))
        entry: dict[str, Any] = {
            "watchlist_size": n,
            "watchlists": len(watchlists[n]),
            "enrolled_walkbys": sum(r.kind == "enrolled" for r in runs),
            "distractor_walkbys": len(distractors),
            "passerby_trials": sum(r.kind == "distractor" for r in runs),
            "hit_rate": round(fused.hit_rate, 4),
            "wrong_subject_rate": round(fused.wrong_subject_rate, 4),
            "false_alerts_per_1000": round(fused.false_alerts_per_1000, 2),
            "operating_point": rules[n][1],
            "todays_rule_hit_rate": round(votes.hit_rate, 4),
            "todays_rule_threshold": votes_t,
            "todays_rule_false_alerts_per_1000": round(votes.false_alerts_per_1000, 2),
            "todays_rule_at_provisional_threshold": {
                "threshold": fallback_threshold,
                "hit_rate": round(landed.hit_rate, 4),
                "false_alerts_per_1000": round(landed.false_alerts_per_1000, 2),
            },
            "rule": rules[n][0].name,
            "fused_rule_hit_rate": None if fused_r is None else round(fused_r.hit_rate, 4),
            "fused_rule_threshold": None
            if fused_t is None or fused_model is None
            else round(fused_model.similarity_of(fused_t), 4),
            "fused_rule_false_alerts_per_1000": None if fused_r is None else round(fused_r.false_alerts_per_1000, 2),
            "candidate_rules": {
                name: {
                    "hit_rate": round(r.hit_rate, 4),
                    "evidence_needed_nats": round(t, 3),
                    "false_alerts_per_1000": round(r.false_alerts_per_1000, 2),
                    "own_operating_point": point,
                    "at_own_threshold": {
                        "hit_rate": round(own.hit_rate, 4),
                        "wrong_subject_rate": round(own.wrong_subject_rate, 4),
                        "false_alerts_per_1000": round(own.false_alerts_per_1000, 2),
                    },
                }
                for name, ((t, r), point, own) in candidates.items()
            },
            "per_frame_hit_rate": round(frame.hit_rate, 4),
            "per_frame_threshold": frame_t,
            "per_frame_false_alerts_per_1000": round(frame.false_alerts_per_1000, 2),
            "per_frame_at_tolerance_0_6": {
                "similarity": round(tolerance, 3),
                "hit_rate": round(at_tolerance.hit_rate, 4),
                "wrong_subject_rate": round(at_tolerance.wrong_subject_rate, 4),
                "false_alerts_per_1000": round(at_tolerance.false_alerts_per_1000, 2),
            },
            "faces_embedded_per_walkby": round(
                float(np.mean([r.faces_embedded for r in runs if r.kind == "enrolled"] or [0])), 2
            ),
        }
        if config.groups:
            entry["groups"] = group_rates(runs, config.groups)
        if n in gains:
            entry["sighting_template"] = gains[n]
        results.append(entry)
    return {
        "detector": engine.detector.name,
        "embedder": f"{engine.embedder.name}@{engine.embedder.version}",
        "data": str(lfw_dir),
        "enrolled": len(enrolled),
        "distractors": len(distractors),
        "analysis_fps": config.analysis_fps,
        "detect_schedule": str(config.analysis.schedule.mode),
        "seed": config.seed,
        "protocol": "varied-looks" if config.varied_looks else "single-photo",
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }


def measure_sighting_gain(
    engine: FaceEngine,
    memo: MemoEngine,
    people: list[Person],
    next_clips: dict[str, Path],
    sighting_crops: dict[str, bytes],
    members: list[list[str]],
    templates: dict[str, np.ndarray],
    rule: DecisionRule,
    analysis_fps: float,
    analysis: AnalysisSettings | None = None,
) -> dict[str, Any]:
    """Hit rate on each person's *next* walk-by (rendered from a third photo), enrolled from one photo,
    without and with the face of their first, confirmed walk-by added as a template. A first walk-by that
    raised no correct alert adds nothing (there is no sighting to confirm)."""
    before = after = added = 0
    for person in people:
        names = next(names for names in members if person.name in names)
        vectors = np.stack([templates[x] for x in names])
        frames = sample_frames(next_clips[person.name], analysis_fps)
        plain = run_clip(memo, person, "enrolled", watchlist_of(names, vectors, rule), frames, analysis)
        before += person.name in plain.alerted
        extra = sighting_template(engine, sighting_crops[person.name]) if person.name in sighting_crops else None
        if extra is None:
            after += person.name in plain.alerted
        else:
            added += 1
            grown = watchlist_of([*names, person.name], np.vstack([vectors, extra[None]]), rule)
            after += person.name in run_clip(memo, person, "enrolled", grown, frames, analysis).alerted
        memo.forget()
    count = max(1, len(people))
    return {
        "next_walkbys": len(people),
        "sightings_added": added,
        "hit_rate_enrolled_photo_only": round(before / count, 4),
        "hit_rate_with_sighting_template": round(after / count, 4),
    }


def group_rates(runs: list[ClipRun], groups: dict[str, str]) -> dict[str, Any]:
    """Hit and false-alert rates per operator-supplied group, with the gap between the extremes."""
    from vigil.eval.groups import rate_gap

    labels = sorted({groups[r.person.name] for r in runs if r.person.name in groups})
    per: dict[str, Any] = {}
    hits: dict[str, tuple[int, int]] = {}
    falses: dict[str, tuple[int, int]] = {}
    for label in labels:
        mine = [r for r in runs if groups.get(r.person.name) == label]
        enrolled = [r for r in mine if r.kind == "enrolled"]
        strangers = [r for r in mine if r.kind == "distractor"]
        h = sum(r.person.name in r.alerted for r in enrolled)
        f = sum(bool(r.alerted) for r in strangers)
        hits[label], falses[label] = (h, len(enrolled)), (f, len(strangers))
        per[label] = {
            "enrolled_walkbys": len(enrolled),
            "hit_rate": round(h / len(enrolled), 4) if enrolled else None,
            "distractor_walkbys": len(strangers),
            "false_alerts_per_1000": round(1000 * f / len(strangers), 2) if strangers else None,
        }
    return {"per_group": per, "hit_rate_gap": rate_gap(hits), "false_alert_rate_gap": rate_gap(falses)}
