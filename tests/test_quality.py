from __future__ import annotations

import cv2
import numpy as np

from vigil.vision.align import ARCFACE_112
from vigil.vision.quality import assess_quality, combine_quality, pose_from_landmarks
from vigil.vision.types import FaceDetections


def test_frontal_template_has_no_yaw_and_frontal_pitch() -> None:
    yaw, pitch, roll = pose_from_landmarks(ARCFACE_112.points[None])
    assert abs(yaw[0]) < 0.02 and abs(pitch[0] - 0.49) < 0.02 and abs(roll[0]) < 1


def test_turned_head_has_yaw() -> None:
    turned = ARCFACE_112.points.copy()
    turned[2, 0] += 14  # nose moves towards the right eye
    yaw, _, _ = pose_from_landmarks(turned[None])
    assert yaw[0] > 0.7


def test_score_falls_with_each_factor() -> None:
    base = combine_quality(np.array([60.0]), np.array([800.0]), np.array([0.0]), np.array([0.49]), np.array([0.95]))
    small = combine_quality(np.array([12.0]), np.array([800.0]), np.array([0.0]), np.array([0.49]), np.array([0.95]))
    blurred = combine_quality(np.array([60.0]), np.array([5.0]), np.array([0.0]), np.array([0.49]), np.array([0.95]))
    profile = combine_quality(np.array([60.0]), np.array([800.0]), np.array([0.9]), np.array([0.49]), np.array([0.95]))
    unsure = combine_quality(np.array([60.0]), np.array([800.0]), np.array([0.0]), np.array([0.49]), np.array([0.2]))
    assert base[0] > 0.85
    for worse in (small, blurred, unsure):
        assert worse[0] < base[0] - 0.1
    assert profile[0] == 0.0
    tiny = combine_quality(np.array([5.0]), np.array([800.0]), np.array([0.0]), np.array([0.49]), np.array([0.95]))
    assert tiny[0] == 0.0


def test_blur_lowers_measured_sharpness(astronaut: np.ndarray, engine) -> None:  # type: ignore[no-untyped-def]
    faces = engine.detect(astronaut)
    sharp = assess_quality(astronaut, faces)
    blurred_image = cv2.GaussianBlur(astronaut, (0, 0), 4)
    blurred = assess_quality(blurred_image, faces)
    assert blurred.sharpness[0] < sharp.sharpness[0] / 4
    assert blurred.score[0] < sharp.score[0]


def test_quality_of_no_faces_is_empty(astronaut: np.ndarray) -> None:
    assert len(assess_quality(astronaut, FaceDetections.empty())) == 0
