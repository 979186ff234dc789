"""Live-pipeline measurements: track-level vs per-frame decisions, throughput, latency and memory.

``compare_rules`` runs the real ``CameraAnalyser`` over a clip's sampled frames with every usable face
embedded, at several thresholds; a recording matcher notes each face's best match, which is exactly
what a per-frame matcher would flag on. Both rules therefore see the same faces and the same scores.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vigil.live.alerts import AlertEvent
from vigil.live.analyser import AnalysisSettings, CameraAnalyser, Matcher, SubjectInfo
from vigil.live.decision import DecisionRule
from vigil.live.sources import AvSource, Frame, parse_source
from vigil.recognition.gallery import Candidate
from vigil.vision.engine import FaceEngine


def sample_frames(video: Path, fps: float, *, start_s: float = 0.0, limit: int | None = None) -> list[Frame]:
    """Decode ``video`` and keep frames at ``fps`` (source time), from ``start_s`` on."""
    source = AvSource(parse_source(str(video), realtime=False))
    source.open()
    frames: list[Frame] = []
    next_due = start_s
    try:
        for frame in source.frames():
            if frame.timestamp + 1e-6 >= next_due:
                frames.append(frame)
                next_due += 1.0 / fps
                if limit is not None and len(frames) >= limit:
                    break
    finally:
        source.close()
    return frames


@dataclass
class _Card:
    display_name: str
    category: str
    rule: DecisionRule


@dataclass
class RecordingMatcher:
    """Passes searches through, records each face's best match, and applies one rule to everyone."""

    inner: Matcher
    rule: DecisionRule
    best: list[tuple[str, float]] = field(default_factory=list)

    def search(self, vectors: np.ndarray, k: int, at: float) -> list[list[Candidate]]:
        results = self.inner.search(vectors, k, at)
        self.best.extend((r[0].subject_id, r[0].score) for r in results if r)
        return results

    def subject_scores(self, vectors: np.ndarray, subject_ids: list[str]) -> np.ndarray:
        return self.inner.subject_scores(vectors, subject_ids)

    def card(self, subject_id: str) -> SubjectInfo:
        card = self.inner.card(subject_id)
        return _Card(card.display_name, card.category, self.rule)


class CollectingSink:
    """Keeps alerts in memory (evaluations write nothing)."""

    def __init__(self) -> None:
        self.raised: list[AlertEvent] = []

    def raise_alert(self, event: AlertEvent) -> AlertEvent | None:
        if any(e.key == event.key for e in self.raised):
            return None
        stored = replace(event, crop_jpeg=None, stored_at=time.time())
        self.raised.append(stored)
        return stored

    def update_alert(self, event: AlertEvent) -> None:
        pass


def compare_rules(
    engine: FaceEngine,
    matcher: Matcher,
    frames: list[Frame],
    thresholds: list[float],
    *,
    min_faces: int = 3,
    expected_subject: str | None = None,
    analysis: AnalysisSettings | None = None,
) -> list[dict[str, Any]]:
    """Per threshold: flags raised by per-frame matching and by the track-level rule, and how many of
    each are false (any subject but ``expected_subject``)."""
    rows = []
    for threshold in thresholds:
        recording = RecordingMatcher(matcher, DecisionRule(threshold, min_faces))
        sink = CollectingSink()
        settings = replace(analysis or AnalysisSettings(), embed_interval_s=0.0)
        analyser = CameraAnalyser("eval", engine, recording, sink, settings)
        for frame in frames:
            analyser.process(frame)
        analyser.finish()
        per_frame = [(s, score) for s, score in recording.best if score >= threshold]
        rows.append(
            {
                "threshold": threshold,
                "min_faces": min_faces,
                "faces_embedded": len(recording.best),
                "per_frame_flags": len(per_frame),
                "per_frame_false_flags": sum(1 for s, _ in per_frame if s != expected_subject),
                "per_frame_false_subjects": len({s for s, _ in per_frame if s != expected_subject}),
                "track_alerts": len(sink.raised),
                "track_false_alerts": sum(1 for e in sink.raised if e.subject_id != expected_subject),
                "track_alert_subjects": sorted({e.subject_id for e in sink.raised}),
            }
        )
    return rows
