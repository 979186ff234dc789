"""What the live pipeline hands on: an alert event, its idempotency key, and where events go.

``TrackMatch`` is the pipeline's output type; ``AlertSink`` is implemented by
``vigil.domain.alerts.AlertRecorder`` (the database) and by collectors in evaluations.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol


def alert_key(camera: str, track_uid: str, subject_id: str) -> str:
    """The idempotency key: one alert per subject per track."""
    return hashlib.sha256(f"{camera}\x1f{track_uid}\x1f{subject_id}".encode()).hexdigest()[:40]


@dataclass(frozen=True)
class TrackFace:
    """One of a matched track's best faces, kept as evidence beside its alert (memory until stored)."""

    seen_at: float  # POSIX seconds: when the frame showed it
    iod_px: float  # its size: pixels between the eyes, as the detector measured them
    quality: float
    jpeg: bytes


@dataclass(frozen=True)
class TrackMatch:
    """A face track matched to a watchlisted subject, as the analyser hands it on: raised once (the red
    flag), then updated while the track goes on. Stored as an ``Alert`` row by ``AlertRecorder``."""

    key: str
    subject_id: str
    subject_name: str
    category: str
    camera: str
    track_id: str
    first_seen: float  # POSIX seconds
    last_seen: float
    score: float  # best single-face score
    evidence: float  # the track's evidence, as the similarity one face would need for it
    threshold: float
    faces: int  # faces whose best match is the subject (vote rule: at or above the threshold)
    decisive_capture_at: float  # capture time of the frame that completed the evidence
    crop_jpeg: bytes | None = None
    alert_id: str | None = None  # set once stored, with stored_at and crop_name (the crop's stored name)
    crop_name: str | None = None
    crop_missing: str | None = None  # why no crop was stored though one was taken (the media disk full)
    stored_at: float | None = None
    runner_up_id: str | None = None  # a near-tie: the second candidate (docs/calibration.md)
    runner_up_name: str | None = None
    runner_up_score: float | None = None
    authorisation_id: str | None = None  # the authorisation the camera was scanning under
    # The evidence beside the crop (set when raised): the track's best faces (oldest first) and a wider
    # view of the frame around the face with every other face blurred (JPEG).
    track_faces: tuple[TrackFace, ...] = ()
    scene_jpeg: bytes | None = None
    # The track's evidence in nats and what the rule in force asked of it (the looks and fused rules; None
    # under the vote rule): the evidence band is read on these (docs/control-room.md).
    evidence_nats: float | None = None
    needed_nats: float | None = None
    model: str | None = None  # the embedder whose templates and curves decided it (its name)

    @property
    def latency_ms(self) -> float | None:
        """Capture of the decisive frame to the alert stored (once stored)."""
        return None if self.stored_at is None else 1000 * (self.stored_at - self.decisive_capture_at)

    def as_json(self) -> dict[str, Any]:
        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).isoformat()

        return {
            "alert_id": self.alert_id,
            "key": self.key,
            "subject_id": self.subject_id,
            "subject_name": self.subject_name,
            "category": self.category,
            "camera": self.camera,
            "track_id": self.track_id,
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "score": round(self.score, 4),
            "evidence": round(self.evidence, 4),
            "threshold": round(self.threshold, 4),
            "faces": self.faces,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 1),
            "model": self.model,
            "runner_up": None
            if self.runner_up_id is None
            else {
                "subject_id": self.runner_up_id,
                "subject_name": self.runner_up_name,
                "score": None if self.runner_up_score is None else round(self.runner_up_score, 4),
            },
        }


class AlertSink(Protocol):
    """Where the analyser's alerts go: ``AlertRecorder`` (database), or a collector in evaluations."""

    def raise_alert(self, event: TrackMatch) -> TrackMatch | None: ...

    def update_alert(self, event: TrackMatch) -> None: ...

    def recent_alert(self, camera: str, subject_id: str, since: float) -> TrackMatch | None:
        """The latest alert for ``subject_id`` on ``camera`` last seen at or after ``since``, if any."""
        ...
