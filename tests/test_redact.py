"""Bystanders are blurred in every stored image: a test frame puts a passer-by's face inside the margin of
the matched person's crop, raises the real alert and runs the detector over the crop that was stored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.helpers import authorise, jpeg, live_fields, live_service, live_settings

from vigil.domain.alerts import AlertRecorder
from vigil.domain.authorisations import AuthorisationBook
from vigil.domain.matching import WatchlistMatcher
from vigil.pipeline.analyser import CameraAnalyser, crop_region, face_crop
from vigil.recognition.calibration import shipped_curves, validated_floor
from vigil.store.models import Alert
from vigil.video.sources import Frame
from vigil.vision.image import decode_image
from vigil.vision.redact import blur_all_faces, blur_regions, grown_box


def _scaled(image: np.ndarray, box: np.ndarray, face_px: float) -> tuple[np.ndarray, np.ndarray]:
    scale = face_px / float(box[2] - box[0])
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA), box * scale


def bystander_frame(engine, hopper: np.ndarray, astronaut: np.ndarray) -> np.ndarray:  # type: ignore[no-untyped-def]
    """720p: Hopper's face 150 px wide, and Collins's, 60 px wide, inside the top-left of Hopper's crop
    margin (over her shoulder), outside Hopper's face box."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    matched, matched_box = _scaled(hopper, engine.detect(hopper).xyxy[0], 150)
    ox, oy = 400, 150
    frame[oy : oy + matched.shape[0], ox : ox + matched.shape[1]] = matched
    matched_box = matched_box + np.array([ox, oy, ox, oy], np.float32)
    small, small_box = _scaled(astronaut, engine.detect(astronaut).xyxy[0], 60)
    cx, cy = (small_box[0] + small_box[2]) / 2, (small_box[1] + small_box[3]) / 2
    half = int(0.75 * (small_box[2] - small_box[0]))
    patch = small[int(cy) - half : int(cy) + half, int(cx) - half : int(cx) + half]
    left, top, _right, _bottom = crop_region(frame.shape, matched_box, 1.6)
    frame[top + 2 : top + 2 + patch.shape[0], left + 2 : left + 2 + patch.shape[1]] = patch
    return frame


def test_the_stored_crop_of_an_alert_shows_one_recognisable_face(
    tmp_path: Path, settings, engine, hopper, astronaut
) -> None:  # type: ignore[no-untyped-def]
    service = live_service(live_settings(tmp_path, settings), engine)
    hopper_id = service.enroll(live_fields("Grace Hopper"), [("h.jpg", jpeg(hopper))]).subject_id
    frame = bystander_frame(engine, hopper, astronaut)
    faces = engine.detect(frame)
    assert len(faces) == 2  # both are found in the frame ...
    matched = int(np.argmax(faces.xyxy[:, 2] - faces.xyxy[:, 0]))
    unblurred = face_crop(frame, faces.xyxy[matched], max_px=240)
    assert len(engine.detect(unblurred)) == 2  # ... and both would be in a plain crop
    authorise(service.db, ["gate"])
    analyser = CameraAnalyser(
        "gate",
        engine,
        WatchlistMatcher(service),
        AlertRecorder(service.db, service.media),
        gate=AuthorisationBook(service.db),
    )
    now = datetime.now(UTC).timestamp()
    (alert,) = analyser.process(Frame(frame, 0, 0.0, now, now))
    analyser.finish()
    assert alert.subject_id == hopper_id
    with service.db.session() as session:
        crop_name = session.get(Alert, alert.alert_id).crop_name  # type: ignore[union-attr]
    stored = decode_image(service.media.read("crops", crop_name))
    found = engine.detect(stored)
    assert len(found) == 1  # the bystander is gone; the matched face is intact
    vector = engine.embed(stored, found).vectors[0]
    assert float(vector @ engine.embed(hopper, engine.detect(hopper)).vectors[0]) > 0.95


@pytest.mark.parametrize("which", ["astronaut", "hopper"])
def test_a_blurred_face_cannot_be_re_identified(engine, astronaut, hopper, which: str) -> None:  # type: ignore[no-untyped-def]
    image = astronaut if which == "astronaut" else hopper
    faces = engine.detect(image)
    original = engine.embed(image, faces).vectors[0]
    blurred = blur_regions(image, faces.xyxy)
    assert len(engine.detect(blurred)) == 0  # not even found as a face any more
    # embedded anyway, at the original face's landmarks: further from the original than the floor allows
    score = float(engine.embed(blurred, faces).vectors[0] @ original)
    curves = shipped_curves(engine.embedder.name, engine.embedder.version)
    assert curves is not None
    floor = validated_floor(curves.curve)
    assert score < floor, (score, floor)


def test_blurring_returns_a_new_image_and_leaves_the_kept_face_alone(two_faces: np.ndarray, engine) -> None:  # type: ignore[no-untyped-def]
    faces = engine.detect(two_faces)
    before = two_faces.copy()
    everyone = blur_all_faces(two_faces, faces.xyxy)
    assert np.array_equal(two_faces, before) and len(engine.detect(everyone)) == 0
    kept = blur_regions(two_faces, faces.xyxy[1:], keep=faces.xyxy[0])
    x1, y1, x2, y2 = (int(v) for v in faces.xyxy[0])
    assert np.array_equal(kept[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1], two_faces[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1])
    assert len(engine.detect(kept)) == 1


def test_a_bystanders_blur_never_reaches_the_subjects_forehead() -> None:
    """Issue 28: the kept face was restored only inside the detector's tight box, so a bystander's grown
    box left a blurred band across the subject's forehead (above the tight box) in the stored crop."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (300, 300, 3), dtype=np.uint8)
    subject = np.array([100, 100, 200, 200], np.float32)
    bystander = np.array([60, 0, 150, 60], np.float32)  # above-left: its grown box reaches y = 81
    out = blur_regions(image, bystander[None], keep=subject)
    left, top, right, bottom = grown_box(subject, image.shape)  # forehead, hair and jaw included
    assert np.array_equal(out[top:bottom, left:right], image[top:bottom, left:right])
    x1, y1, x2, _y2 = (int(v) for v in bystander)
    assert not np.array_equal(out[y1:top, x1:x2], image[y1:top, x1:x2])  # the bystander is still blurred
