"""Irreversible blurring of faces that are not of interest: bystanders in a stored crop, every face in a
live frame shown to an admin. Pure functions: an image and boxes in, a new image out.

Each face box is grown by ``EXPAND`` on every side (the detector's box is tight: hair, ears and jaw
identify too), then pixelated to ``BLOCKS`` × ``BLOCKS`` cells and blurred over, so that neither a
person nor a face recogniser can tell who it was (tests/test_redact.py measures the embedder's score
of a blurred face against its original). Only faces the detector found are blurred: a face too small
or too turned away for it stays as it is (docs/accountability.md).
"""

from __future__ import annotations

import cv2
import numpy as np

EXPAND = 0.35  # of the box's size, on every side
BLOCKS = 4  # cells across the larger side of the grown box


def grown_box(box: np.ndarray, shape: tuple[int, ...], expand: float = EXPAND) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of ``box`` grown by ``expand`` of its size on every side, clipped."""
    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = (x2 - x1) * expand, (y2 - y1) * expand
    H, W = shape[:2]
    return (
        max(0, int(np.floor(x1 - dx))),
        max(0, int(np.floor(y1 - dy))),
        min(W, int(np.ceil(x2 + dx))),
        min(H, int(np.ceil(y2 + dy))),
    )


def _obliterate(patch: np.ndarray) -> np.ndarray:
    h, w = patch.shape[:2]
    cells = max(1, round(BLOCKS * min(h, w) / max(h, w)))
    small = cv2.resize(patch, (BLOCKS if w >= h else cells, cells if w >= h else BLOCKS), interpolation=cv2.INTER_AREA)
    blocky = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    sigma = max(1.0, max(h, w) / 8)
    return cv2.GaussianBlur(blocky, (0, 0), sigmaX=sigma, sigmaY=sigma)


def blur_regions(
    image: np.ndarray, boxes: np.ndarray, *, keep: np.ndarray | None = None, expand: float = EXPAND
) -> np.ndarray:
    """A copy of ``image`` with each face box (grown by ``expand``) blurred beyond recognition.

    ``keep``: one face box (the matched face) whose own region, grown by ``expand`` (forehead, hair,
    ears, jaw: the detector's box is tight), no bystander's *grown* margin blurs; each bystander's own box
    is blurred regardless, and ``keep``'s own box is never blurred. (Restoring only the tight box left a
    blurred band across the subject's forehead when a bystander stood close above him.)
    """
    out = np.array(image, copy=True)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return out
    _blur_boxes(out, boxes, expand)
    if keep is None:
        return out
    keep = np.asarray(keep, np.float32)
    x1, y1, x2, y2 = grown_box(keep, out.shape, expand)
    out[y1:y2, x1:x2] = image[y1:y2, x1:x2]  # the subject's face and its surround, as seen
    _blur_boxes(out, boxes, 0.0)  # but a bystander's face itself stays blurred even there
    x1, y1, x2, y2 = grown_box(keep, out.shape, 0.0)
    out[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    return out


def _blur_boxes(out: np.ndarray, boxes: np.ndarray, expand: float) -> None:
    for box in boxes:
        left, top, right, bottom = grown_box(box, out.shape, expand)
        if right - left < 2 or bottom - top < 2:
            continue
        out[top:bottom, left:right] = _obliterate(out[top:bottom, left:right])


def blur_all_faces(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """A copy of a frame with every detected face blurred (a live frame shown to an admin)."""
    return blur_regions(image, boxes)
