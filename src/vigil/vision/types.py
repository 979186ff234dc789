"""Validated result types that cross stage boundaries in the face engine.

Coordinates are pixels in the source image, x to the right and y down. Landmarks come in the order
(left eye, right eye, nose tip, left mouth corner, right mouth corner) *as seen in the image*: the
"left eye" is the one with the smaller x in a frontal face (the subject's right eye).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


def _as_float32(array: np.ndarray | list[float], name: str) -> np.ndarray:
    out = np.asarray(array, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{name} holds non-finite values")
    return out


@dataclass(frozen=True)
class FaceDetections:
    """Faces found in one image, as parallel arrays.

    ``xyxy``: (n, 4) float32 boxes (x1, y1, x2, y2); ``kps``: (n, 5, 2) float32 landmarks (x, y);
    ``score``: (n,) float32 detector confidence in [0, 1].
    """

    xyxy: np.ndarray
    kps: np.ndarray
    score: np.ndarray

    def __post_init__(self) -> None:
        xyxy = (
            _as_float32(self.xyxy, "xyxy").reshape(-1, 4) if np.size(self.xyxy) == 0 else _as_float32(self.xyxy, "xyxy")
        )
        kps = _as_float32(self.kps, "kps").reshape(-1, 5, 2) if np.size(self.kps) == 0 else _as_float32(self.kps, "kps")
        score = _as_float32(self.score, "score").reshape(-1)
        n = len(score)
        if xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must have shape ({n}, 4), got {xyxy.shape}")
        if kps.shape != (n, 5, 2):
            raise ValueError(f"kps must have shape ({n}, 5, 2), got {kps.shape}")
        if n and np.any(xyxy[:, 2:] < xyxy[:, :2]):
            raise ValueError("xyxy boxes must have x2 >= x1 and y2 >= y1")
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "kps", kps)
        object.__setattr__(self, "score", score)

    @classmethod
    def empty(cls) -> FaceDetections:
        return cls(np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), np.zeros((0,), np.float32))

    def __len__(self) -> int:
        return len(self.score)

    def __getitem__(self, index: int | slice | np.ndarray | list[int]) -> FaceDetections:
        """Select faces by position, slice, index list or boolean mask; always returns FaceDetections."""
        if isinstance(index, int):
            index = [index]
        return FaceDetections(self.xyxy[index], self.kps[index], self.score[index])

    @property
    def widths(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def heights(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    @property
    def inter_eye(self) -> np.ndarray:
        """(n,) distance in pixels between the two eye landmarks."""
        return np.linalg.norm(self.kps[:, 1] - self.kps[:, 0], axis=1)

    def scaled(self, factor_x: float, factor_y: float) -> FaceDetections:
        """Coordinates multiplied by the given factors (to map from a resized image back)."""
        scale = np.array([factor_x, factor_y], dtype=np.float32)
        return FaceDetections(self.xyxy * np.tile(scale, 2), self.kps * scale, self.score)

    def shifted(self, dx: float, dy: float) -> FaceDetections:
        """Coordinates moved by (dx, dy) (to map from a crop of an image back to the image)."""
        offset = np.array([dx, dy], dtype=np.float32)
        return FaceDetections(self.xyxy + np.tile(offset, 2), self.kps + offset, self.score)

    @classmethod
    def concat(cls, parts: list[FaceDetections]) -> FaceDetections:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.kps for p in parts]),
            np.concatenate([p.score for p in parts]),
        )


@dataclass(frozen=True)
class Embeddings:
    """L2-normalised face vectors from one embedder: ``vectors`` is (n, dim) float32."""

    vectors: np.ndarray
    model: str
    version: str

    def __post_init__(self) -> None:
        vectors = np.asarray(self.vectors, dtype=np.float32)
        if vectors.ndim != 2:
            raise ValueError(f"vectors must be 2-D (n, dim), got shape {vectors.shape}")
        if len(vectors):
            norms = np.linalg.norm(vectors, axis=1)
            if not np.allclose(norms, 1.0, atol=1e-3):
                raise ValueError("embedding vectors must be L2-normalised")
        object.__setattr__(self, "vectors", vectors)

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; an all-zero row is an error, never silently kept."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(norms)):
        raise ValueError("cannot normalise a zero or non-finite embedding")
    return (vectors / norms).astype(np.float32)


def central_face(faces: FaceDetections, width: int, height: int) -> int:
    """Index of the face whose box centre is nearest the image centre (LFW labels the centred face; an
    alert crop is cut around the matched face)."""
    if len(faces) == 0:
        raise ValueError("no faces")
    centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2.0
    distance = np.linalg.norm(centres - np.array([width / 2.0, height / 2.0]), axis=1)
    return int(np.argmin(distance))
