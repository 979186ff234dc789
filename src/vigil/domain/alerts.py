"""Alerts: the red flags the pipeline raises, stored idempotently and handed to listeners.

Only here does anything about a face leave memory — and only for a face that the track-level rule
matched to a watchlisted subject: its crop (JPEG, under a generated name) and the alert row.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from vigil.bus import Bus
from vigil.domain.health import MediaWrites
from vigil.domain.outbox import Outbox
from vigil.domain.pending import PendingAlerts, is_outage
from vigil.domain.vocabulary import EventKind
from vigil.pipeline.events import TrackMatch
from vigil.store.db import Database
from vigil.store.media import MediaStore
from vigil.store.models import Alert

log = logging.getLogger(__name__)

AlertListener = Callable[[str, TrackMatch], None]  # (kind: "raised" | "updated", event)


def _utc(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's header."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def save_evidence_media(media: MediaStore, event: TrackMatch) -> str | None:
    """Stores the alert's track faces and scene frame (in ``crops``, beside the crop: same retention) and
    returns the ``Alert.evidence_media`` JSON naming them, or None when the event carries none."""
    if not event.track_faces and not event.scene_jpeg:
        return None
    faces = []
    for face in sorted(event.track_faces, key=lambda f: f.seen_at):
        width, height = _jpeg_size(face.jpeg)
        name = media.save("crops", face.jpeg, "jpg")
        faces.append(
            {
                "name": name,
                "at": _utc(face.seen_at).isoformat(),
                "iod_px": round(face.iod_px, 1),
                "quality": round(face.quality, 3),
                "width": width,
                "height": height,
            }
        )
    scene = None
    if event.scene_jpeg:
        width, height = _jpeg_size(event.scene_jpeg)
        scene = {"name": media.save("crops", event.scene_jpeg, "jpg"), "width": width, "height": height}
    return json.dumps({"faces": faces, "scene": scene})


def evidence_media_names(text: str | None) -> list[str]:
    """The ``crops`` names an ``Alert.evidence_media`` JSON refers to."""
    if not text:
        return []
    data = json.loads(text)
    names = [f["name"] for f in data.get("faces", [])]
    if data.get("scene"):
        names.append(data["scene"]["name"])
    return names


def alert_row(event: TrackMatch, *, crop_name: str | None, evidence_media: str | None = None) -> Alert:
    """The row that stores a match (not added to any session)."""
    return Alert(
        key=event.key,
        subject_id=event.subject_id,
        camera=event.camera,
        track_id=event.track_id,
        first_seen=_utc(event.first_seen),
        last_seen=_utc(event.last_seen),
        best_score=event.score,
        evidence=event.evidence,
        evidence_nats=event.evidence_nats,
        needed_nats=event.needed_nats,
        threshold=event.threshold,
        faces=event.faces,
        runner_up_subject_id=event.runner_up_id,
        runner_up_score=event.runner_up_score,
        authorisation_id=event.authorisation_id,
        crop_name=crop_name,
        crop_missing=event.crop_missing,
        evidence_media=evidence_media,
        decisive_capture_at=_utc(event.decisive_capture_at),
        model=event.model,
    )


class AlertRecorder:
    """Stores alerts (database + crop) and tells listeners; safe to call from several camera threads."""

    def __init__(
        self,
        db: Database,
        media: MediaStore,
        *,
        outbox: Outbox | None = None,
        pending: PendingAlerts | None = None,
        drain_every_s: float = 2.0,
        media_writes: MediaWrites | None = None,
    ) -> None:
        self.db = db
        self.media = media
        self.outbox = outbox  # each stored alert's "raised" event is written into it in the same transaction
        # alerts raised while the database is unreachable wait here (on disk) until it returns
        self.pending = pending
        self.media_writes = media_writes if media_writes is not None else MediaWrites()  # readiness reads it
        self.drain_every_s = drain_every_s
        self._listeners: list[AlertListener] = []
        self._lock = threading.Lock()
        self._drainer: threading.Thread | None = None
        self._stop = threading.Event()
        if pending is not None and len(pending):
            self._start_draining()  # left by a previous run of this process

    def subscribe(self, listener: AlertListener) -> None:
        """``listener(kind, event)`` with kind ``"raised"`` or ``"updated"``."""
        self._listeners.append(listener)

    def _notify(self, kind: str, event: TrackMatch) -> None:
        for listener in self._listeners:
            try:
                listener(kind, event)
            except Exception:
                log.exception("alert listener failed")

    def raise_alert(self, event: TrackMatch) -> TrackMatch | None:
        """Store a new alert; None if one with the same key exists already (nothing changes then). With a
        pending queue, an alert the database cannot take now is queued on disk and returned without an
        id (listeners hear of it once it is stored); a full queue re-raises the database's error."""
        if self.pending is None:
            return self._raise(event)
        try:
            return self._raise(event)
        except Exception as exc:
            if not is_outage(exc) or not self.pending.put(event):
                raise
            log.warning("database unreachable: alert %s on camera %s queued on disk", event.key, event.camera)
            self._start_draining()
            return replace(event, crop_jpeg=None)

    def _raise(self, event: TrackMatch) -> TrackMatch | None:
        with self.db.session() as session:
            if session.scalar(select(Alert.id).where(Alert.key == event.key)) is not None:
                return None
        crop_name, missing = self._save_crop(event)
        if missing is not None:
            event = replace(event, crop_missing=missing)
        try:
            evidence = save_evidence_media(self.media, event)
        except OSError as exc:  # the media disk full: the alert is stored all the same, with what was written
            log.error("alert on camera %s (key %s): its track faces could not be written", event.camera, event.key)
            self.media_writes.failed(exc)
            evidence = None
        except Exception:
            if crop_name:
                self.media.delete("crops", crop_name)
            raise
        saved = ([crop_name] if crop_name else []) + evidence_media_names(evidence)
        row = alert_row(event, crop_name=crop_name, evidence_media=evidence)
        try:
            with self.db.session() as session:
                session.add(row)
                session.flush()
                alert_id, stored = row.id, row.created_at
                if self.outbox is not None:
                    self.outbox.enqueue_alert(session, EventKind.RAISED, row)
        except IntegrityError:
            for name in saved:
                self.media.delete("crops", name)
            with self.db.session() as session:
                if session.scalar(select(Alert.id).where(Alert.key == event.key)) is not None:
                    return None  # a concurrent writer stored the same key first
            raise  # any other broken constraint is a bug to see, not a duplicate to skip
        except Exception:
            for name in saved:
                self.media.delete("crops", name)
            raise
        stored_event = replace(
            event,
            alert_id=alert_id,
            stored_at=stored.timestamp(),
            crop_jpeg=None,
            crop_name=crop_name,
            track_faces=(),
            scene_jpeg=None,
        )
        log.info("alert %s: camera %s, category %s", alert_id, event.camera, event.category)
        self._notify("raised", stored_event)
        return stored_event

    def _save_crop(self, event: TrackMatch) -> tuple[str | None, str | None]:
        """The crop's stored name, or (None, why) when the media folder could not take it (a full or
        read-only disk): the alert is stored all the same, its crop marked missing. A database media store
        that fails is the database's outage, handled by the caller."""
        if not event.crop_jpeg:
            return None, None
        try:
            name = self.media.save("crops", event.crop_jpeg, "jpg")
        except OSError as exc:
            why = f"the crop could not be written: {exc.strerror or type(exc).__name__}"[:200]
            log.error("alert on camera %s (key %s): %s; stored without its crop", event.camera, event.key, why)
            self.media_writes.failed(exc)
            return None, why
        self.media_writes.succeeded()
        return name, None

    def recent_alert(self, camera: str, subject_id: str, since: float) -> TrackMatch | None:
        """The latest stored (or, the database unreachable, queued) alert for the subject on the camera,
        last seen at or after ``since``."""
        try:
            return self._recent(camera, subject_id, since)
        except Exception as exc:
            if self.pending is None or not is_outage(exc):
                raise
            return self.pending.find(camera, subject_id, since)

    def _recent(self, camera: str, subject_id: str, since: float) -> TrackMatch | None:
        with self.db.session() as session:
            row = session.scalar(
                select(Alert)
                .where(Alert.camera == camera, Alert.subject_id == subject_id, Alert.last_seen >= _utc(since))
                .order_by(Alert.last_seen.desc())
                .limit(1)
            )
            if row is None:
                return None
            return TrackMatch(
                key=row.key,
                subject_id=row.subject_id,
                subject_name="",
                category="",
                camera=row.camera,
                track_id=row.track_id,
                first_seen=row.first_seen.timestamp(),
                last_seen=row.last_seen.timestamp(),
                score=row.best_score,
                evidence=row.evidence if row.evidence is not None else row.best_score,
                threshold=row.threshold,
                faces=row.faces,
                decisive_capture_at=row.decisive_capture_at.timestamp(),
                alert_id=row.id,
                evidence_nats=row.evidence_nats,
                needed_nats=row.needed_nats,
            )

    def update_alert(self, event: TrackMatch) -> None:
        """The track went on: extend last seen, faces and best score (and the crop if a better one came).
        An alert still queued, or the database unreachable: merged into the queue."""
        if self.pending is None:
            self._update(event)
            return
        try:
            found = self._update(event)
        except Exception as exc:
            if not is_outage(exc):
                raise
            found = False
        if not found and (self.pending.get(event.key) is not None or not self._reachable()):
            self.pending.put(event)
            self._start_draining()

    def _reachable(self) -> bool:
        try:
            with self.db.session() as session:
                session.execute(select(1))
            return True
        except Exception as exc:
            if is_outage(exc):
                return False
            raise

    def drain(self) -> int:
        """Store the queued alerts (oldest first; each once, whatever was stored before a crash); returns
        how many were stored. Raises the database's error if it is still unreachable."""
        if self.pending is None:
            return 0
        stored = 0
        for key in self.pending.queued():
            event = self.pending.get(key)
            if event is None:
                continue
            if self._raise(event) is None:  # stored already (a replay, or a queued update): merge
                self._update(event)
            self.pending.done(key, event)
            stored += 1
        if stored:
            log.info("stored %d alerts queued while the database was unreachable", stored)
        return stored

    def _start_draining(self) -> None:
        with self._lock:
            if self._drainer is not None and self._drainer.is_alive():
                return
            self._drainer = threading.Thread(target=self._drain_loop, name="alert-queue", daemon=True)
            self._drainer.start()

    def _drain_loop(self) -> None:
        while not self._stop.wait(self.drain_every_s):
            try:
                self.drain()
            except Exception as exc:
                if not is_outage(exc):
                    log.exception("could not store a queued alert")
                continue
            if self.pending is None or not len(self.pending):
                return

    def queued(self) -> int:
        """Alerts waiting on disk for the database."""
        return 0 if self.pending is None else len(self.pending)

    def close(self) -> None:
        """Stop draining (what is queued stays on disk for the next start)."""
        self._stop.set()
        if self._drainer is not None:
            self._drainer.join(10)

    def _more_evidence(self, row: Alert, event: TrackMatch) -> list[str]:
        """Store what ``event`` adds to ``row``'s evidence (more of the track's faces, a scene frame where
        none was kept); returns the names it replaced, to delete after the commit."""
        stale: list[str] = []
        stored = json.loads(row.evidence_media) if row.evidence_media else {"faces": [], "scene": None}
        if len(event.track_faces) > len(stored["faces"]):  # more of the track's faces came: they replace
            fresh = json.loads(save_evidence_media(self.media, replace(event, scene_jpeg=None)) or "{}")
            stale = [f["name"] for f in stored["faces"]]
            stored["faces"] = fresh["faces"]
        if event.scene_jpeg and not stored["scene"]:
            stored["scene"] = json.loads(save_evidence_media(self.media, replace(event, track_faces=())) or "{}")[
                "scene"
            ]
        row.evidence_media = json.dumps(stored) if stored["faces"] or stored["scene"] else None
        return stale

    def _update(self, event: TrackMatch) -> bool:
        with self.db.session() as session:
            row = session.scalar(select(Alert).where(Alert.key == event.key))
            if row is None:
                return False
            old_crop = None
            row.last_seen = max(row.last_seen, _utc(event.last_seen))
            row.faces = max(row.faces, event.faces)
            row.evidence = max(row.evidence or 0.0, event.evidence)
            if event.evidence_nats is not None:  # the highest the track reached (what it asked stays)
                was = row.evidence_nats if row.evidence_nats is not None else -math.inf
                row.evidence_nats = max(was, event.evidence_nats)
                row.needed_nats = row.needed_nats if row.needed_nats is not None else event.needed_nats
            if event.runner_up_id is not None and row.runner_up_subject_id is None:
                row.runner_up_subject_id, row.runner_up_score = event.runner_up_id, event.runner_up_score
            if event.score > row.best_score:
                row.best_score = event.score
                crop_name, _missing = self._save_crop(event)
                if crop_name is not None:  # a better crop; if it could not be written the old one stays
                    old_crop, row.crop_name, row.crop_missing = row.crop_name, crop_name, None
            stale: list[str] = []
            try:
                stale = self._more_evidence(row, event)
            except OSError as exc:  # the media disk full: what was stored stays
                self.media_writes.failed(exc)
        for name in ([old_crop] if old_crop else []) + stale:
            self.media.delete("crops", name)
        self._notify("updated", replace(event, crop_jpeg=None, alert_id=row.id, track_faces=(), scene_jpeg=None))
        return True


ALERTS_TOPIC = "alerts"  # the bus topic on which stored alerts and decisions are announced


def raised_announcement(alert_id: str, latency_ms: float | None = None) -> dict[str, Any]:
    """The bus event that says an alert was stored (its id only: the database holds the rest)."""
    return {"type": "alert-raised", "alert_id": alert_id, "latency_ms": latency_ms}


UPDATE_EVERY_S = 2.0  # a track's updates to its alert are announced at most this often


def announcer(bus: Bus, *, update_every_s: float = UPDATE_EVERY_S) -> AlertListener:
    """An AlertRecorder listener that announces each stored alert on the bus (embedded or scaled out),
    and the track's updates to it (faces, last seen) at most every ``update_every_s`` per alert, so a
    Live card does not go stale while the person is still in view."""
    announced: dict[str, float] = {}
    lock = threading.Lock()

    def announce(kind: str, event: TrackMatch) -> None:
        if event.alert_id is None:
            return
        if kind == "raised":
            bus.publish(ALERTS_TOPIC, raised_announcement(event.alert_id, event.latency_ms))
            with lock:
                announced[event.alert_id] = time.monotonic()
        elif kind == "updated":
            now = time.monotonic()
            with lock:
                if now - announced.get(event.alert_id, -math.inf) < update_every_s:
                    return
                announced[event.alert_id] = now
                if len(announced) > 10_000:  # forget the oldest: their tracks ended long ago
                    for key in sorted(announced, key=announced.__getitem__)[:5_000]:
                        del announced[key]
            bus.publish(ALERTS_TOPIC, {"type": "alert-updated", "alert_id": event.alert_id})

    return announce


class JsonLinesWriter:
    """Writes each raised alert as one JSON line (flushed at once)."""

    def __init__(self, target: Path | IO[str]) -> None:
        self._own = isinstance(target, Path)
        self._handle: IO[str] = target.open("a", encoding="utf-8") if isinstance(target, Path) else target
        self._lock = threading.Lock()
        self.count = 0

    def __call__(self, kind: str, event: TrackMatch) -> None:
        if kind != "raised":
            return
        with self._lock:
            self._handle.write(json.dumps(event.as_json()) + "\n")
            self._handle.flush()
            self.count += 1

    def close(self) -> None:
        if self._own:
            self._handle.close()
