"""Where on a camera's picture faces are looked for: detection zones and masks (polygons in frame pixels).

A camera may have zones (faces are looked for only inside them) and masks (never inside them: a
billboard, a television screen, a private doorway). No zone means the whole frame. A face belongs to
the picture's searched area when its box's centre is inside some zone (if there are zones) and inside
no mask.

The polygons are drawn on a frame of a known size (``frame``: width, height) and scaled to the size of
the frames that arrive, so a camera sending a different resolution keeps the same areas.

Pure geometry: :func:`check_zones` validates (every rule named, nothing kept when one fails), and
:class:`SearchArea` answers "may a face here be looked at?" for a frame size. Nothing is written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from vigil.errors import RuleError

Point = tuple[float, float]
Polygon = tuple[Point, ...]

MAX_POLYGONS = 32
MAX_POINTS = 64


class ZoneError(RuleError):
    """A zone or mask broke a rule (``rule`` names it); nothing was changed."""


@dataclass(frozen=True)
class CameraZones:
    """A camera's zones and masks, in the pixels of a ``frame`` of (width, height)."""

    frame: tuple[int, int]
    zones: tuple[Polygon, ...] = ()
    masks: tuple[Polygon, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.zones and not self.masks

    def as_json(self) -> dict[str, object]:
        return {
            "frame": list(self.frame),
            "zones": [[list(p) for p in polygon] for polygon in self.zones],
            "masks": [[list(p) for p in polygon] for polygon in self.masks],
        }

    @classmethod
    def from_json(cls, data: object) -> CameraZones:
        """Read and validate a stored or submitted ``{"frame": [w, h], "zones": [...], "masks": [...]}``."""
        if not isinstance(data, dict):
            raise ZoneError("zone-format", "expected an object with frame, zones and masks")
        frame = data.get("frame")
        if not (isinstance(frame, list | tuple) and len(frame) == 2):
            raise ZoneError("zone-frame", "frame must be [width, height] of the picture the polygons were drawn on")
        try:
            width, height = (int(v) for v in frame)
        except (TypeError, ValueError):
            raise ZoneError("zone-frame", "frame must be [width, height] in whole pixels") from None
        return check_zones(
            (width, height), _polygons(data.get("zones", []), "zone"), _polygons(data.get("masks", []), "mask")
        )


def _polygons(raw: object, kind: str) -> list[list[Point]]:
    if not isinstance(raw, list):
        raise ZoneError("zone-format", f"{kind}s must be a list of polygons")
    polygons = []
    for number, polygon in enumerate(raw, 1):
        if not isinstance(polygon, list):
            raise ZoneError("zone-format", f"{kind} {number} must be a list of [x, y] points")
        points = []
        for point in polygon:
            if not (isinstance(point, list | tuple) and len(point) == 2):
                raise ZoneError("zone-format", f"{kind} {number}: every point must be [x, y]")
            try:
                points.append((float(point[0]), float(point[1])))
            except (TypeError, ValueError):
                raise ZoneError("zone-format", f"{kind} {number}: coordinates must be numbers") from None
        polygons.append(points)
    return polygons


def parse_points(text: str) -> list[Point]:
    """``"x,y x,y x,y"`` (spaces or semicolons between points) as points, for the command line."""
    points = []
    for item in text.replace(";", " ").split():
        parts = item.split(",")
        if len(parts) != 2:
            raise ZoneError("zone-format", f"{item!r}: write each point as x,y")
        try:
            points.append((float(parts[0]), float(parts[1])))
        except ValueError:
            raise ZoneError("zone-format", f"{item!r}: coordinates must be numbers") from None
    return points


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _segments_cross(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """Do segments p1p2 and q1q2 share a point (touching or collinear overlap included)?"""
    d1, d2 = _cross(q1, q2, p1), _cross(q1, q2, p2)
    d3, d4 = _cross(p1, p2, q1), _cross(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True

    def on(a: Point, b: Point, c: Point, d: float) -> bool:
        return d == 0 and min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    return on(q1, q2, p1, d1) or on(q1, q2, p2, d2) or on(p1, p2, q1, d3) or on(p1, p2, q2, d4)


def self_intersects(points: Sequence[Point]) -> bool:
    """Does the closed polygon cross or touch itself anywhere but at neighbouring edges' shared corner?"""
    n = len(points)
    edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 or (i == 0 and j == n - 1):  # neighbours share a corner
                continue
            if _segments_cross(*edges[i], *edges[j]):
                return True
    return False


def polygon_area(points: Sequence[Point]) -> float:
    return abs(sum(_cross((0.0, 0.0), points[i], points[(i + 1) % len(points)]) for i in range(len(points)))) / 2


def check_polygon(points: Sequence[Point], frame: tuple[int, int], kind: str, number: int) -> Polygon:
    width, height = frame
    label = f"{kind} {number}"
    if len(points) < 3:
        raise ZoneError("zone-points", f"{label} has {len(points)} point(s); a polygon needs at least three")
    if len(points) > MAX_POINTS:
        raise ZoneError("zone-points", f"{label} has {len(points)} points; at most {MAX_POINTS}")
    for x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ZoneError("zone-outside", f"{label}: ({x}, {y}) is not a point")
        if not (0 <= x <= width and 0 <= y <= height):
            raise ZoneError("zone-outside", f"{label}: ({x:g}, {y:g}) is outside the {width}x{height} frame")
    if len(set(points)) != len(points):
        raise ZoneError("zone-self-intersecting", f"{label} visits the same point twice")
    if self_intersects(points):
        raise ZoneError("zone-self-intersecting", f"{label} crosses itself; draw its outline in order")
    if polygon_area(points) < 1.0:
        raise ZoneError("zone-points", f"{label} encloses no area (its points lie on a line)")
    return tuple((float(x), float(y)) for x, y in points)


def check_zones(
    frame: tuple[int, int], zones: Sequence[Sequence[Point]] = (), masks: Sequence[Sequence[Point]] = ()
) -> CameraZones:
    """Validated zones and masks for frames of ``frame`` (width, height), or a :class:`ZoneError`."""
    width, height = frame
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise ZoneError("zone-frame", f"frame size {width}x{height} is not a camera picture")
    if len(zones) + len(masks) > MAX_POLYGONS:
        raise ZoneError("zone-points", f"at most {MAX_POLYGONS} zones and masks in all")
    result = CameraZones(
        (width, height),
        tuple(check_polygon(p, frame, "zone", i) for i, p in enumerate(zones, 1)),
        tuple(check_polygon(p, frame, "mask", i) for i, p in enumerate(masks, 1)),
    )
    if not SearchArea(result, (width, height)).searched_fraction:
        raise ZoneError(
            "zone-nothing-left", "the masks cover every zone (or the whole frame): no face would ever be looked for"
        )
    return result


@dataclass
class SearchArea:
    """A camera's zones rasterised for frames of ``size`` (width, height): which pixels are searched."""

    zones: CameraZones
    size: tuple[int, int]
    allowed: np.ndarray = field(init=False)  # (H, W) bool: True where faces are looked for

    def __post_init__(self) -> None:
        width, height = self.size
        fx, fy = width / self.zones.frame[0], height / self.zones.frame[1]

        def fill(mask: np.ndarray, polygons: tuple[Polygon, ...], value: int) -> None:
            for polygon in polygons:
                points = np.array([[round(x * fx), round(y * fy)] for x, y in polygon], np.int32)
                cv2.fillPoly(mask, [points], value)

        allowed = np.zeros((height, width), np.uint8)
        if self.zones.zones:
            fill(allowed, self.zones.zones, 1)
        else:
            allowed[:] = 1
        fill(allowed, self.zones.masks, 0)
        self.allowed = allowed.astype(bool)

    @property
    def searched_fraction(self) -> float:
        return float(self.allowed.mean())

    def admits(self, boxes: np.ndarray) -> np.ndarray:
        """(n,) bool: whose box centre ((n, 4) xyxy in frame pixels) lies in the searched area."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        height, width = self.allowed.shape
        cx = np.clip(((boxes[:, 0] + boxes[:, 2]) / 2).astype(int), 0, width - 1)
        cy = np.clip(((boxes[:, 1] + boxes[:, 3]) / 2).astype(int), 0, height - 1)
        return self.allowed[cy, cx]

    def shrunk(self, shape: tuple[int, int]) -> np.ndarray:
        """The searched area at another (height, width), e.g. the motion map's: True where any of it is."""
        small = cv2.resize(self.allowed.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
        return small > 0
