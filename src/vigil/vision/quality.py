"""Face quality: one score in [0, 1] per face from size, sharpness, pose and detector confidence.

The formula (documented in docs/quality.md, kept in step with this code):

* size      q_size  = clip((d - 8) / (40 - 8), 0, 1), d = inter-eye distance in source pixels;
* sharpness q_sharp = v / (v + 100), v = variance of the Laplacian of the face's grey 64x64 aligned chip
  (measured on the aligned chip so that it does not depend on the face's size in the frame; an upscaled
  small face is blurry there and scores low);
* pose      q_pose  = clip(1 - |yaw| / 0.8, 0, 1) * clip(1 - |pitch - 0.49| / 0.3, 0, 1), where
  yaw = 2 t - 1 with t the nose's position along the eye line (0 = over the left eye, 1 = the right),
  and pitch = (nose depth below the eye line) / (mouth-centre depth below it); 0.49 is the frontal
  value of the ArcFace template. Roll is reported but not scored: alignment removes it;
* confidence q_conf = the detector's score.

``score = q_size^0.3 * q_sharp^0.2 * q_pose^0.3 * q_conf^0.2`` — a weighted geometric mean, so one bad
factor pulls the whole score down and a zero in any factor makes the face unusable.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigil.vision.align import ARCFACE_112, ChipTemplate, align_faces
from vigil.vision.types import FaceDetections

SIZE_ZERO_PX = 8.0
SIZE_FULL_PX = 40.0
SHARPNESS_HALF = 100.0
FRONTAL_PITCH = 0.49
WEIGHTS = {"size": 0.3, "sharpness": 0.2, "pose": 0.3, "confidence": 0.2}

_SHARPNESS_TEMPLATE = ChipTemplate(name="quality-64", size=64, points=ARCFACE_112.points * (64 / 112))


@dataclass(frozen=True)
class FaceQuality:
    """Per-face measures, each an (n,) float32 array, and the combined ``score``."""

    inter_eye_px: np.ndarray
    sharpness: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll_deg: np.ndarray
    confidence: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.score)


def pose_from_landmarks(kps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(yaw, pitch, roll_deg) proxies from (n, 5, 2) landmarks; see the module docstring."""
    kps = np.asarray(kps, dtype=np.float64).reshape(-1, 5, 2)
    left, right, nose = kps[:, 0], kps[:, 1], kps[:, 2]
    mouth = (kps[:, 3] + kps[:, 4]) / 2.0
    axis = right - left
    length_sq = np.maximum((axis**2).sum(axis=1), 1e-9)
    t = ((nose - left) * axis).sum(axis=1) / length_sq
    yaw = 2.0 * t - 1.0
    normal = np.stack([-axis[:, 1], axis[:, 0]], axis=1) / np.sqrt(length_sq)[:, None]
    nose_depth = ((nose - left) * normal).sum(axis=1)
    mouth_depth = ((mouth - left) * normal).sum(axis=1)
    pitch = np.where(np.abs(mouth_depth) > 1e-6, nose_depth / np.where(mouth_depth == 0, 1, mouth_depth), 0.0)
    roll = np.degrees(np.arctan2(axis[:, 1], axis[:, 0]))
    return yaw.astype(np.float32), pitch.astype(np.float32), roll.astype(np.float32)


def laplacian_sharpness(image: np.ndarray, kps: np.ndarray) -> np.ndarray:
    """(n,) variance of the Laplacian over each face's grey 64x64 aligned chip."""
    kps = np.asarray(kps, dtype=np.float64).reshape(-1, 5, 2)
    if len(kps) == 0:
        return np.zeros((0,), np.float32)
    chips = align_faces(image, kps, _SHARPNESS_TEMPLATE)
    out = np.zeros(len(chips), np.float32)
    for i, chip in enumerate(chips):
        grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
        out[i] = float(cv2.Laplacian(grey[8:56, 8:56], cv2.CV_64F).var())
    return out


def combine_quality(
    inter_eye_px: np.ndarray, sharpness: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, confidence: np.ndarray
) -> np.ndarray:
    """The combined score from the raw measures (pure; all inputs (n,))."""
    q_size = np.clip((np.asarray(inter_eye_px) - SIZE_ZERO_PX) / (SIZE_FULL_PX - SIZE_ZERO_PX), 0.0, 1.0)
    sharp = np.maximum(np.asarray(sharpness, dtype=np.float64), 0.0)
    q_sharp = sharp / (sharp + SHARPNESS_HALF)
    q_pose = np.clip(1.0 - np.abs(yaw) / 0.8, 0.0, 1.0) * np.clip(
        1.0 - np.abs(np.asarray(pitch) - FRONTAL_PITCH) / 0.3, 0.0, 1.0
    )
    q_conf = np.clip(np.asarray(confidence, dtype=np.float64), 0.0, 1.0)
    score = (
        q_size ** WEIGHTS["size"]
        * q_sharp ** WEIGHTS["sharpness"]
        * q_pose ** WEIGHTS["pose"]
        * q_conf ** WEIGHTS["confidence"]
    )
    return np.asarray(score, dtype=np.float32)


def assess_quality(image: np.ndarray, faces: FaceDetections) -> FaceQuality:
    """Quality of every detected face in ``image`` ((H, W, 3) uint8 RGB)."""
    yaw, pitch, roll = pose_from_landmarks(faces.kps)
    sharpness = laplacian_sharpness(image, faces.kps)
    inter_eye = faces.inter_eye.astype(np.float32)
    score = combine_quality(inter_eye, sharpness, yaw, pitch, faces.score)
    return FaceQuality(inter_eye, sharpness, yaw, pitch, roll, faces.score.copy(), score)
