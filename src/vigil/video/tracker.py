"""Face tracking within one camera: which detection in this frame is the same face as in the last one.

Each track keeps its last box and a velocity (pixels per second, smoothed). A new frame's detections
are matched to the tracks' *predicted* boxes (constant velocity) by greedy assignment on normalised
centre distance — the distance between centres divided by the face's size — gated so that a match
needs a centre within ``max_distance`` face sizes and a size ratio within ``max_scale_change``.
Unmatched detections start tracks; a track not seen for ``max_missed_s`` ends.

Pure bookkeeping on boxes: no pixels, no identities, nothing written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Track:
    track_id: int
    box: np.ndarray  # (4,) x1 y1 x2 y2
    velocity: np.ndarray  # (2,) centre px / s
    first_time: float
    last_time: float
    hits: int = 1

    def predicted_box(self, at: float) -> np.ndarray:
        shift = self.velocity * (at - self.last_time)
        return self.box + np.array([shift[0], shift[1], shift[0], shift[1]])


@dataclass(frozen=True)
class TrackUpdate:
    """Per detection (in the frame's order) the id of its track; and the tracks that ended."""

    track_ids: list[int]
    ended: list[Track] = field(default_factory=list)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)


def _sizes(boxes: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1.0))


class FaceTracker:
    def __init__(
        self,
        *,
        max_distance: float = 1.0,
        max_scale_change: float = 1.6,
        max_missed_s: float = 1.5,
        velocity_smoothing: float = 0.5,
    ) -> None:
        self.max_distance = max_distance
        self.max_scale_change = max_scale_change
        self.max_missed_s = max_missed_s
        self.velocity_smoothing = velocity_smoothing
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    def update(self, boxes: np.ndarray, at: float) -> TrackUpdate:
        """Assign each of ``boxes`` ((n, 4) xyxy) at time ``at`` (seconds) to a track."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        ended = [t for t in self.tracks.values() if at - t.last_time > self.max_missed_s]
        for track in ended:
            del self.tracks[track.track_id]
        live = list(self.tracks.values())
        assigned: list[int | None] = [None] * len(boxes)
        if live and len(boxes):
            predicted = np.stack([t.predicted_box(at) for t in live])
            pred_c, det_c = _centres(predicted), _centres(boxes)
            pred_s, det_s = _sizes(predicted), _sizes(boxes)
            scale = np.maximum(pred_s[:, None], det_s[None, :])
            distance = np.linalg.norm(pred_c[:, None, :] - det_c[None, :, :], axis=2) / scale
            ratio = np.maximum(pred_s[:, None] / det_s[None, :], det_s[None, :] / pred_s[:, None])
            cost = np.where((distance <= self.max_distance) & (ratio <= self.max_scale_change), distance, np.inf)
            used_tracks: set[int] = set()
            for flat in np.argsort(cost, axis=None):
                ti, di = np.unravel_index(flat, cost.shape)
                if not np.isfinite(cost[ti, di]):
                    break
                if ti in used_tracks or assigned[di] is not None:
                    continue
                used_tracks.add(int(ti))
                assigned[di] = live[ti].track_id
                self._advance(live[ti], boxes[di], at)
        ids: list[int] = []
        for index, track_id in enumerate(assigned):
            if track_id is None:
                track_id = self._next_id
                self._next_id += 1
                self.tracks[track_id] = Track(track_id, boxes[index].copy(), np.zeros(2), at, at)
            ids.append(track_id)
        return TrackUpdate(ids, ended)

    def _advance(self, track: Track, box: np.ndarray, at: float) -> None:
        dt = at - track.last_time
        if dt > 0:
            measured = (_centres(box[None])[0] - _centres(track.box[None])[0]) / dt
            a = self.velocity_smoothing
            track.velocity = measured if track.hits == 1 else a * measured + (1 - a) * track.velocity
        track.box = box.copy()
        track.last_time = at
        track.hits += 1

    def end_all(self) -> list[Track]:
        """End every track (the stream stopped)."""
        ended = list(self.tracks.values())
        self.tracks.clear()
        return ended
