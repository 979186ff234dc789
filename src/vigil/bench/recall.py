"""Does the adaptive detection schedule find what searching every frame whole finds?

Both schedules run the real analyser over the same sampled frames of a clip. A **track** of the full
schedule counts when at least one of its faces passes the quality gate; it is *found* by the adaptive
schedule when, on some frame, a face the adaptive run tracked and passed through the gate overlaps one
of the track's gated faces (box IoU ≥ 0.3). ``track_recall`` is the share found. Alerts are compared
with a watchlist holding one person enrolled from an early frame of the clip (the crowd-clip test's
passer-by) among padding: ``same_alerts`` when both schedules raise alerts for the same subjects.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vigil.bench.embed import machine_description
from vigil.bench.live import _random_gallery
from vigil.pipeline.analyser import AnalysisSettings, CameraAnalyser
from vigil.pipeline.offline import CollectingSink, GalleryMatcher, sample_frames
from vigil.recognition.calibration import DEFAULT_FALSE_ALERTS_PER_1000, CategoryPolicy, category_rule, shipped_curves
from vigil.video.scheduler import ScheduleMode, ScheduleSettings
from vigil.video.sources import Frame
from vigil.vision.catalogue import default_threshold
from vigil.vision.engine import FaceEngine
from vigil.vision.quality import assess_quality
from vigil.vision.types import FaceDetections

ENROLLED = "enrolled-passer-by"


@dataclass
class ScheduleRun:
    """What one schedule found on a clip: per track, its gated faces as (frame index, box)."""

    tracks: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=dict)
    alerts: list[str] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict[str, Any] = field(default_factory=dict)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def run_schedule(
    engine: FaceEngine, matcher: GalleryMatcher, frames: list[Frame], schedule: ScheduleSettings
) -> ScheduleRun:
    run = ScheduleRun()
    settings = AnalysisSettings(schedule=schedule)

    def note(frame: Frame, track_ids: list[int], faces: FaceDetections, quality: np.ndarray) -> None:
        for track_id, box, q in zip(track_ids, faces.xyxy, quality, strict=True):
            if q >= settings.min_quality:
                run.tracks.setdefault(f"{track_id}", []).append((frame.index, box.copy()))

    sink = CollectingSink()
    analyser = CameraAnalyser("recall", engine, matcher, sink, settings, on_faces=note)
    started = time.perf_counter()
    for frame in frames:
        analyser.process(frame)
    analyser.finish()
    run.seconds = time.perf_counter() - started
    run.alerts = sorted(e.subject_id for e in sink.raised)
    c = analyser.counters.schedule
    run.counts = {
        "full_passes": c.full_passes,
        "region_passes": c.region_passes,
        "quiet_frames": c.quiet_frames,
        "detected_pixel_share": round(c.detected_share, 3),
        "faces_embedded": analyser.counters.embedded,
    }
    return run


def recall_of(reference: ScheduleRun, candidate: ScheduleRun, min_iou: float = 0.3) -> tuple[int, int]:
    """(tracks of ``reference`` found by ``candidate``, tracks of ``reference``)."""
    by_frame: dict[int, list[np.ndarray]] = {}
    for faces in candidate.tracks.values():
        for index, box in faces:
            by_frame.setdefault(index, []).append(box)
    found = 0
    for faces in reference.tracks.values():
        if any(iou(box, other) >= min_iou for index, box in faces for other in by_frame.get(index, [])):
            found += 1
    return found, len(reference.tracks)


def passerby_matcher(engine: FaceEngine, frames: list[Frame], enroll_frame: int, padding: int) -> GalleryMatcher:
    """A watchlist of the best-quality face of an early frame among ``padding`` random identities, under
    the rule a fresh install runs (shipped curves, default policy)."""
    for frame in frames[enroll_frame:]:  # the first frame from there with a face
        image = frame.image
        faces = engine.detect(image)
        if len(faces):
            break
    else:
        raise ValueError(f"no face in the clip from frame {enroll_frame} on to enroll")
    best = int(np.argmax(assess_quality(image, faces).score))
    gallery = _random_gallery(engine.embedder.dim, padding)
    gallery.add_many([ENROLLED], engine.embed(image, faces[[best]]).vectors, np.full(1, np.inf))
    curves = shipped_curves(engine.embedder.name, engine.embedder.version)
    rule, _ = category_rule(
        curves,
        CategoryPolicy(DEFAULT_FALSE_ALERTS_PER_1000, 1, None),
        padding + 1,
        default_threshold(engine.embedder.name),
    )
    return GalleryMatcher(gallery, rule)


def bench_recall(
    settings: Any, clips: list[Path], *, fps: float = 5.0, padding: int = 1000, enroll_at_s: float = 0.2
) -> dict[str, Any]:
    engine = FaceEngine.from_settings(settings.model_copy(update={"threads": 1})).prepare()
    full = ScheduleSettings(mode=ScheduleMode.FULL)
    adaptive = replace(ScheduleSettings(), mode=ScheduleMode.ADAPTIVE)
    rows: list[dict[str, Any]] = []
    recalls: list[float] = []
    for clip in clips:
        frames = sample_frames(clip, fps)
        enroll_frame = min(len(frames) - 1, round(enroll_at_s * fps))
        matcher = passerby_matcher(engine, frames, enroll_frame, padding)
        rest = frames[enroll_frame + 1 :]
        runs = {name: run_schedule(engine, matcher, rest, s) for name, s in (("full", full), ("adaptive", adaptive))}
        found, total = recall_of(runs["full"], runs["adaptive"])
        recalls.append(found / total if total else 1.0)
        rows.append(
            {
                "clip": clip.name,
                "frames": len(rest),
                "tracks_full": total,
                "tracks_found_adaptive": found,
                "track_recall": round(recalls[-1], 4),
                "alerts": {name: run.alerts for name, run in runs.items()},
                "same_alerts": runs["full"].alerts == runs["adaptive"].alerts,
                "seconds": {name: round(run.seconds, 2) for name, run in runs.items()},
                "schedule": {name: run.counts for name, run in runs.items()},
            }
        )
    return {
        "benchmark": "adaptive detection schedule: track recall and alerts against full-frame detection",
        "machine": machine_description(),
        "date": time.strftime("%Y-%m-%d"),
        "analysis_fps": fps,
        "detector": settings.detector,
        "embedder": settings.embedder,
        "watchlist": f"the passer-by enrolled from the frame at {enroll_at_s} s among {padding} random identities",
        "clips": rows,
        "track_recall": round(min(recalls, default=1.0), 4),
        "same_alerts": all(r["same_alerts"] for r in rows),
    }
