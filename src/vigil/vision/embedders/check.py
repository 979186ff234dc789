"""Checks a candidate ArcFace-style ONNX file before it is put into service (``vigil models add``): it
loads in ONNX Runtime, takes one (N, 3, S, S) image input, gives an (N, D) embedding, and embeds the
same aligned portrait twice with the same result."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil.errors import ModelLoadError
from vigil.vision.align import align_faces
from vigil.vision.embedders.arcface_onnx import ArcFaceOnnxEmbedder
from vigil.vision.onnx_utils import file_sha256

REPEAT_TOLERANCE = 1e-5  # largest difference between two embeddings of the same chip


@dataclass(frozen=True)
class EmbedderFileReport:
    """What was checked: the file's SHA-256, its input size (S of N x 3 x S x S) and embedding length."""

    path: Path
    sha256: str
    input_size: int
    dim: int
    repeat_difference: float


def check_embedder_file(path: Path, portrait: np.ndarray, kps: np.ndarray) -> EmbedderFileReport:
    """Load ``path`` as an ArcFace-style embedder and embed ``portrait`` (H x W x 3 uint8 RGB) twice,
    aligned on ``kps`` ((5, 2) landmarks, x then y); raises ModelLoadError naming what was expected."""
    embedder = ArcFaceOnnxEmbedder(path, name="candidate", threads=1)
    embedder.prepare()  # one (N, 3, S, S) input and an (N, D) output, or ModelLoadError
    chips = align_faces(portrait, np.asarray(kps, np.float32)[None], embedder.template)
    try:
        first = embedder.embed(chips).vectors
        second = embedder.embed(chips).vectors
    except Exception as exc:  # ONNX Runtime raises its own types when a graph cannot run
        raise ModelLoadError(f"{path}: the model loads but could not embed a portrait ({exc})") from exc
    if first.shape != (1, embedder.dim) or not np.all(np.isfinite(first)):
        raise ModelLoadError(f"{path}: expected one finite {embedder.dim}-d embedding, got {first.shape}")
    difference = float(np.abs(first - second).max())
    if difference > REPEAT_TOLERANCE:
        raise ModelLoadError(
            f"{path}: the same portrait embedded twice differs by {difference:.2e} (expected at most "
            f"{REPEAT_TOLERANCE:g}): the model is not deterministic"
        )
    return EmbedderFileReport(path, file_sha256(path), embedder.template.size, embedder.dim, difference)
