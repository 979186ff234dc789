from __future__ import annotations

import numpy as np
import pytest

from vigil.vision.types import Embeddings, FaceDetections, l2_normalise


def _faces(n: int) -> FaceDetections:
    xyxy = np.array([[10 * i, 0, 10 * i + 8, 8] for i in range(n)], np.float32)
    kps = np.zeros((n, 5, 2), np.float32)
    return FaceDetections(xyxy, kps, np.linspace(0.5, 1.0, n))


@pytest.mark.parametrize(
    ("xyxy", "kps", "score", "message"),
    [
        (np.zeros((2, 4)), np.zeros((1, 5, 2)), np.zeros(2), "kps must have shape"),
        (np.zeros((2, 3)), np.zeros((2, 5, 2)), np.zeros(2), "xyxy must have shape"),
        ([[5, 5, 1, 1]], np.zeros((1, 5, 2)), [0.9], "x2 >= x1"),
        ([[0, 0, np.nan, 1]], np.zeros((1, 5, 2)), [0.9], "non-finite"),
    ],
)
def test_face_detections_rejects_bad_shapes(xyxy, kps, score, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        FaceDetections(np.asarray(xyxy, np.float32), np.asarray(kps, np.float32), np.asarray(score, np.float32))


def test_face_detections_slicing_keeps_type() -> None:
    faces = _faces(3)
    assert len(faces[faces.score > 0.7]) == 2
    assert len(faces[1]) == 1
    assert faces[[0, 2]].xyxy[1, 0] == 20
    assert len(FaceDetections.empty()) == 0


def test_scaled_maps_boxes_and_landmarks() -> None:
    faces = _faces(1).scaled(2.0, 3.0)
    assert faces.xyxy[0].tolist() == [0, 0, 16, 24]


def test_embeddings_must_be_normalised() -> None:
    with pytest.raises(ValueError, match="L2-normalised"):
        Embeddings(np.ones((2, 4), np.float32), model="m", version="1")
    emb = Embeddings(l2_normalise(np.ones((2, 4))), model="m", version="1")
    assert emb.dim == 4 and len(emb) == 2


def test_l2_normalise_refuses_zero_vectors() -> None:
    with pytest.raises(ValueError, match="zero"):
        l2_normalise(np.zeros((1, 3)))
