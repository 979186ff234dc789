"""Pure 5-point face alignment: a similarity transform from landmarks to an embedder's chip template.

Landmark order everywhere: (left eye, right eye, nose tip, left mouth corner, right mouth corner) as seen
in the image. A :class:`ChipTemplate` says where those five points sit in the square chip an embedder
expects; :func:`align_faces` warps each face onto it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ChipTemplate:
    """The chip size in pixels and the (5, 2) landmark positions (x, y) inside it."""

    name: str
    size: int
    points: np.ndarray
    dlib_pixel_convention: bool = False
    """Sample like dlib's ``extract_image_chip``: chip pixel (c, r) takes the template point
    (c + 0.5, r + 0.5), i.e. template coordinates name pixel edges rather than pixel centres."""

    def __post_init__(self) -> None:
        points = np.asarray(self.points, dtype=np.float64)
        if points.shape != (5, 2):
            raise ValueError(f"template points must have shape (5, 2), got {points.shape}")
        if self.size < 8:
            raise ValueError("chip size must be at least 8 pixels")
        object.__setattr__(self, "points", points)


# InsightFace / ArcFace 112x112 template (the de-facto standard for ArcFace-style embedders).
ARCFACE_112 = ChipTemplate(
    name="arcface-112",
    size=112,
    points=np.array(
        [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
    ),
)

# dlib's mean face shape (landmarks 17-67 of the iBUG 68-point scheme, in a unit square), from which
# dlib's get_face_chip_details derives its chips. The five standard points are the two eye centres (mean
# of each eye's six contour points), the nose tip (30) and the mouth corners (48, 54).
_DLIB_EYE_LEFT = np.array(
    [
        [0.121737, 0.216423],
        [0.187122, 0.178758],
        [0.265825, 0.179852],
        [0.334606, 0.231733],
        [0.260918, 0.245099],
        [0.182743, 0.244077],
    ]
)
_DLIB_EYE_RIGHT = np.array(
    [
        [0.645647, 0.231733],
        [0.714428, 0.179852],
        [0.793132, 0.178758],
        [0.858516, 0.216423],
        [0.79751, 0.244077],
        [0.719335, 0.245099],
    ]
)
DLIB_MEAN_FACE_STANDARD5 = np.array(
    [
        _DLIB_EYE_LEFT.mean(axis=0),
        _DLIB_EYE_RIGHT.mean(axis=0),
        [0.490127, 0.515625],
        [0.254149, 0.780233],
        [0.726104, 0.780233],
    ]
)
# The five points of dlib's shape_predictor_5_face_landmarks model in the same unit square:
# right-eye outer and inner corner, left-eye outer and inner corner (subject's sides), nose base.
DLIB_MEAN_FACE_5POINT_MODEL = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)


def dlib_chip_points(unit_points: np.ndarray, size: int, padding: float) -> np.ndarray:
    """Unit-square mean-face points placed in a ``size`` chip with dlib's ``padding`` convention."""
    return (padding + np.asarray(unit_points, dtype=np.float64)) / (2 * padding + 1) * size


# The chip dlib's face descriptor expects: get_face_chip(img, shape, size=150, padding=0.25).
DLIB_150 = ChipTemplate(
    name="dlib-150",
    size=150,
    points=dlib_chip_points(DLIB_MEAN_FACE_STANDARD5, 150, 0.25),
    dlib_pixel_convention=True,
)


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, translation) taking ``src`` to ``dst``.

    ``src`` and ``dst`` are (k, 2) point sets, k >= 2. Returns the (2, 3) float64 matrix M with
    ``dst ~= src @ M[:, :2].T + M[:, 2]``. Reflections are never produced (Umeyama 1991).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise ValueError(f"need two (k, 2) point sets with k >= 2, got {src.shape} and {dst.shape}")
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    src_var = (src_c**2).sum() / len(src)
    if src_var <= 1e-12:
        raise ValueError("source points are degenerate (all at one place)")
    cov = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rotation = u @ np.diag(d) @ vt
    scale = (s * d).sum() / src_var
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def transform_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (..., 2) points."""
    points = np.asarray(points, dtype=np.float64)
    return points @ matrix[:, :2].T + matrix[:, 2]


def alignment_matrix(landmarks: np.ndarray, template: ChipTemplate) -> np.ndarray:
    """The (2, 3) image-to-chip transform for one face's (5, 2) landmarks.

    Like dlib, the least-squares fit runs from the template to the image and is then inverted, so that
    chips match dlib's ``get_face_chip`` for the same points.
    """
    to_image = estimate_similarity(template.points, np.asarray(landmarks, dtype=np.float64).reshape(5, 2))
    if template.dlib_pixel_convention:
        to_image = to_image.copy()
        to_image[:, 2] += to_image[:, :2] @ np.array([0.5, 0.5])
    return cv2.invertAffineTransform(to_image)


def _warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.5:
        # Shrinking a lot: average pixels first (as dlib's pyramid does) so the chip does not alias.
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], dtype=np.float64)
        inverse = cv2.invertAffineTransform(matrix)
        region = transform_points(inverse, corners)
        x0, y0 = np.floor(region.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(region.max(axis=0)).astype(int) + 2
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, image.shape[1]), min(y1, image.shape[0])
        if x1 > x0 and y1 > y0:
            factor = 2.0 * scale
            crop = image[y0:y1, x0:x1]
            new_w = max(1, round(crop.shape[1] * factor))
            new_h = max(1, round(crop.shape[0] * factor))
            small = cv2.resize(crop, (new_w, new_h), interpolation=cv2.INTER_AREA)
            fx, fy = new_w / crop.shape[1], new_h / crop.shape[0]
            # chip = M @ (image point); image point = (small point / f) + offset
            to_image = np.array([[1 / fx, 0, x0], [0, 1 / fy, y0]], dtype=np.float64)
            combined = matrix[:, :2] @ to_image[:, :2]
            shift = matrix[:, :2] @ to_image[:, 2] + matrix[:, 2]
            matrix = np.hstack([combined, shift[:, None]])
            image = small
    return cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def align_faces(image: np.ndarray, landmarks: np.ndarray, template: ChipTemplate) -> np.ndarray:
    """Warp each face onto ``template``.

    ``image``: (H, W, 3) uint8 RGB; ``landmarks``: (n, 5, 2) float. Returns (n, size, size, 3) uint8 chips.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 3 or landmarks.shape[1:] != (5, 2):
        raise ValueError(f"landmarks must have shape (n, 5, 2), got {landmarks.shape}")
    chips = np.zeros((len(landmarks), template.size, template.size, 3), dtype=np.uint8)
    for i, points in enumerate(landmarks):
        chips[i] = _warp(image, alignment_matrix(points, template), template.size)
    return chips
