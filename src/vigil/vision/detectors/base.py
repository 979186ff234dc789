"""The detector protocol and helpers shared by detector backends."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from vigil.vision.types import FaceDetections


@runtime_checkable
class Detector(Protocol):
    """Finds faces: (H, W, 3) uint8 RGB image in, :class:`FaceDetections` out.

    Backends load their weights in :meth:`prepare`, never at construction or import.
    """

    name: str

    def prepare(self) -> None:
        """Load weights; raises ModelError subclasses when they are missing or wrong."""
        ...

    def detect(self, image: np.ndarray) -> FaceDetections:
        """All faces in ``image`` with boxes, 5 landmarks and a confidence in [0, 1]."""
        ...


def check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        shape = getattr(image, "shape", None)
        dtype = getattr(image, "dtype", None)
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got shape {shape} dtype {dtype}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ValueError(f"image too small to hold a face: {image.shape[1]}x{image.shape[0]}")


def fit_within(width: int, height: int, max_side: int, multiple: int = 1) -> tuple[int, int]:
    """A size no larger than ``max_side`` on its long side, keeping aspect, rounded up to ``multiple``."""
    scale = min(1.0, max_side / max(width, height))
    new_w = max(multiple, int(np.ceil(width * scale / multiple)) * multiple)
    new_h = max(multiple, int(np.ceil(height * scale / multiple)) * multiple)
    return new_w, new_h


def resize_for(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == size:
        return image
    shrink = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def non_max_suppression(xyxy: np.ndarray, score: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of boxes kept by greedy NMS, highest score first."""
    if len(score) == 0:
        return np.zeros((0,), dtype=np.int64)
    boxes = [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in xyxy]
    keep = cv2.dnn.NMSBoxes(boxes, [float(s) for s in score], 0.0, iou_threshold)
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def clip_to_image(found: FaceDetections, width: int, height: int) -> FaceDetections:
    """Boxes clipped to the image; landmarks are left as predicted (they may lie just outside)."""
    if len(found) == 0:
        return found
    xyxy = found.xyxy.copy()
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    return FaceDetections(xyxy, found.kps, found.score)
