"""One camera's analysis: frame → faces → tracks → quality gate → embeddings → track verdicts → alerts.

Per frame: detect every face and measure its quality; follow faces with the tracker; embed a track's
face when it passes the quality gate and is among the track's best ``max_faces`` so far; search the
gallery; re-weigh the track's evidence (``vigil.recognition.decision``); raise an alert the first time a track
qualifies for a subject, and update it while the track goes on.

Everything about a face — box, crop, embedding, score — lives in memory only, inside its track, and is
forgotten when the track ends. Only an alert writes anything (``vigil.domain.alerts``). Counters are
kept: frames and faces analysed, faces embedded, tracks started.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Protocol

import cv2
import numpy as np

from vigil.pipeline.events import AlertSink, TrackFace, TrackMatch, alert_key
from vigil.pipeline.gate import Coverage, ScanGate
from vigil.recognition.decision import DecisionRule, closest_call, decide
from vigil.recognition.gallery import Candidate
from vigil.recognition.looks import pooled_face
from vigil.settings import VigilSettings
from vigil.video.scheduler import DetectionPlan, DetectionScheduler, ScheduleCounts, ScheduleMode, ScheduleSettings
from vigil.video.sources import Frame
from vigil.video.tracker import FaceTracker, Track
from vigil.video.windows import detect_in_windows
from vigil.video.zones import CameraZones
from vigil.vision.engine import FaceEngine
from vigil.vision.quality import assess_quality
from vigil.vision.redact import blur_regions
from vigil.vision.types import FaceDetections

log = logging.getLogger(__name__)


class SubjectInfo(Protocol):
    @property
    def display_name(self) -> str: ...

    @property
    def category(self) -> str: ...

    @property
    def rule(self) -> DecisionRule: ...


class Matcher(Protocol):
    def search(
        self, vectors: np.ndarray, k: int, at: float, admit: Callable[[str], bool] | None = None
    ) -> list[list[Candidate]]:
        """Top ``k`` matchable subjects per vector; with ``admit``, only subjects it admits."""
        ...

    def subject_scores(self, vectors: np.ndarray, subject_ids: list[str]) -> np.ndarray: ...

    def card(self, subject_id: str) -> SubjectInfo: ...


@dataclass(frozen=True)
class AnalysisSettings:
    min_quality: float = 0.3  # faces below this are tracked but never embedded
    max_faces: int = 10  # embedded faces kept per track (the best by quality)
    embed_interval_s: float = 0.3  # embed a track's face at most this often (unless it is clearly better)
    search_k: int = 3
    rearm_s: float = 30.0  # a subject seen again on the same camera within this is the same alert
    crop_max_px: int = 240
    evidence_faces: int = 5  # the track's best faces stored beside its alert (issue 28)
    scene_margin: float = 5.0  # the scene frame: this many times the face's larger side, around it
    scene_max_px: int = 720
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)  # where faces are looked for
    # A track is *settled* once it raised its alert, or has this many embedded faces and no candidate
    # within ``settle_margin`` (similarity) of a red flag; it is then embedded at most every
    # ``settled_embed_interval_s`` (new and undecided tracks keep ``embed_interval_s``).
    settle_faces: int = 4
    settle_margin: float = 0.02
    settled_embed_interval_s: float = 1.5

    @classmethod
    def from_settings(cls, settings: VigilSettings) -> AnalysisSettings:
        schedule = ScheduleSettings(
            mode=ScheduleMode(settings.detect_schedule), full_every_s=settings.detect_full_every_s
        )
        return cls(min_quality=settings.live_min_quality, max_faces=settings.live_max_faces, schedule=schedule)


@dataclass
class TrackFaces:
    """The embedded faces of one live track (memory only)."""

    uid: str
    first_seen: float
    last_seen: float
    qualities: list[float] = field(default_factory=list)
    iods: list[float] = field(default_factory=list)  # px between the eyes, as the detector measured them
    vectors: list[np.ndarray] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)  # when each embedded face was seen (POSIX seconds)
    candidates: set[str] = field(default_factory=set)
    alerts: dict[str, TrackMatch] = field(default_factory=dict)  # subject id -> raised alert
    last_embedded: float = -math.inf  # source time of the last embedded face
    best_quality: float = 0.0
    settled: bool = False  # alerted, or clearly nobody on the watchlist: embedded less often

    def worst(self) -> int:
        return int(np.argmin(self.qualities))


@dataclass
class AnalysisCounters:
    frames: int = 0
    faces: int = 0
    embedded: int = 0
    tracks: int = 0
    alerts: int = 0
    detect_s: float = 0.0  # time spent detecting and assessing quality
    embed_s: float = 0.0  # time spent embedding and searching
    busy_s: float = 0.0  # all analysis time
    unauthorised_frames: int = 0  # frames seen while no authorisation covered the camera (not analysed)
    settled_skips: int = 0  # faces not embedded because their track was settled
    schedule: ScheduleCounts = field(default_factory=ScheduleCounts)  # the detection scheduler's choices
    # authorisation id -> [frames, faces, tracks] analysed under it (counts only)
    by_authorisation: dict[str, list[int]] = field(default_factory=dict)


def face_crop(
    image: np.ndarray,
    box: np.ndarray,
    *,
    margin: float = 1.6,
    max_px: int | None = None,
    bystanders: np.ndarray | None = None,
) -> np.ndarray:
    """A square around the face, ``margin`` times its larger side (clipped to the image), shrunk to at
    most ``max_px`` on its longer side if given. Faces in ``bystanders`` ((n, 4) boxes: everyone else
    the detector found) that reach into the square are blurred beyond recognition first."""
    left, top, right, bottom = crop_region(image.shape, box, margin)
    crop = image[top:bottom, left:right]
    if crop.size == 0:
        return np.zeros((1, 1, 3), np.uint8)
    if bystanders is not None and len(bystanders):
        offset = np.array([left, top, left, top], np.float32)
        crop = blur_regions(crop, np.asarray(bystanders, np.float32).reshape(-1, 4) - offset, keep=box - offset)
    scale = 1.0 if max_px is None else max_px / max(crop.shape[:2])
    if scale < 1:
        crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)


def crop_region(shape: tuple[int, ...], box: np.ndarray, margin: float) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the square :func:`face_crop` takes, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * margin
    H, W = shape[:2]
    return (
        max(0, int(cx - side / 2)),
        max(0, int(cy - side / 2)),
        min(W, int(cx + side / 2)),
        min(H, int(cy + side / 2)),
    )


def encode_jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes of an RGB image."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(data)


class CameraAnalyser:
    def __init__(
        self,
        camera: str,
        engine: FaceEngine,
        matcher: Matcher,
        recorder: AlertSink,
        settings: AnalysisSettings | None = None,
        *,
        tracker: FaceTracker | None = None,
        gate: ScanGate | None = None,
        zones: CameraZones | None = None,
        on_faces: Callable[[Frame, list[int], FaceDetections, np.ndarray], None] | None = None,
    ) -> None:
        """``gate``: the authorisations a camera scans under (``LiveRunner`` always gives one); without
        it the frames are a recorded clip in an evaluation, analysed whole and matched against everyone.
        ``zones``: where on the picture faces are looked for (None: everywhere). ``on_faces``: for
        evaluations, called per frame with its tracked faces' track ids, boxes and qualities."""
        self.camera = camera
        self.gate = gate
        self.engine = engine
        self.matcher = matcher
        self.recorder = recorder
        self.settings = settings or AnalysisSettings()
        self.tracker = tracker or FaceTracker()
        self.session = uuid.uuid4().hex[:12]  # track ids restart with each analyser: keep keys unique
        self.tracks: dict[int, TrackFaces] = {}
        self.on_faces = on_faces
        self.scheduler = DetectionScheduler(self.settings.schedule, zones)
        self.counters = AnalysisCounters(schedule=self.scheduler.counts)
        self._last_frame: tuple[int, float] | None = None  # (index, source time) of the last analysed frame
        self._open_alerts: dict[str, TrackMatch] = {}  # subject id -> latest alert on this camera
        self._scene_now: Callable[[], bytes] | None = None  # the scene frame of the track being judged
        self._generation = engine.model_lock.generation  # of the model the tracks' faces were embedded by

    # ------------------------------------------------------------------ frames
    def process(self, frame: Frame) -> list[TrackMatch]:
        """Analyse one frame; returns the alerts it raised (already stored)."""
        started = time.perf_counter()
        try:
            with self.engine.model_lock.using() as generation:
                if generation != self._generation:  # the model was switched (``WatchlistService.switch_model``)
                    self._forget_looks()
                    self._generation = generation
                return self._process(frame)
        finally:
            self.counters.busy_s += time.perf_counter() - started

    def _forget_looks(self) -> None:
        """After a model switch: what each track remembers was embedded by the previous model and cannot be
        compared with the new one's templates; the tracks go on and are judged on faces embedded from now
        on (their raised alerts are kept, so a track does not alert twice)."""
        for track in self.tracks.values():
            for kept in (track.qualities, track.iods, track.vectors, track.crops, track.times):
                kept.clear()
            track.candidates.clear()
            track.last_embedded, track.best_quality, track.settled = -math.inf, 0.0, False

    def _process(self, frame: Frame) -> list[TrackMatch]:
        coverage = None
        if self.gate is not None:
            coverage = self.gate.coverage(self.camera, frame.seen_at)
            if not coverage:  # outside every authorisation: nothing about this frame is looked at
                self.counters.unauthorised_frames += 1
                self.finish()
                return []
        image = frame.image
        t0 = time.perf_counter()
        if self._restarted(frame):
            self.scheduler.reset()
        recent = frame.timestamp - self.settings.schedule.follow_missed_s
        followed = [t.predicted_box(frame.timestamp) for t in self.tracker.tracks.values() if t.last_time >= recent]
        plan = self.scheduler.plan(image, frame.timestamp, followed)
        found = self._detect(image, plan)  # every face the detector saw where it looked
        faces = self._in_zones(found, image)  # those that may be analysed
        self.counters.frames += 1
        self.counters.faces += len(faces)
        update = self.tracker.update(faces.xyxy, frame.timestamp)
        for ended in update.ended:
            self._end_track(ended)
        new_tracks = sum(1 for track_id in update.track_ids if track_id not in self.tracks)
        if coverage is not None:
            for authorisation_id in coverage.authorisation_ids:
                counts = self.counters.by_authorisation.setdefault(authorisation_id, [0, 0, 0])
                counts[0] += 1
                counts[1] += len(faces)
                counts[2] += new_tracks
        if len(faces) == 0:
            return []
        quality = assess_quality(image, faces).score
        self.counters.detect_s += time.perf_counter() - t0
        if self.on_faces is not None:
            self.on_faces(frame, update.track_ids, faces, quality)
        chosen: list[int] = []
        for index, track_id in enumerate(update.track_ids):
            track = self.tracks.get(track_id)
            if track is None:
                track = TrackFaces(f"{self.session}-{track_id}", frame.seen_at, frame.seen_at)
                self.tracks[track_id] = track
                self.counters.tracks += 1
            track.last_seen = frame.seen_at
            q = float(quality[index])
            if q < self.settings.min_quality:
                continue
            since = frame.timestamp - track.last_embedded
            interval = self.settings.settled_embed_interval_s if track.settled else self.settings.embed_interval_s
            due = since >= interval and len(track.qualities) < self.settings.max_faces
            better = q > track.best_quality + 0.05 and (not track.settled or since >= self.settings.embed_interval_s)
            if due or better:
                chosen.append(index)
                track.last_embedded = frame.timestamp
                track.best_quality = max(track.best_quality, q)
            elif track.settled and since >= self.settings.embed_interval_s:
                self.counters.settled_skips += 1
        if not chosen:
            self._refresh_open_alerts(update.track_ids)
            return []
        t1 = time.perf_counter()
        vectors = self.engine.embed(image, faces[np.array(chosen)]).vectors
        self.counters.embedded += len(chosen)
        admit = None if coverage is None or coverage.everyone else self._admits(coverage)
        results = self.matcher.search(vectors, self.settings.search_k, frame.seen_at, admit)
        self.counters.embed_s += time.perf_counter() - t1
        touched: set[int] = set()
        boxes: dict[int, np.ndarray] = {}  # each touched track's face on this frame (for a scene frame)
        for row, index in enumerate(chosen):
            track_id = update.track_ids[index]
            track = self.tracks[track_id]
            others = self._bystanders(image, plan, found, faces.xyxy[index])
            crop = face_crop(image, faces.xyxy[index], max_px=self.settings.crop_max_px, bystanders=others)
            if len(track.qualities) >= self.settings.max_faces:
                worst = track.worst()
                del track.qualities[worst], track.iods[worst], track.vectors[worst], track.crops[worst]
                del track.times[worst]
            track.qualities.append(float(quality[index]))
            track.iods.append(float(faces.inter_eye[index]))
            track.vectors.append(vectors[row])
            track.crops.append(crop)
            track.times.append(frame.seen_at)
            boxes[track_id] = faces.xyxy[index]
            track.candidates.update(c.subject_id for c in results[row])
            touched.add(track_id)
        raised: list[TrackMatch] = []
        for track_id in touched:
            # how to take the scene frame should this track raise its alert now (read by ``_judge``)
            self._scene_now = partial(self._scene, image, plan, found, boxes[track_id])
            try:
                event = self._judge(self.tracks[track_id], frame, coverage)
            finally:
                self._scene_now = None
            if event is not None:
                raised.append(event)
        self._refresh_open_alerts(update.track_ids)
        return raised

    def _restarted(self, frame: Frame) -> bool:
        """Is this frame the first of a new stream (a reconnect, or a gap in the source's time)?"""
        last, self._last_frame = self._last_frame, (frame.index, frame.timestamp)
        return last is not None and (frame.index <= last[0] or frame.timestamp - last[1] > 2.0)

    def _detect(self, image: np.ndarray, plan: DetectionPlan) -> FaceDetections:
        """Faces where the plan says to look, in frame coordinates."""
        if plan.full:
            return self.engine.detect(image)
        return detect_in_windows(
            self.engine.detect, image, list(plan.regions), self.settings.schedule.detector_max_side
        )

    def _in_zones(self, faces: FaceDetections, image: np.ndarray) -> FaceDetections:
        area = self.scheduler.area(image.shape[1], image.shape[0])
        if area is None or not len(faces):
            return faces
        return faces[area.admits(faces.xyxy)]

    def _bystanders(
        self, image: np.ndarray, plan: DetectionPlan, found: FaceDetections, face: np.ndarray
    ) -> np.ndarray:
        """Every other face that may reach into ``face``'s crop (to be blurred in it): those found on
        this frame (in masks too), and — when the crop reaches beyond where the detector looked — those
        a detection over the crop itself finds."""
        others = found.xyxy[~np.all(found.xyxy == face, axis=1)]
        x1, y1, x2, y2 = crop_region(image.shape, face, 1.6)
        if plan.full or any(
            r[0] <= x1 and r[1] <= y1 and x2 <= r[2] and y2 <= r[3] for r in (w.box for w in plan.regions)
        ):
            return others
        extra = self.engine.detect(image[y1:y2, x1:x2]).shifted(x1, y1).xyxy
        centre = np.array([(face[0] + face[2]) / 2, (face[1] + face[3]) / 2])
        inside = (
            (extra[:, 0] <= centre[0])
            & (centre[0] <= extra[:, 2])
            & (extra[:, 1] <= centre[1])
            & (centre[1] <= extra[:, 3])
        )
        return np.concatenate([others, extra[~inside]])

    def _refresh_open_alerts(self, track_ids: list[int]) -> None:
        for track_id in set(track_ids):
            track = self.tracks.get(track_id)
            if track is None:
                continue
            for subject_id, event in track.alerts.items():
                self._open_alerts[subject_id] = replace(
                    event, last_seen=track.last_seen, crop_jpeg=None, track_faces=(), scene_jpeg=None
                )

    def _admits(self, coverage: Coverage) -> Callable[[str], bool]:
        def admits(subject_id: str) -> bool:
            return coverage.admits(subject_id, self.matcher.card(subject_id).category)

        return admits

    def _scene(self, image: np.ndarray, plan: DetectionPlan, found: FaceDetections, face: np.ndarray) -> bytes:
        """The scene frame of a new alert: a wider view around ``face`` on this frame, every other face
        in it blurred (never the subject's own: ``blur_regions``' ``keep``). Where the detector did not look
        over the whole view, the view itself is searched for faces first."""
        left, top, right, bottom = crop_region(image.shape, face, self.settings.scene_margin)
        others = found.xyxy[~np.all(found.xyxy == face, axis=1)]
        if not plan.full:
            extra = self.engine.detect(image[top:bottom, left:right]).shifted(left, top).xyxy
            centre = np.array([(face[0] + face[2]) / 2, (face[1] + face[3]) / 2])
            inside = (
                (extra[:, 0] <= centre[0])
                & (centre[0] <= extra[:, 2])
                & (extra[:, 1] <= centre[1])
                & (centre[1] <= extra[:, 3])
            )
            others = np.concatenate([others, extra[~inside]])
        view = face_crop(
            image, face, margin=self.settings.scene_margin, max_px=self.settings.scene_max_px, bystanders=others
        )
        return encode_jpeg(view)

    def _evidence_faces(self, track: TrackFaces) -> tuple[TrackFace, ...]:
        """The track's best faces by quality (at most ``evidence_faces``), oldest first."""
        best = sorted(np.argsort(track.qualities)[::-1][: self.settings.evidence_faces].tolist())
        return tuple(
            TrackFace(track.times[i], track.iods[i], track.qualities[i], encode_jpeg(track.crops[i])) for i in best
        )

    def _judge(self, track: TrackFaces, frame: Frame, coverage: Coverage | None) -> TrackMatch | None:
        if coverage is not None and not coverage.everyone:  # the scope may have narrowed since they were found
            track.candidates = set(filter(self._admits(coverage), track.candidates))
        enough = len(track.vectors) >= self.settings.settle_faces
        if not track.candidates:
            track.settled = enough
            return None
        subject_ids = sorted(track.candidates)
        stacked = np.stack(track.vectors)
        scores = self.matcher.subject_scores(stacked, subject_ids)
        cards = {s: self.matcher.card(s) for s in subject_ids}
        rules = {s: c.rule for s, c in cards.items()}
        pooled = None
        if any(r.looks is not None and r.looks.uses_pooled for r in rules.values()):
            pooled = self.matcher.subject_scores(pooled_face(stacked, np.asarray(track.qualities))[None], subject_ids)[
                0
            ]
        verdict = decide(track.qualities, subject_ids, scores, rules, iods=track.iods, pooled=pooled)
        if verdict is None:
            near = closest_call(track.qualities, subject_ids, scores, rules, iods=track.iods, pooled=pooled)
            track.settled = enough and near < -self.settings.settle_margin
            return None
        track.settled = True
        card = cards[verdict.subject_id]
        runner_up = verdict.runner_up
        previous = track.alerts.get(verdict.subject_id)
        event = TrackMatch(
            key=alert_key(self.camera, track.uid, verdict.subject_id),
            subject_id=verdict.subject_id,
            subject_name=card.display_name,
            category=card.category,
            camera=self.camera,
            track_id=track.uid,
            first_seen=track.first_seen,
            last_seen=track.last_seen,
            score=verdict.best_score,
            evidence=verdict.evidence,
            threshold=verdict.threshold,
            faces=verdict.votes,
            evidence_nats=verdict.strength if rules[verdict.subject_id].fused else None,
            needed_nats=rules[verdict.subject_id].needed if rules[verdict.subject_id].fused else None,
            decisive_capture_at=frame.captured_at,
            crop_jpeg=encode_jpeg(track.crops[verdict.best_face]),
            runner_up_id=None if runner_up is None else runner_up.subject_id,
            runner_up_name=None if runner_up is None else cards[runner_up.subject_id].display_name,
            runner_up_score=None if runner_up is None else runner_up.best_score,
            authorisation_id=None
            if coverage is None
            else coverage.authorisation_for(verdict.subject_id, card.category),
            model=self.engine.embedder.name,
        )
        if previous is not None:
            if (
                event.score > previous.score
                or event.faces > previous.faces
                or event.evidence > previous.evidence
                or (event.evidence_nats or 0.0) > (previous.evidence_nats or 0.0)
            ):
                # keep the key (and first sighting) of the alert this track belongs to, folded or not; more
                # of the track's faces go with the update while fewer than the most were stored
                faces = self._evidence_faces(track) if len(previous.track_faces) < self.settings.evidence_faces else ()
                event = replace(
                    event,
                    key=previous.key,
                    first_seen=previous.first_seen,
                    track_faces=faces if len(faces) > len(previous.track_faces) else (),
                )
                self.recorder.update_alert(event)
                track.alerts[verdict.subject_id] = replace(event, track_faces=event.track_faces or previous.track_faces)
            return None
        recent = self._open_alerts.get(verdict.subject_id)
        if recent is None or track.first_seen - recent.last_seen > self.settings.rearm_s:
            # not in this analyser's memory: maybe raised before a restart (of the stream or the process)
            recent = self.recorder.recent_alert(
                self.camera, verdict.subject_id, track.first_seen - self.settings.rearm_s
            )
        if recent is not None and track.first_seen - recent.last_seen <= self.settings.rearm_s:
            # The same person again on this camera (a broken track, a stream that reconnected, a restart):
            # fold into the alert already raised instead of raising a second one.
            folded = replace(event, key=recent.key, first_seen=min(recent.first_seen, event.first_seen))
            self.recorder.update_alert(folded)
            track.alerts[verdict.subject_id] = folded
            return None
        scene = None if self._scene_now is None else self._scene_now()
        event = replace(event, track_faces=self._evidence_faces(track), scene_jpeg=scene)
        stored = self.recorder.raise_alert(event)
        track.alerts[verdict.subject_id] = replace(event, scene_jpeg=None)
        if stored is None:
            return None
        self.counters.alerts += 1
        self._open_alerts[verdict.subject_id] = stored
        return stored

    def _end_track(self, ended: Track) -> None:
        track = self.tracks.pop(ended.track_id, None)
        if track is None:
            return
        for subject_id, event in track.alerts.items():
            final = replace(event, last_seen=track.last_seen, crop_jpeg=None, track_faces=(), scene_jpeg=None)
            self.recorder.update_alert(final)
            self._open_alerts[subject_id] = final
        # the track's faces, embeddings and crops go out of scope here, and with them every trace

    def finish(self) -> None:
        """The stream ended: close every track (final alert updates)."""
        for ended in self.tracker.end_all():
            self._end_track(ended)
        self.tracks.clear()
