"""Issue 28: per alert, the track's best 3-5 faces (time, size) and one scene frame around the face, the
bystanders blurred and the subject's face not; stored beside the crop and deleted with it by retention."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from tests.helpers import jpeg, live_fields, live_service, live_settings

from vigil.domain.alerts import AlertRecorder, evidence_media_names
from vigil.domain.audit import AuditLog
from vigil.domain.matching import WatchlistMatcher
from vigil.domain.retention import RetentionPolicy, RetentionService
from vigil.pipeline.analyser import AnalysisSettings, CameraAnalyser
from vigil.pipeline.offline import sample_frames
from vigil.store.models import Alert
from vigil.video.sources import Frame
from vigil.vision.image import decode_image

pytestmark = pytest.mark.slow


def walk_by(path: Path, portrait: np.ndarray) -> Path:
    from vigil.samples import street_scene_clip

    return street_scene_clip(path, portrait, seconds=7.0, fps=8, size=(960, 540), crossing=(0.5, 6.5), face_px=110)


def run_clip(clip: Path, camera: str, analyser: CameraAnalyser) -> None:
    for i, frame in enumerate(sample_frames(clip, 4.0)):
        at = time.time()  # shown and captured now (a live camera's frames; the latency stays positive)
        analyser.process(Frame(frame.image, i, frame.timestamp, at, at))
    analyser.finish()


def test_an_alert_keeps_its_tracks_best_faces_and_a_scene_frame_until_retention(  # type: ignore[no-untyped-def]
    tmp_path: Path, settings, engine, hopper
) -> None:
    service = live_service(live_settings(tmp_path, settings), engine)
    subject = service.enroll(live_fields("Grace Hopper", "missing-person"), [("h.jpg", jpeg(hopper))])
    analyser = CameraAnalyser(
        "hazratganj", engine, WatchlistMatcher(service), AlertRecorder(service.db, service.media), AnalysisSettings()
    )
    run_clip(walk_by(tmp_path / "walk.mp4", hopper), "hazratganj", analyser)
    with service.db.session() as session:
        (alert,) = session.scalars(select(Alert)).all()
        media = json.loads(alert.evidence_media or "{}")
    assert alert.subject_id == subject.subject_id
    faces = media["faces"]
    assert 3 <= len(faces) <= 5, faces
    seen = [datetime.fromisoformat(f["at"]) for f in faces]
    assert seen == sorted(seen) and all(alert.first_seen <= t <= alert.last_seen for t in seen)  # oldest first
    reference = engine.embed(hopper, engine.detect(hopper)).vectors[0]
    for face in faces:
        image = decode_image(service.media.read("crops", face["name"]))
        assert (image.shape[1], image.shape[0]) == (face["width"], face["height"]) and face["iod_px"] > 10
    scene = decode_image(service.media.read("crops", media["scene"]["name"]))
    assert scene.shape[1] > 2 * faces[0]["width"]  # a wider view than the face crops
    found = engine.detect(scene)
    assert len(found) == 1  # the subject's face, unblurred
    assert float(engine.embed(scene, found).vectors[0] @ reference) > 0.9

    # Retention: a rejected alert's crop goes after rejected_hours, and its faces and scene with it.
    names = [alert.crop_name, *evidence_media_names(alert.evidence_media)]
    assert all(service.media.read("crops", n) for n in names if n)
    with service.db.session() as session:
        session.get(Alert, alert.id).status = "rejected"  # type: ignore[union-attr]
    audit = AuditLog(service.db, key=b"k" * 32)
    later = datetime.now(UTC) + timedelta(hours=25)
    RetentionService(service.db, service.media, audit, RetentionPolicy(24, 30, 7), clock=lambda: later).run()
    with service.db.session() as session:
        row = session.get(Alert, alert.id)
        assert row is not None and row.crop_name is None and row.evidence_media is None
    assert not service.media.names("crops")
