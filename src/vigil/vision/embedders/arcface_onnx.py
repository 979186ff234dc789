"""Any ArcFace-style ONNX embedder: square RGB chips (112x112 usually; the ArcFace template scaled for
other sizes) scaled to (x - 127.5) / 127.5, NCHW input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vigil.errors import ModelLoadError, ModelNotPreparedError
from vigil.vision.align import ARCFACE_112, ChipTemplate
from vigil.vision.embedders.base import batches, check_chips
from vigil.vision.onnx_utils import file_sha256, input_dims, load_onnx, make_session, output_dims, set_dims
from vigil.vision.types import Embeddings, l2_normalise


class ArcFaceOnnxEmbedder:
    """Embeds with a user-supplied ArcFace-style ONNX file (e.g. MobileFaceNet)."""

    template = ARCFACE_112

    def __init__(self, model_path: Path, *, name: str, threads: int = 0, batch_size: int = 32) -> None:
        self.model_path = model_path
        self.name = name
        self.threads = threads
        self.batch_size = batch_size
        self._session: Any = None
        self._input = ""
        self._version = ""
        self.dim = 0

    @property
    def version(self) -> str:
        return self._version or "unprepared"

    def prepare(self) -> None:
        model = load_onnx(self.model_path, "an ArcFace-style embedder")
        inputs = input_dims(model)
        outputs = output_dims(model)
        if len(inputs) != 1 or len(outputs) < 1:
            raise ModelLoadError(f"{self.model_path}: expected one image input and an embedding output")
        ((self._input, dims),) = inputs.items()
        if len(dims) != 4 or dims[1] != 3 or not isinstance(dims[2], int) or dims[2] != dims[3] or dims[2] < 64:
            raise ModelLoadError(
                f"{self.model_path}: expected input shape (N, 3, S, S) for an ArcFace-style model, found {dims}"
            )
        size = int(dims[2])
        if size != ARCFACE_112.size:
            self.template = ChipTemplate(
                name=f"arcface-{size}", size=size, points=ARCFACE_112.points * (size / ARCFACE_112.size)
            )
        out_name, out_dims = next(iter(outputs.items()))
        if len(out_dims) != 2 or not isinstance(out_dims[1], int) or out_dims[1] < 16:
            raise ModelLoadError(f"{self.model_path}: expected an (N, D) embedding output, found {out_dims}")
        self.dim = int(out_dims[1])
        if dims[0] != "N":
            model = set_dims(model, {self._input: ["N", 3, size, size], out_name: ["N", self.dim]})
        session = make_session(model, self.threads)
        try:  # a graph that hard-codes its batch size cannot run batched: fall back to one chip per call
            probe = session.run(None, {self._input: np.zeros((2, 3, size, size), np.float32)})[0]
            batched = probe.shape == (2, self.dim)
        except Exception:
            batched = False
        if not batched:
            self.batch_size = 1
            session = make_session(load_onnx(self.model_path, "an ArcFace-style embedder"), self.threads)
        self._session = session
        self._version = file_sha256(self.model_path)[:12]

    def embed(self, chips: np.ndarray) -> Embeddings:
        if self._session is None:
            raise ModelNotPreparedError(f"{self.name} embedder used before prepare()")
        chips = check_chips(chips, self.template.size)
        out = np.zeros((len(chips), self.dim), dtype=np.float32)
        for part in batches(len(chips), self.batch_size):
            blob = (chips[part].astype(np.float32) - 127.5) / 127.5
            out[part] = self._session.run(None, {self._input: blob.transpose(0, 3, 1, 2).copy()})[0]
        return Embeddings(l2_normalise(out) if len(out) else out, model=self.name, version=self.version)
