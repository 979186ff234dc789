"""Prove a converted model equivalent to the original: the same aligned LFW face chips through
TensorFlow.js itself (Node, CPU backend; run_tfjs.js) and through the ONNX file in ONNX Runtime.
Prints the lowest cosine and the largest absolute difference. Run with Vigil's virtualenv."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from vigil.settings import VigilSettings
from vigil.vision.align import ARCFACE_112, ChipTemplate, align_faces
from vigil.vision.engine import FaceEngine
from vigil.vision.image import load_image


def main(model_json: str, onnx_file: str, size: int, scale: float, shift: float, output: str, lfw: str) -> None:
    engine = FaceEngine.from_settings(VigilSettings()).prepare()
    template = ARCFACE_112 if size == 112 else ChipTemplate("s", size, ARCFACE_112.points * size / 112)
    images = sorted(Path(lfw, "images").glob("A*/*_0001.jpg"))[:32]
    chips = np.stack([align_faces(im, engine.detect(im).kps[:1], template)[0] for im in map(load_image, images)])
    vigil_scaled = (chips.astype(np.float32) - 127.5) / 127.5
    with tempfile.TemporaryDirectory() as tmp:
        (vigil_scaled * scale + shift).astype(np.float32).tofile(f"{tmp}/chips.bin")
        here = Path(__file__).parent
        subprocess.run(
            [
                "node",
                str(here / "run_tfjs.js"),
                model_json,
                f"{tmp}/chips.bin",
                str(len(chips)),
                str(size),
                output,
                f"{tmp}/out.bin",
            ],
            check=True,
        )
        reference = np.fromfile(f"{tmp}/out.bin", np.float32).reshape(len(chips), -1)
    session = ort.InferenceSession(onnx_file, providers=["CPUExecutionProvider"])
    ours = session.run(None, {"chips": vigil_scaled.transpose(0, 3, 1, 2).copy()})[0].reshape(len(chips), -1)
    cos = (reference * ours).sum(1) / np.linalg.norm(reference, axis=1) / np.linalg.norm(ours, axis=1)
    print(
        f"{Path(model_json).stem}: {len(chips)} LFW faces, cosine min {cos.min():.6f}, "
        f"max abs diff {np.abs(reference - ours).max():.2e}"
    )


if __name__ == "__main__":
    a = sys.argv[1:]
    main(a[0], a[1], int(a[2]), float(a[3]), float(a[4]), a[5], a[6])
