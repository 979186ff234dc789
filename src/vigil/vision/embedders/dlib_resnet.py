"""dlib's ResNet face descriptor, converted once to ONNX and run with ONNX Runtime.

The conversion (:mod:`vigil.vision.dlib_to_onnx`) is cached in the data directory under a name that
holds the source file's SHA-256, so a different weights file is never served from a stale cache.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import ModelNotPreparedError
from vigil.vision.align import DLIB_150
from vigil.vision.dlib_to_onnx import INPUT_NAME, OUTPUT_NAME, convert_dlib_face_descriptor
from vigil.vision.embedders.base import batches, check_chips
from vigil.vision.onnx_utils import file_sha256, make_session
from vigil.vision.types import Embeddings, l2_normalise

log = logging.getLogger(__name__)

CONVERTER_VERSION = "1"


def converted_model_path(weights_path: Path, cache_dir: Path) -> Path:
    """Where the ONNX conversion of ``weights_path`` is (or will be) cached."""
    digest = file_sha256(weights_path)[:16]
    return cache_dir / f"dlib_face_recognition_resnet_model_v1-{digest}-c{CONVERTER_VERSION}.onnx"


def ensure_converted(weights_path: Path, cache_dir: Path) -> Path:
    """Convert dlib's weights to ONNX unless a cached conversion exists; returns the ONNX path."""
    target = converted_model_path(weights_path, cache_dir)
    if target.exists():
        return target
    log.info("converting %s to ONNX (one-off, cached in %s)", weights_path.name, cache_dir)
    model = convert_dlib_face_descriptor(weights_path.read_bytes(), source=str(weights_path))
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".onnx.tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(model.SerializeToString())
        os.replace(tmp, target)  # atomic: a crash never leaves a half-written model behind
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


class DlibResNetEmbedder:
    """128-d descriptor of dlib_face_recognition_resnet_model_v1 on 150x150 dlib chips."""

    name = "dlib-resnet"
    template = DLIB_150
    dim = 128

    def __init__(self, weights_path: Path, cache_dir: Path, *, threads: int = 0, batch_size: int = 32) -> None:
        self.weights_path = weights_path
        self.cache_dir = cache_dir
        self.threads = threads
        self.batch_size = batch_size
        self._session: Any = None
        self._version = ""

    @property
    def version(self) -> str:
        return self._version or "v1"

    def prepare(self) -> None:
        onnx_path = ensure_converted(self.weights_path, self.cache_dir)
        self._session = make_session(onnx_path.read_bytes(), self.threads)
        self._version = f"v1-onnx{CONVERTER_VERSION}"

    def raw_descriptors(self, chips: np.ndarray) -> np.ndarray:
        """dlib's un-normalised descriptors (what ``compute_face_descriptor`` returns), (n, 128)."""
        if self._session is None:
            raise ModelNotPreparedError("DlibResNetEmbedder used before prepare()")
        chips = check_chips(chips, self.template.size)
        out = np.zeros((len(chips), self.dim), dtype=np.float32)
        for part in batches(len(chips), self.batch_size):
            out[part] = self._session.run([OUTPUT_NAME], {INPUT_NAME: chips[part]})[0]
        return out

    def embed(self, chips: np.ndarray) -> Embeddings:
        raw = self.raw_descriptors(chips)
        vectors = l2_normalise(raw) if len(raw) else raw
        return Embeddings(vectors, model=self.name, version=self.version)
