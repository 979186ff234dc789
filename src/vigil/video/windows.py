"""Windows: the parts of a frame the detector searches when it does not search the whole frame, and how
a frame's windows are searched together in one detector call.

A :class:`Window` is a box in frame pixels and a scale (a large face needs no more pixels than a full
pass gives it). Windows are fitted to the detector's stride, merged where that costs nothing, packed
side by side on one canvas (:func:`pack_windows`) and searched in one call (:func:`detect_in_windows`),
whose detections are mapped back to the frame. Pure geometry, and one call of the detector given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from vigil.vision.detectors.base import fit_within, non_max_suppression
from vigil.vision.types import FaceDetections

Region = tuple[int, int, int, int]  # left, top, right, bottom in frame pixels


@dataclass(frozen=True, order=True)
class Window:
    """A part of the frame the detector searches: ``box`` (frame pixels), shrunk by ``scale`` first (a
    large followed face needs no more pixels than a full pass gives it; distant faces keep theirs)."""

    box: Region
    scale: float = 1.0

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the crop as the detector is given it."""
        x1, y1, x2, y2 = self.box
        return max(1, round((x2 - x1) * self.scale)), max(1, round((y2 - y1) * self.scale))

    def cost(self, max_side: int) -> int:
        """Pixels the detector runs on for this window (its input, padded to the stride)."""
        width, height = self.input_size
        if max(width, height) > max_side:
            width, height = fit_within(width, height, max_side, multiple=32)
        return (-(-width // 32) * 32) * (-(-height // 32) * 32)


def _overlap(a: Region, b: Region) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def merge_windows(windows: list[Window], max_side: int) -> list[Window]:
    """Overlapping windows merged into their bounding box (at the finer of their scales) where that
    costs the detector no more than searching both; others are kept apart (they may overlap: the
    detections are merged)."""
    merged = list(windows)
    changed = True
    while changed:
        changed = False
        out: list[Window] = []
        for window in merged:
            for i, other in enumerate(out):
                if not _overlap(window.box, other.box):
                    continue
                a, b = window.box, other.box
                union = Window(
                    (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])), max(window.scale, other.scale)
                )
                if union.cost(max_side) <= window.cost(max_side) + other.cost(max_side):
                    out[i] = union
                    changed = True
                    break
            else:
                out.append(window)
        merged = out
    return sorted(merged)


def fit_window(
    left: float,
    top: float,
    right: float,
    bottom: float,
    width: int,
    height: int,
    *,
    scale: float = 1.0,
    minimum: int,
    multiple: int,
) -> Window:
    """A window over the box, grown so that the detector's input is at least ``minimum`` and a
    ``multiple`` on each side, kept inside the frame (moved inward at an edge rather than cut)."""

    def span(lo: float, hi: float, limit: int) -> tuple[int, int]:
        wanted = max((hi - lo) * scale, float(minimum))
        size = min(round(int(np.ceil(wanted / multiple)) * multiple / scale), limit)
        start = round((lo + hi) / 2 - size / 2)
        start = min(max(start, 0), limit - size)
        return start, start + size

    x1, x2 = span(left, right, width)
    y1, y2 = span(top, bottom, height)
    return Window((x1, y1, x2, y2), scale)


@dataclass(frozen=True)
class Mosaic:
    """Where each window's crop goes on one canvas, so that all of a frame's windows are searched in a
    single detector call (each call has a fixed cost of its own). Tiles are ``gap`` pixels apart."""

    width: int
    height: int
    offsets: tuple[tuple[int, int], ...]  # top-left corner of each window's tile, in the windows' order
    gap: int

    def tile_of(self, x: float, y: float, sizes: list[tuple[int, int]]) -> int | None:
        """The tile holding the canvas point (x, y), or None if it falls in a gap."""
        for index, ((left, top), (w, h)) in enumerate(zip(self.offsets, sizes, strict=True)):
            if left <= x < left + w and top <= y < top + h:
                return index
        return None


def pack_windows(sizes: list[tuple[int, int]], *, max_width: int = 960, gap: int = 16, multiple: int = 32) -> Mosaic:
    """Shelf packing: tiles left to right in rows, the tallest first, at the row width (from the widest
    tile up to ``max_width``) that gives the smallest canvas no taller than ``max_width``; the canvas's
    sides are a ``multiple``."""
    order = sorted(range(len(sizes)), key=lambda i: (-sizes[i][1], -sizes[i][0]))

    def up(v: int) -> int:
        return -(-v // multiple) * multiple

    def shelve(limit: int) -> tuple[int, int, dict[int, tuple[int, int]]]:
        offsets: dict[int, tuple[int, int]] = {}
        x = y = row_height = width = 0
        for i in order:
            w, h = sizes[i]
            if x and x + w > limit:
                x, y, row_height = 0, y + row_height + gap, 0
            offsets[i] = (x, y)
            x += w + gap
            row_height = max(row_height, h)
            width = max(width, x - gap)
        return up(width), up(y + row_height), offsets

    widest = max((w for w, _ in sizes), default=multiple)
    limits = range(up(widest), max(up(widest), max_width) + 1, multiple)
    packings = [shelve(limit) for limit in limits]
    fitting = [p for p in packings if p[1] <= max_width] or packings[-1:]  # never taller than the detector's side
    width, height, offsets = min(fitting, key=lambda p: (p[0] * p[1], p[1]))
    return Mosaic(width, height, tuple(offsets[i] for i in range(len(sizes))), gap)


def detect_in_windows(
    detect: Callable[[np.ndarray], FaceDetections], image: np.ndarray, windows: list[Window], max_side: int
) -> FaceDetections:
    """Every window's faces, in frame pixels, from one ``detect`` call over a mosaic of their crops (one
    call per window if a single canvas would be larger than the detector's ``max_side``)."""
    if not windows:
        return FaceDetections.empty()
    crops = []
    for window in windows:
        x1, y1, x2, y2 = window.box
        crop = image[y1:y2, x1:x2]
        if window.scale < 1.0:
            crop = cv2.resize(crop, window.input_size, interpolation=cv2.INTER_AREA)
        crops.append(crop)
    sizes = [(c.shape[1], c.shape[0]) for c in crops]
    mosaic = pack_windows(sizes, max_width=max_side)
    if len(windows) > 1 and max(mosaic.width, mosaic.height) > max_side:  # it would be shrunk: one call each
        return FaceDetections.concat([detect_in_windows(detect, image, [w], max_side) for w in windows])
    canvas = np.zeros((mosaic.height, mosaic.width, 3), np.uint8)
    for crop, (left, top) in zip(crops, mosaic.offsets, strict=True):
        canvas[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    found = detect(canvas)
    centres_x = (found.xyxy[:, 0] + found.xyxy[:, 2]) / 2
    centres_y = (found.xyxy[:, 1] + found.xyxy[:, 3]) / 2
    tiles = [mosaic.tile_of(x, y, sizes) for x, y in zip(centres_x, centres_y, strict=True)]
    parts = []
    for index, window in enumerate(windows):
        mine = [i for i, tile in enumerate(tiles) if tile == index]
        if not mine:
            continue
        left, top = mosaic.offsets[index]
        x1, y1, x2, y2 = window.box
        width, height = sizes[index]
        parts.append(found[mine].shifted(-left, -top).scaled((x2 - x1) / width, (y2 - y1) / height).shifted(x1, y1))
    faces = FaceDetections.concat(parts)
    if len(windows) > 1 and len(faces) > 1:  # windows may overlap: one face, found twice
        faces = faces[non_max_suppression(faces.xyxy, faces.score, 0.3)]
    return faces
