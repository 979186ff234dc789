"""Sample pictures and clips that need no download: public-domain portraits shipped inside PyPI
packages (scikit-image, matplotlib), and a synthetic walk-by clip made from one. Used by the demos,
the benchmarks and the tests; no product path depends on them."""

from __future__ import annotations

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
    import av
    import cv2

    rng = np.random.default_rng(seed)
    width, height = size
    scale = height / 540
    background = np.full((height, width, 3), 40, np.uint8) + rng.integers(0, 12, (height, width, 3), dtype=np.uint8)
    frames = int(seconds * fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast"}
        for i in range(frames):
            t = i / max(frames - 1, 1)
            side = int(scale * (300 + 60 * np.sin(np.pi * t)))
            face = cv2.resize(portrait, (side, side), interpolation=cv2.INTER_AREA)
            x = int(40 * scale + t * (width - side - 80 * scale))
            y = (height - side) // 2
            canvas = background.copy()
            canvas[y : y + side, x : x + side] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, "rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
