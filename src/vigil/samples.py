"""Sample pictures and clips that need no download: public-domain portraits shipped inside PyPI
packages (scikit-image, matplotlib), and a synthetic walk-by clip made from one. Used by the demos,
the benchmarks and the tests; no product path depends on them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from vigil.vision.image import load_image


def sample_images() -> list[np.ndarray]:
    """Public-domain portraits that ship inside PyPI packages (scikit-image, matplotlib)."""
    import matplotlib.cbook
    import skimage.data

    images = [skimage.data.astronaut()]
    hopper = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    images.append(load_image(Path(str(hopper))))
    return images


def portrait_clip(
    portrait: np.ndarray,
    path: Path,
    *,
    seconds: float = 8.0,
    fps: int = 25,
    seed: int = 0,
    size: tuple[int, int] = (960, 540),
) -> Path:
    """A clip (960×540 unless ``size`` says otherwise) of ``portrait`` walking across a plain background
    (for offline demos and tests); the face is a little over half the clip's height."""
    import cv2

    rng = np.random.default_rng(seed)
    width, height = size
    scale = height / 540
    background = np.full((height, width, 3), 40, np.uint8) + rng.integers(0, 12, (height, width, 3), dtype=np.uint8)
    frames = int(seconds * fps)

    def pictures() -> Iterator[np.ndarray]:
        for i in range(frames):
            t = i / max(frames - 1, 1)
            side = int(scale * (300 + 60 * np.sin(np.pi * t)))
            face = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
            x = int(40 * scale + t * (width - side - 80 * scale))
            y = (height - side) // 2
            canvas = background.copy()
            canvas[y : y + side, x : x + side] = face
            yield canvas

    return write_h264(path, pictures(), size, fps)


def write_h264(path: Path, pictures: Iterable[np.ndarray], size: tuple[int, int], fps: int) -> Path:
    """``pictures`` (RGB, ``size``) as an H.264 clip at ``fps`` (x264's veryfast preset)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"preset": "veryfast"}
        for picture in pictures:
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def street_scene_clip(
    path: Path,
    portrait: np.ndarray | None = None,
    *,
    seconds: float = 12.0,
    fps: int = 25,
    size: tuple[int, int] = (1280, 720),
    crossing: tuple[float, float] = (2.0, 10.0),
    face_px: int = 120,
    seed: int = 0,
) -> Path:
    """A fixed camera's quiet scene (H.264, ``size``): a still textured background with sensor noise in
    every frame and slow lighting change (±8 % over the clip). With ``portrait``, one person (the
    portrait, ``face_px`` wide, with a body below it) crosses the frame between ``crossing`` seconds;
    without, nobody is ever in it (the *empty* scene of the capacity benchmark)."""
    import cv2

    rng = np.random.default_rng(seed)
    width, height = size
    coarse = rng.integers(60, 170, (height // 40 + 1, width // 40 + 1, 1)).astype(np.uint8)
    coarse = np.clip(coarse + rng.integers(-12, 12, (*coarse.shape[:2], 3)), 0, 255).astype(np.uint8)
    background = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    background[int(height * 0.7) :] *= 0.6  # a pavement
    figure = None
    if portrait is not None:  # the head (the portrait's middle) on shoulders and a body
        h, w = portrait.shape[:2]
        side = min(h, w) // 2
        head = portrait[
            h // 2 - side // 2 - side // 8 : h // 2 + side // 2 - side // 8, w // 2 - side // 2 : w // 2 + side // 2
        ]
        head = cv2.resize(head, (face_px, face_px), interpolation=cv2.INTER_AREA)
        body = int(face_px * 1.2)
        figure = np.zeros((int(face_px * 3.5), body, 3), np.uint8)
        figure[face_px:] = (40, 50, 90)
        figure[:face_px, (body - face_px) // 2 : (body - face_px) // 2 + face_px] = head
    frames = int(seconds * fps)

    def pictures() -> Iterator[np.ndarray]:
        for i in range(frames):
            t = i / fps
            light = 1.0 + 0.08 * np.sin(2 * np.pi * t / seconds)
            canvas = background * light + rng.normal(0.0, 3.0, background.shape).astype(np.float32)
            if figure is not None and crossing[0] <= t < crossing[1]:
                progress = (t - crossing[0]) / (crossing[1] - crossing[0])
                x = int(-figure.shape[1] + progress * (width + figure.shape[1]))
                y = int(height * 0.15)
                left, right = max(0, x), min(width, x + figure.shape[1])
                bottom = min(height, y + figure.shape[0])
                if right > left:
                    part = figure[: bottom - y, left - x : right - x]
                    shown = part.any(axis=2)
                    canvas[y:bottom, left:right][shown] = part[shown] * light
            yield np.clip(canvas, 0, 255).astype(np.uint8)

    return write_h264(path, pictures(), size, fps)
