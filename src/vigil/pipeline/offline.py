"""The real analyser on recorded clips, with nothing written: sampled frames, an in-memory matcher over
a gallery, a recording matcher, a sink that keeps alerts in memory. For evaluations and benchmarks
(``vigil.eval``, ``vigil.bench``); the product's cameras run through ``vigil.pipeline.runtime``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from vigil.pipeline.analyser import Matcher, SubjectInfo
from vigil.pipeline.events import TrackMatch
from vigil.recognition.decision import DecisionRule
from vigil.recognition.gallery import Candidate
from vigil.video.sources import AvSource, Frame, parse_source


def sample_frames(video: Path, fps: float, *, start_s: float = 0.0, limit: int | None = None) -> list[Frame]:
    """Decode ``video`` and keep frames at ``fps`` (source time), from ``start_s`` on."""
    source = AvSource(parse_source(str(video), realtime=False))
    source.open()
    frames: list[Frame] = []
    try:
        for frame in source.frames(every_s=1.0 / fps):
            if frame.timestamp + 1e-6 >= start_s:
                frames.append(frame)
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

    def search(
        self, vectors: np.ndarray, k: int, at: float, admit: Callable[[str], bool] | None = None
    ) -> list[list[Candidate]]:
        results = self.inner.search(vectors, k, at, admit)
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
        self.raised: list[TrackMatch] = []

    def raise_alert(self, event: TrackMatch) -> TrackMatch | None:
        if any(e.key == event.key for e in self.raised):
            return None
        stored = replace(event, crop_jpeg=None, stored_at=time.time())
        self.raised.append(stored)
        return stored

    def update_alert(self, event: TrackMatch) -> None:
        pass

    def recent_alert(self, camera: str, subject_id: str, since: float) -> TrackMatch | None:
        found = [e for e in self.raised if e.camera == camera and e.subject_id == subject_id and e.last_seen >= since]
        return found[-1] if found else None


class GalleryMatcher:
    """A matcher over an in-memory gallery, one rule for all (benchmarks need no database)."""

    def __init__(self, gallery: Any, rule: DecisionRule) -> None:
        self.gallery = gallery
        self.rule = rule

    def search(
        self, vectors: np.ndarray, k: int, at: float, admit: Callable[[str], bool] | None = None
    ) -> list[list[Candidate]]:
        return self.gallery.search(vectors, k, at=at, admit=admit)

    def subject_scores(self, vectors: np.ndarray, subject_ids: list[str]) -> np.ndarray:
        return self.gallery.subject_scores(vectors, subject_ids)

    def card(self, subject_id: str) -> SubjectInfo:
        return _Card(subject_id, "bench", self.rule)
