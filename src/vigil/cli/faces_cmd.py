"""``vigil detect``: faces, landmarks and quality of one image, as JSON (no embeddings, no crops)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import settings_from
from vigil.vision.catalogue import create_detector
from vigil.vision.image import load_image
from vigil.vision.quality import assess_quality


def detect(
    ctx: typer.Context,
    image: Annotated[Path, typer.Argument(help="Image file to analyse.")],
    detector: Annotated[str | None, typer.Option(help="Detector backend (see `vigil models list`).")] = None,
) -> None:
    """Print each face's box, landmarks, detector score and quality as JSON."""
    settings = settings_from(ctx)
    backend = create_detector(detector or settings.detector, settings)
    backend.prepare()
    pixels = load_image(image, max_pixels=settings.max_image_pixels)
    faces = backend.detect(pixels)
    quality = assess_quality(pixels, faces)
    out = {
        "image": str(image),
        "width": pixels.shape[1],
        "height": pixels.shape[0],
        "detector": backend.name,
        "faces": [
            {
                "box_xyxy": [round(float(v), 1) for v in faces.xyxy[i]],
                "landmarks": [[round(float(x), 1), round(float(y), 1)] for x, y in faces.kps[i]],
                "detector_score": round(float(faces.score[i]), 4),
                "inter_eye_px": round(float(quality.inter_eye_px[i]), 1),
                "sharpness": round(float(quality.sharpness[i]), 1),
                "yaw": round(float(quality.yaw[i]), 3),
                "quality": round(float(quality.score[i]), 4),
            }
            for i in range(len(faces))
        ],
    }
    typer.echo(json.dumps(out, indent=2))
