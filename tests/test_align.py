from __future__ import annotations

import numpy as np
import pytest

from vigil.vision.align import (
    ARCFACE_112,
    DLIB_150,
    DLIB_MEAN_FACE_5POINT_MODEL,
    ChipTemplate,
    align_faces,
    dlib_chip_points,
    estimate_similarity,
    transform_points,
)


@pytest.mark.parametrize(("angle", "scale", "shift"), [(0.0, 1.0, (0, 0)), (0.3, 2.5, (10, -4)), (-1.2, 0.4, (3, 7))])
def test_estimate_similarity_recovers_exact_transform(angle: float, scale: float, shift: tuple[int, int]) -> None:
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = ARCFACE_112.points
    dst = src @ (scale * rotation).T + np.array(shift)
    matrix = estimate_similarity(src, dst)
    assert np.allclose(transform_points(matrix, src), dst, atol=1e-9)


def test_estimate_similarity_never_reflects() -> None:
    src = ARCFACE_112.points
    mirrored = src * np.array([-1.0, 1.0])
    assert np.linalg.det(estimate_similarity(src, mirrored)[:, :2]) > 0


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [(np.zeros((5, 2)), np.ones((5, 2)), "degenerate"), (np.zeros((5, 2)), np.zeros((4, 2)), "point sets")],
)
def test_estimate_similarity_rejects_bad_points(src: np.ndarray, dst: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        estimate_similarity(src, dst)


def test_align_puts_landmarks_on_template() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    landmarks = ARCFACE_112.points * 1.5 + 20
    for x, y in landmarks:
        image[round(y), round(x)] = 255
    chip = align_faces(image, landmarks[None], ARCFACE_112)[0]
    assert chip.shape == (112, 112, 3)
    for x, y in ARCFACE_112.points:
        window = chip[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3]
        assert window.max() > 0


def test_align_rejects_wrong_shapes() -> None:
    with pytest.raises(ValueError, match="landmarks"):
        align_faces(np.zeros((10, 10, 3), np.uint8), np.zeros((5, 2)), ARCFACE_112)
    with pytest.raises(ValueError, match="uint8"):
        align_faces(np.zeros((10, 10), np.uint8), np.zeros((1, 5, 2)), ARCFACE_112)
    with pytest.raises(ValueError, match="shape"):
        ChipTemplate(name="bad", size=10, points=np.zeros((4, 2)))


def test_heavy_downscale_is_antialiased() -> None:
    """A large face shrunk to a chip is averaged, not point-sampled (a fine stripe pattern turns grey)."""
    stripes = np.zeros((2000, 2000, 3), np.uint8)
    stripes[:, ::2] = 255
    landmarks = ARCFACE_112.points * 15 + 100
    chip = align_faces(stripes, landmarks[None], ARCFACE_112)[0]
    centre = chip[40:70, 40:70].astype(float)
    assert 90 < centre.mean() < 165 and centre.std() < 40


def test_dlib_chips_match_dlib_get_face_chip(astronaut: np.ndarray) -> None:
    """Aligning on the standard points derived from dlib's landmarks reproduces dlib's own chip."""
    dlib = pytest.importorskip("dlib")
    from vigil.vision.catalogue import dlib_model_file
    from vigil.vision.detectors.dlib_detectors import standard_points_from_dlib5

    predictor_path = dlib_model_file("shape_predictor_5_face_landmarks.dat")
    assert predictor_path is not None
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(predictor_path))
    shape = predictor(astronaut, detector(astronaut, 1)[0])
    parts = np.array([[p.x, p.y] for p in shape.parts()], float)
    reference = dlib.get_face_chip(astronaut, shape, 150, 0.25).astype(int)
    ours = align_faces(astronaut, standard_points_from_dlib5(parts)[None], DLIB_150)[0].astype(int)
    assert np.abs(reference - ours).mean() < 1.5
    five = ChipTemplate("dlib5", 150, dlib_chip_points(DLIB_MEAN_FACE_5POINT_MODEL, 150, 0.25), True)
    direct = align_faces(astronaut, parts[None], five)[0].astype(int)
    assert np.abs(reference - direct).mean() < 1.5
