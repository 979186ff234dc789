"""Alerts a camera raised while the database was unreachable, kept on disk until it returns.

One file per alert key in ``<data-dir>/pending-alerts/`` (owner-only: it holds the face crop), written
atomically; a later state of the same track (an update) is merged into the file. The queue is bounded
(``max_entries``): when full, a new alert is dropped, counted and logged — the named drop policy — and
an update of an alert already queued is still merged. Draining stores each entry through the recorder's
idempotent path (insert by key, else update), oldest first, and deletes the file only after the store
committed: a crash in between replays an entry the database already holds, which changes nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
from dataclasses import asdict, replace
from pathlib import Path

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from vigil.pipeline.events import TrackFace, TrackMatch

log = logging.getLogger(__name__)


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database could not be reached (not that a statement was wrong)."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _larger(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def merged(old: TrackMatch, new: TrackMatch) -> TrackMatch:
    """One alert's later state over its earlier one (what ``update_alert`` would make of the two)."""
    best = new if new.score > old.score else old
    return replace(
        old,
        first_seen=min(old.first_seen, new.first_seen),
        last_seen=max(old.last_seen, new.last_seen),
        faces=max(old.faces, new.faces),
        evidence=max(old.evidence, new.evidence),
        evidence_nats=_larger(old.evidence_nats, new.evidence_nats),
        score=best.score,
        crop_jpeg=best.crop_jpeg or old.crop_jpeg,
        track_faces=old.track_faces if len(old.track_faces) >= len(new.track_faces) else new.track_faces,
        scene_jpeg=old.scene_jpeg or new.scene_jpeg,
        runner_up_id=old.runner_up_id or new.runner_up_id,
        runner_up_name=old.runner_up_name or new.runner_up_name,
        runner_up_score=old.runner_up_score if old.runner_up_id else new.runner_up_score,
    )


def _encode(event: TrackMatch) -> bytes:
    fields = asdict(replace(event, alert_id=None, stored_at=None, crop_name=None))
    crop = fields.pop("crop_jpeg")
    fields["crop_jpeg_b64"] = base64.b64encode(crop).decode() if crop else None
    scene = fields.pop("scene_jpeg")
    fields["scene_jpeg_b64"] = base64.b64encode(scene).decode() if scene else None
    fields["track_faces"] = [
        {"seen_at": f.seen_at, "iod_px": f.iod_px, "quality": f.quality, "jpeg_b64": base64.b64encode(f.jpeg).decode()}
        for f in event.track_faces
    ]
    return json.dumps(fields, sort_keys=True).encode()


def _decode(data: bytes) -> TrackMatch:
    fields = json.loads(data)
    crop = fields.pop("crop_jpeg_b64")
    scene = fields.pop("scene_jpeg_b64", None)
    faces = tuple(
        TrackFace(f["seen_at"], f["iod_px"], f["quality"], base64.b64decode(f["jpeg_b64"]))
        for f in fields.pop("track_faces", [])
    )
    return TrackMatch(
        **fields,
        crop_jpeg=base64.b64decode(crop) if crop else None,
        scene_jpeg=base64.b64decode(scene) if scene else None,
        track_faces=faces,
    )


class PendingAlerts:
    """The bounded on-disk queue (see the module's docstring); safe across threads of one process."""

    def __init__(self, folder: Path, *, max_entries: int = 10_000) -> None:
        self.folder = folder
        self.max_entries = max_entries
        self.dropped = 0
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError(f"not an alert key: {key!r}")
        return self.folder / f"{key}.json"

    def _write(self, path: Path, event: TrackMatch) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".incoming-")  # mkstemp: owner-only
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_encode(event))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def put(self, event: TrackMatch) -> bool:
        """Keep ``event`` (merged into its key's entry if one is queued); False if dropped (queue full)."""
        with self._lock:
            path = self._path(event.key)
            if path.exists():
                self._write(path, merged(_decode(path.read_bytes()), event))
                return True
            if len(self.queued()) >= self.max_entries:
                self.dropped += 1
                log.error(
                    "alert queue full (%d): alert %s on camera %s dropped (%d dropped so far)",
                    self.max_entries,
                    event.key,
                    event.camera,
                    self.dropped,
                )
                return False
            self._write(path, event)
            return True

    def queued(self) -> list[str]:
        """Queued alert keys, oldest first."""
        if not self.folder.is_dir():
            return []
        entries = [p for p in self.folder.iterdir() if p.suffix == ".json" and not p.name.startswith(".")]
        return [p.stem for p in sorted(entries, key=lambda p: (p.stat().st_mtime_ns, p.name))]

    def get(self, key: str) -> TrackMatch | None:
        try:
            return _decode(self._path(key).read_bytes())
        except FileNotFoundError:
            return None

    def find(self, camera: str, subject_id: str, since: float) -> TrackMatch | None:
        """The latest queued alert for the subject on the camera, last seen at or after ``since``."""
        found = [e for k in self.queued() if (e := self.get(k)) is not None]
        found = [e for e in found if e.camera == camera and e.subject_id == subject_id and e.last_seen >= since]
        return max(found, key=lambda e: e.last_seen, default=None)

    def done(self, key: str, stored: TrackMatch) -> None:
        """Forget ``key`` once ``stored`` (what was read) is in the database, unless it changed meanwhile."""
        with self._lock:
            current = self.get(key)
            if current is not None and _encode(current) == _encode(stored):
                self._path(key).unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self.queued())
