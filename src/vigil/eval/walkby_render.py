"""Synthetic CCTV walk-by clips: one person's photo crossing a street scene as a camera would see it.

A proxy for real video with the right shape (docs/evaluation.md): the face in the clip comes from a
*different* photo than the one enrolled, it is small and moving, and it goes through what a camera does
to it. Per clip, drawn from a seeded generator:

* the head (an elliptical, feathered cut-out around the detected face) crosses a synthetic background
  (sky, buildings, windows, pavement; no faces) from one side to the other with a little vertical drift;
* its size moves linearly through CCTV range, from ``12–20`` to ``40–60`` px between the eyes
  (walking towards the camera, or away from it);
* motion blur along the direction of travel (half-open shutter), sensor noise (Gaussian, σ 2–6 grey
  levels), a lighting change over the clip (gain 0.6–1.3, both ends drawn);
* H.264 (libx264, yuv420p) at a camera-like 1–2 Mbit/s for 1280×720, 25 frames/s, 2–3 s.

Everything here is pure: numbers and pixels in, pixels (or an MP4 file) out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

WIDTH, HEIGHT, FPS = 1280, 720, 25
IOD_SMALL = (12.0, 20.0)
IOD_LARGE = (40.0, 60.0)


@dataclass(frozen=True)
class WalkbyScene:
    """How one clip is rendered (all drawn by :func:`draw_scene`)."""

    seconds: float
    iod_start: float  # px between the eyes in the first frame
    iod_end: float  # ... and in the last
    x_start: float  # face centre, fraction of the width
    x_end: float
    y_start: float  # fraction of the height
    y_end: float
    gain_start: float
    gain_end: float
    noise_sigma: float
    bitrate: int  # bit/s
    seed: int


def draw_scene(rng: np.random.Generator) -> WalkbyScene:
    towards = bool(rng.random() < 0.5)
    small, large = rng.uniform(*IOD_SMALL), rng.uniform(*IOD_LARGE)
    left_to_right = bool(rng.random() < 0.5)
    x0, x1 = rng.uniform(0.12, 0.3), rng.uniform(0.7, 0.88)
    y0, y1 = rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.6)
    return WalkbyScene(
        seconds=float(rng.uniform(2.0, 3.0)),
        iod_start=small if towards else large,
        iod_end=large if towards else small,
        x_start=x0 if left_to_right else x1,
        x_end=x1 if left_to_right else x0,
        y_start=y0,
        y_end=y1,
        gain_start=float(rng.uniform(0.6, 1.3)),
        gain_end=float(rng.uniform(0.6, 1.3)),
        noise_sigma=float(rng.uniform(2.0, 6.0)),
        bitrate=int(rng.uniform(1.0e6, 2.0e6)),
        seed=int(rng.integers(0, 2**31 - 1)),
    )


def street_background(rng: np.random.Generator, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A faceless street-like scene: sky gradient, buildings with windows, pavement. (H, W, 3) uint8 RGB."""
    image = np.zeros((height, width, 3), np.float32)
    sky = np.linspace(0, 1, height)[:, None, None]
    top, bottom = rng.uniform(150, 220, 3), rng.uniform(90, 160, 3)
    image[:] = top * (1 - sky) + bottom * sky
    horizon = int(height * rng.uniform(0.55, 0.7))
    x = 0
    while x < width:
        w = int(rng.uniform(80, 260))
        roof = int(rng.uniform(0.05, 0.45) * height)
        colour = rng.uniform(60, 190, 3)
        cv2.rectangle(image, (x, roof), (x + w, horizon), colour.tolist(), -1)
        for wy in range(roof + 15, horizon - 20, int(rng.uniform(30, 55))):
            for wx in range(x + 10, x + w - 20, int(rng.uniform(25, 45))):
                shade = (colour * rng.uniform(0.3, 0.7)).tolist()
                cv2.rectangle(image, (wx, wy), (wx + 12, wy + 18), shade, -1)
        x += w + int(rng.uniform(0, 30))
    image[horizon:] = rng.uniform(70, 130, 3)
    texture = cv2.GaussianBlur(rng.normal(0, 12, (height, width)).astype(np.float32), (0, 0), 1.5)
    image += texture[:, :, None]
    return np.clip(image, 0, 255).astype(np.uint8)


def head_cutout(
    portrait: np.ndarray, box: np.ndarray, *, margin: float = 1.9
) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    """The head around ``box`` (x1, y1, x2, y2): an RGB patch, a feathered elliptical alpha in [0, 1] and
    the face's centre in patch coordinates."""
    x1, y1, x2, y2 = (float(v) for v in box)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = max(x2 - x1, y2 - y1) * margin / 2
    H, W = portrait.shape[:2]
    left, top = max(0, int(cx - half)), max(0, int(cy - half * 1.1))
    right, bottom = min(W, int(cx + half)), min(H, int(cy + half))
    patch = portrait[top:bottom, left:right]
    h, w = patch.shape[:2]
    alpha = np.zeros((h, w), np.float32)
    centre = (int(cx - left), int(cy - top - 0.05 * half))
    axes = (max(1, int(w * 0.42)), max(1, int(h * 0.48)))
    cv2.ellipse(alpha, centre, axes, 0, 0, 360, 1.0, -1)
    feathered = cv2.GaussianBlur(alpha, (0, 0), max(1.0, 0.04 * w))
    return patch, feathered, (cx - left, cy - top)


def _motion_blur(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    length = max(1, round(np.hypot(dx, dy)))
    if length <= 1:
        return image
    kernel = np.zeros((length, length), np.float32)
    angle = np.arctan2(dy, dx)
    centre = (length - 1) / 2
    for t in np.linspace(-centre, centre, length * 2):
        kernel[round(centre + t * np.sin(angle)), round(centre + t * np.cos(angle))] = 1.0
    kernel /= kernel.sum()
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REPLICATE)


def render_frames(
    portrait: np.ndarray,
    box: np.ndarray,
    portrait_iod: float,
    background: np.ndarray,
    scene: WalkbyScene,
    more_looks: Sequence[tuple[np.ndarray, np.ndarray, float]] = (),
) -> list[np.ndarray]:
    """The clip's frames before compression, (H, W, 3) uint8 RGB each. With ``more_looks`` (further
    photos of the same person: portrait, face box, inter-eye distance) the clip is cut into equal parts
    and each part shows the next photo — the pose and expression change as they do in real video."""
    rng = np.random.default_rng(scene.seed)
    looks = [(head_cutout(portrait, box), portrait_iod)]
    looks += [(head_cutout(image, face_box), iod) for image, face_box, iod in more_looks]
    H, W = background.shape[:2]
    count = max(2, round(scene.seconds * FPS))
    frames = []
    previous = None
    for i in range(count):
        t = i / (count - 1)
        (patch, alpha, (fx, fy)), look_iod = looks[min(int(t * len(looks)), len(looks) - 1)]
        iod = scene.iod_start + (scene.iod_end - scene.iod_start) * t
        scale = iod / look_iod
        cx = (scene.x_start + (scene.x_end - scene.x_start) * t) * W
        cy = (scene.y_start + (scene.y_end - scene.y_start) * t) * H
        dx, dy = (0.0, 0.0) if previous is None else (cx - previous[0], cy - previous[1])
        previous = (cx, cy)
        size = (max(2, round(patch.shape[1] * scale)), max(2, round(patch.shape[0] * scale)))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        head = cv2.resize(patch, size, interpolation=interp).astype(np.float32)
        a = cv2.resize(alpha, size, interpolation=cv2.INTER_LINEAR)
        # half-open shutter: the head moves half a frame's travel while exposed
        head = _motion_blur(head, dx * 0.5, dy * 0.5)
        a = _motion_blur(a, dx * 0.5, dy * 0.5)
        frame = background.copy()
        left, top = round(cx - fx * scale), round(cy - fy * scale)
        x0, y0 = max(0, left), max(0, top)
        x1, y1 = min(W, left + size[0]), min(H, top + size[1])
        if x1 > x0 and y1 > y0:
            sub_a = a[y0 - top : y1 - top, x0 - left : x1 - left, None]
            sub_h = head[y0 - top : y1 - top, x0 - left : x1 - left]
            under = frame[y0:y1, x0:x1].astype(np.float32)
            frame[y0:y1, x0:x1] = np.clip(under * (1 - sub_a) + sub_h * sub_a, 0, 255).astype(np.uint8)
        gain = scene.gain_start + (scene.gain_end - scene.gain_start) * t
        noise = rng.standard_normal(frame.shape, dtype=np.float32)
        lit = cv2.scaleAdd(noise, scene.noise_sigma, frame.astype(np.float32) * np.float32(gain))
        frames.append(np.clip(lit, 0, 255).astype(np.uint8))
    return frames


def encode_h264(frames: list[np.ndarray], path: Path, *, bitrate: int, fps: int = FPS) -> Path:
    """Write RGB frames as an H.264 MP4 at ``bitrate`` bit/s (one keyframe every 2 s, like many cameras)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bitrate
        stream.options = {"preset": "veryfast", "g": str(2 * fps), "bf": "0"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def cctv_still(
    portrait: np.ndarray, portrait_iod: float, rng: np.random.Generator, *, canvas: int = 320
) -> tuple[np.ndarray, float]:
    """One face as a CCTV camera would catch it, for measuring error curves: the whole portrait scaled to
    a drawn inter-eye distance (log-uniform over 12–60 px), motion-blurred, lit, noised and JPEG-compressed
    (quality 30–60, a stand-in for a video codec), centred on a grey canvas the detector can work on.
    Returns the image and the inter-eye distance drawn."""
    iod = float(np.exp(rng.uniform(np.log(IOD_SMALL[0]), np.log(IOD_LARGE[1]))))
    scale = iod / portrait_iod
    small = cv2.resize(
        portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    )
    angle, travel = rng.uniform(0, np.pi), rng.uniform(0, 0.15 * iod)
    blurred = _motion_blur(small.astype(np.float32), travel * np.cos(angle), travel * np.sin(angle))
    lit = blurred * rng.uniform(0.6, 1.3) + rng.normal(0, rng.uniform(2, 6), blurred.shape)
    ok, data = cv2.imencode(
        ".jpg", np.clip(lit, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, int(rng.uniform(30, 60))]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    face = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if face is None:
        raise RuntimeError("JPEG decoding failed")
    side = max(canvas, *face.shape[:2])
    out = np.full((side, side, 3), 118, np.uint8)
    top, left = (side - face.shape[0]) // 2, (side - face.shape[1]) // 2
    out[top : top + face.shape[0], left : left + face.shape[1]] = face
    return out, iod
