"""YuNet (OpenCV Zoo, MIT) through OpenCV's FaceDetectorYN, when the user supplies its ONNX file."""

from __future__ import annotations

import queue
from pathlib import Path

import cv2
import numpy as np

from vigil.errors import ModelLoadError, ModelNotPreparedError
from vigil.vision.detectors.base import check_image, clip_to_image, fit_within, resize_for
from vigil.vision.onnx_utils import load_onnx, output_dims
from vigil.vision.types import FaceDetections

_EXPECTED_OUTPUTS = {f"{kind}_{stride}" for kind in ("cls", "obj", "bbox", "kps") for stride in (8, 16, 32)}


class YuNetDetector:
    """YuNet at up to ``max_side`` pixels on the long side (1280 keeps 720p native).

    OpenCV's FaceDetectorYN keeps per-call state (its input size, its network's buffers), so calls made at
    the same time (one thread per live camera) each borrow an instance from a pool: as many instances as
    calls ever ran at once (the face engine bounds that by the CPU cores).
    """

    name = "yunet"

    def __init__(
        self, model_path: Path, *, max_side: int = 1280, score_threshold: float = 0.6, nms_iou: float = 0.3
    ) -> None:
        self.model_path = model_path
        self.max_side = max_side
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self._prepared = False
        self._pool: queue.SimpleQueue[list[object]] = queue.SimpleQueue()  # [detector, input size]

    def prepare(self) -> None:
        outputs = set(output_dims(load_onnx(self.model_path, "YuNet 2023mar")))
        if outputs != _EXPECTED_OUTPUTS:
            raise ModelLoadError(
                f"{self.model_path}: expected YuNet (2023mar) outputs {sorted(_EXPECTED_OUTPUTS)}, "
                f"found {sorted(outputs)}"
            )
        cv2.utils.logging.setLogLevel(
            cv2.utils.logging.LOG_LEVEL_ERROR
        )  # errors only: OpenCV 5 warns about DNN targets on every load
        self._pool.put([self._new_detector(), None])
        self._prepared = True

    def _new_detector(self) -> cv2.FaceDetectorYN:
        try:
            return cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320), self.score_threshold, self.nms_iou, 5000
            )
        except cv2.error as exc:
            raise ModelLoadError(f"{self.model_path}: OpenCV could not load YuNet: {exc}") from exc

    def detect(self, image: np.ndarray) -> FaceDetections:
        if not self._prepared:
            raise ModelNotPreparedError("YuNetDetector.detect() called before prepare()")
        check_image(image)
        try:
            slot = self._pool.get_nowait()
        except queue.Empty:
            slot = [self._new_detector(), None]
        try:
            return self._detect(slot, image)
        finally:
            self._pool.put(slot)

    def _detect(self, slot: list[object], image: np.ndarray) -> FaceDetections:
        detector = slot[0]
        assert isinstance(detector, cv2.FaceDetectorYN)
        height, width = image.shape[:2]
        size = fit_within(width, height, self.max_side)
        if size != slot[1]:
            detector.setInputSize(size)
            slot[1] = size
        bgr = cv2.cvtColor(resize_for(image, size), cv2.COLOR_RGB2BGR)
        _, faces = detector.detect(bgr)
        if faces is None or len(faces) == 0:
            return FaceDetections.empty()
        faces = np.asarray(faces, dtype=np.float32)
        xyxy = np.concatenate([faces[:, 0:2], faces[:, 0:2] + faces[:, 2:4]], axis=1)
        # YuNet gives the subject's right eye first, which is the eye on the image's left: the same
        # order as Vigil's (left eye, right eye, nose, mouth left, mouth right) as seen in the image.
        kps = faces[:, 4:14].reshape(-1, 5, 2)
        found = FaceDetections(xyxy, kps, np.clip(faces[:, 14], 0.0, 1.0))
        return clip_to_image(found.scaled(width / size[0], height / size[1]), width, height)
