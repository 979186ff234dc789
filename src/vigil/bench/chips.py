"""Face chips for benchmarks, made by dlib's own alignment so every engine sees identical pixels."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vigil.errors import ImageError, VigilError
from vigil.samples import sample_images
from vigil.vision.align import DLIB_150, align_faces
from vigil.vision.detectors.base import Detector
from vigil.vision.image import load_image


def collect_chips(detector: Detector, count: int, images_dir: Path | None = None) -> np.ndarray:
    """``count`` 150x150 dlib-style chips, from ``images_dir`` (recursively) or the sample portraits
    (with mirrored and shifted variants when there are too few faces)."""
    chips: list[np.ndarray] = []
    if images_dir is not None:
        for path in sorted(images_dir.rglob("*.jpg")):
            try:
                image = load_image(path)
            except ImageError:
                continue
            faces = detector.detect(image)
            if len(faces):
                chips.append(align_faces(image, faces.kps[:1], DLIB_150)[0])
            if len(chips) >= count:
                break
    else:
        for image in sample_images():
            for variant in (image, np.ascontiguousarray(image[:, ::-1])):
                faces = detector.detect(variant)
                for shift in range(8):
                    kps = faces.kps + np.float32(shift * 0.7)
                    chips.extend(align_faces(variant, kps, DLIB_150))
    if not chips:
        raise VigilError("no face found to benchmark with")
    while len(chips) < count:
        chips.extend(chips[: count - len(chips)])
    return np.stack(chips[:count])
