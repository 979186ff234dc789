"""Where to look for faces on each analysed frame of one camera: the whole frame, a few regions, or nowhere.

Running the detector over every pixel of every analysed frame is what limited Vigil to one or two
cameras per core, while a street camera shows nobody most of the time. The scheduler keeps a cheap
**motion map** — a small, blurred grey copy of each analysed frame compared with the previous one
(memory only, never written) — and plans each frame's detection:

* a **full pass** (the whole frame) on the first frame after the camera (re)connects, when the picture
  changes wholesale (lights switched, camera moved: more than ``scene_change_fraction`` of it changed
  at once), and every ``full_every_s`` — but only if the picture differs from the one last searched
  whole (the detector gives the same answer for the same pixels: an unchanged empty street is not
  searched again);
* otherwise **regions**: a square around each live track's predicted face box (so a followed face is
  found again, at the source resolution) and a box around every patch of motion that no followed
  person explains (someone new coming in). Overlapping regions are merged where that costs no more
  pixels; if the regions would cost
  the detector more than ``max_region_share`` of a full pass, the full pass is done instead;
* **nothing** when no track is live and nothing moved.

The choices are counted (:class:`ScheduleCounts`) and shown in camera health and ``/metrics``.
``mode = "full"`` is the reference: every analysed frame searched whole, as before the scheduler.

Pure bookkeeping on arrays: nothing leaves memory.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import cv2
import numpy as np

from vigil.video.windows import Region, Window, fit_window, merge_windows
from vigil.video.zones import CameraZones, SearchArea
from vigil.vision.detectors.base import fit_within


class ScheduleMode(enum.StrEnum):
    ADAPTIVE = "adaptive"
    FULL = "full"


class PassReason(enum.StrEnum):
    START = "start"  # first frame after the camera (re)connected
    SCENE_CHANGE = "scene-change"  # the picture changed wholesale
    INTERVAL = "interval"  # full_every_s since the last full pass, and the picture has changed since
    BUSY = "busy"  # motion everywhere (a crowd, a moving camera): every busy_full_every_s
    REGIONS_COST_MORE = "regions-cost-more"  # the followed faces' regions would cost more than a full pass
    EVERY_FRAME = "every-frame"  # mode "full"


@dataclass(frozen=True)
class ScheduleSettings:
    mode: ScheduleMode = ScheduleMode.ADAPTIVE
    full_every_s: float = 3.0  # longest time between full passes while the picture changes
    motion_width: int = 160  # width of the motion map (its height keeps the frame's aspect)
    motion_threshold: float = 12.0  # grey levels a motion-map cell must change by (after blurring)
    busy_full_every_s: float = 1.0  # the same while motion is everywhere (followed faces only in between)
    scene_change_fraction: float = 0.5  # more of the picture changed than this at once: a full pass
    track_margin: float = 0.75  # a followed face's region: its predicted box grown by this × its size per side
    track_face_px: int = 40  # a followed face larger than this is searched shrunk to this size (it needs no more)
    follow_missed_s: float = 1.0  # a track not seen for longer is no longer searched for in its own region
    min_region_px: int = 64  # regions are at least this wide and high (detector input pixels)
    region_multiple: int = 32  # region sides rounded up to this (the detector's stride: no resizing)
    max_region_share: float = 0.6  # followed faces' regions costing more than this share of a full pass: full pass
    max_motion_share: float = 0.3  # regions with motion's costing more: motion is everywhere (busy)
    detector_max_side: int = 960  # the detector's full-pass input (its long side), for the cost comparison

    def __post_init__(self) -> None:
        if self.full_every_s <= 0:
            raise ValueError("full_every_s must be positive")


@dataclass(frozen=True)
class DetectionPlan:
    """What the detector is run on for one frame: the whole frame, or ``regions`` (possibly none)."""

    full: bool
    regions: tuple[Window, ...] = ()
    reason: PassReason | None = None  # why a full pass

    @property
    def quiet(self) -> bool:
        return not self.full and not self.regions


@dataclass
class ScheduleCounts:
    """Per camera: every choice the scheduler made (counts only)."""

    full_passes: int = 0
    region_passes: int = 0  # frames searched in regions
    regions: int = 0  # regions searched in all
    quiet_frames: int = 0  # frames on which no detection was needed
    pixels_detected: int = 0  # detector input pixels run
    pixels_seen: int = 0  # detector input pixels full passes on every analysed frame would have run
    full_by_reason: dict[str, int] = field(default_factory=dict)

    def count(self, plan: DetectionPlan, full_cost: int, max_side: int) -> None:
        self.pixels_seen += full_cost
        if plan.full:
            self.full_passes += 1
            self.pixels_detected += full_cost
            reason = str(plan.reason or PassReason.EVERY_FRAME)
            self.full_by_reason[reason] = self.full_by_reason.get(reason, 0) + 1
        elif plan.regions:
            self.region_passes += 1
            self.regions += len(plan.regions)
            self.pixels_detected += sum(w.cost(max_side) for w in plan.regions)
        else:
            self.quiet_frames += 1

    @property
    def detected_share(self) -> float:
        """Share of the analysed pixels the detector saw (1.0 under the full schedule)."""
        return self.pixels_detected / self.pixels_seen if self.pixels_seen else 0.0


def body_box(face: np.ndarray, width: int, height: int) -> Region:
    """Where a followed face's person moves: the face and the body below it (for explaining motion)."""
    x1, y1, x2, y2 = (float(v) for v in face)
    size = max(x2 - x1, y2 - y1, 1.0)
    cx = (x1 + x2) / 2
    return (
        max(0, int(cx - 2.5 * size)),
        max(0, int(y1 - 0.75 * size)),
        min(width, int(cx + 2.5 * size)),
        min(height, int(y2 + 7.0 * size)),
    )


class MotionMap:
    """A small blurred grey copy of each frame, compared with the previous one and with the one last
    searched whole. Global brightness shifts (auto exposure, clouds) are taken out before comparing."""

    def __init__(self, width: int, threshold: float) -> None:
        self.width = width
        self.threshold = threshold
        self.previous: np.ndarray | None = None
        self.at_full_pass: np.ndarray | None = None

    def small(self, image: np.ndarray) -> np.ndarray:
        height = max(2, round(image.shape[0] * self.width / image.shape[1]))
        grey = cv2.cvtColor(cv2.resize(image, (self.width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        return cv2.GaussianBlur(grey, (3, 3), 0).astype(np.float32)

    def changed(self, current: np.ndarray, reference: np.ndarray) -> np.ndarray:
        """(h, w) bool: cells that changed by more than the threshold, the picture's overall brightness
        change (gain and offset, as auto exposure or a cloud makes it) taken out."""
        gain = float(np.median(current)) / max(float(np.median(reference)), 1.0)
        difference = current - gain * reference
        difference -= float(np.median(difference))
        return np.abs(difference) > self.threshold

    def reset(self) -> None:
        self.previous = None
        self.at_full_pass = None


class DetectionScheduler:
    """Plans each analysed frame's detection for one camera (see the module's description)."""

    def __init__(self, settings: ScheduleSettings | None = None, zones: CameraZones | None = None) -> None:
        self.settings = settings or ScheduleSettings()
        self.zones: CameraZones | None = None
        self.motion = MotionMap(self.settings.motion_width, self.settings.motion_threshold)
        self.counts = ScheduleCounts()
        self._last_full: float | None = None
        self._area: SearchArea | None = None
        self._small_area: np.ndarray | None = None
        self.set_zones(zones)

    def set_zones(self, zones: CameraZones | None) -> None:
        """New zones (an admin changed them): the next frame is searched whole within them."""
        self.zones = zones if zones is not None and not zones.empty else None
        self._area = None
        self._small_area = None
        self._last_full = None

    def area(self, width: int, height: int) -> SearchArea | None:
        """The zones rasterised for frames of this size (None: the whole frame is searched)."""
        if self.zones is None:
            return None
        if self._area is None or self._area.size != (width, height):
            self._area = SearchArea(self.zones, (width, height))
            self._small_area = None
        return self._area

    def reset(self) -> None:
        """The stream (re)started: the next frame is searched whole."""
        self.motion.reset()
        self._last_full = None

    def plan(self, image: np.ndarray, at: float, followed: list[np.ndarray]) -> DetectionPlan:
        """The plan for ``image`` (source time ``at`` seconds); ``followed``: the live tracks' predicted
        face boxes (xyxy, frame pixels) at ``at``."""
        height, width = image.shape[:2]
        side = self.settings.detector_max_side
        full_cost = int(np.prod(fit_within(width, height, side, multiple=32)))  # detector pixels of a full pass
        plan = self._plan(image, at, followed, width, height, full_cost)
        if plan.full:
            self._last_full = at
            self.motion.at_full_pass = self.motion.previous
        self.counts.count(plan, full_cost, side)
        return plan

    def _plan(
        self, image: np.ndarray, at: float, followed: list[np.ndarray], width: int, height: int, full_cost: int
    ) -> DetectionPlan:
        s = self.settings
        if s.mode == ScheduleMode.FULL:
            return DetectionPlan(True, reason=PassReason.EVERY_FRAME)
        small = self.motion.small(image)
        previous, self.motion.previous = self.motion.previous, small
        if previous is None or previous.shape != small.shape or self._last_full is None:
            return DetectionPlan(True, reason=PassReason.START)
        searched = self._searched_small(width, height, small.shape)
        moving = self.motion.changed(small, previous)
        if searched is not None:
            moving &= searched
        share = moving.sum() / (searched.sum() if searched is not None else moving.size)
        if share > s.scene_change_fraction:
            return DetectionPlan(True, reason=PassReason.SCENE_CHANGE)
        if at - self._last_full >= s.full_every_s and self._changed_since_full(small, searched):
            return DetectionPlan(True, reason=PassReason.INTERVAL)
        tracked = self._track_regions(followed, width, height)
        regions = self._fitted(tracked + self._motion_regions(moving, followed, width, height), width, height)
        if self._cost(regions) <= s.max_motion_share * full_cost:
            return DetectionPlan(False, tuple(regions))
        # Motion too widespread to search patch by patch (a crowd, a moving camera): follow the faces
        # already tracked, and search the whole frame every busy_full_every_s for new ones.
        if at - self._last_full >= s.busy_full_every_s:
            return DetectionPlan(True, reason=PassReason.BUSY)
        regions = self._fitted(tracked, width, height)
        if self._cost(regions) > s.max_region_share * full_cost:
            return DetectionPlan(True, reason=PassReason.REGIONS_COST_MORE)
        return DetectionPlan(False, tuple(regions))

    def _cost(self, windows: list[Window]) -> int:
        """Detector pixels the windows cost."""
        return sum(w.cost(self.settings.detector_max_side) for w in windows)

    def _searched_small(self, width: int, height: int, shape: tuple[int, ...]) -> np.ndarray | None:
        area = self.area(width, height)
        if area is None:
            return None
        if self._small_area is None or self._small_area.shape != shape[:2]:
            self._small_area = area.shrunk((shape[0], shape[1]))
        return self._small_area

    def _changed_since_full(self, small: np.ndarray, searched: np.ndarray | None) -> bool:
        reference = self.motion.at_full_pass
        if reference is None or reference.shape != small.shape:
            return True
        changed = self.motion.changed(small, reference)
        if searched is not None:
            changed &= searched
        # a lone cell is noise; two neighbouring cells are something that moved or appeared
        return bool(cv2.erode(changed.astype(np.uint8), np.ones((2, 2), np.uint8)).any())

    def _track_regions(self, followed: list[np.ndarray], width: int, height: int) -> list[Window]:
        s = self.settings
        windows = []
        for face in followed:
            x1, y1, x2, y2 = (float(v) for v in face)
            side = max(x2 - x1, y2 - y1, 1.0)
            grow = s.track_margin * side
            windows.append(
                fit_window(
                    x1 - grow,
                    y1 - grow,
                    x2 + grow,
                    y2 + grow,
                    width,
                    height,
                    scale=min(1.0, s.track_face_px / side),
                    minimum=s.min_region_px,
                    multiple=s.region_multiple,
                )
            )
        return windows

    def _motion_regions(self, moving: np.ndarray, followed: list[np.ndarray], width: int, height: int) -> list[Window]:
        """Boxes around the patches of motion that no followed person's body explains."""
        s = self.settings
        fx, fy = width / moving.shape[1], height / moving.shape[0]
        unexplained = moving.astype(np.uint8)
        for face in followed:
            bx1, by1, bx2, by2 = body_box(face, width, height)
            unexplained[int(by1 / fy) : int(np.ceil(by2 / fy)), int(bx1 / fx) : int(np.ceil(bx2 / fx))] = 0
        if not unexplained.any():
            return []
        boxes: list[Window] = []
        grown = cv2.dilate(unexplained, np.ones((3, 3), np.uint8))
        count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
        for left, top, w, h, cells in stats[1:count]:
            if cells < 2:  # a single speck of noise
                continue
            # a moving person: the head is at the top of the patch; search its top and a margin
            head = min(h, max(w, 0.4 * h))
            margin_x, margin_y = 0.25 * w * fx + 16, 0.25 * head * fy + 16
            boxes.append(
                fit_window(
                    left * fx - margin_x,
                    top * fy - margin_y,
                    (left + w) * fx + margin_x,
                    (top + head) * fy + margin_y,
                    width,
                    height,
                    minimum=s.min_region_px,
                    multiple=s.region_multiple,
                )
            )
        return boxes

    def _fitted(self, windows: list[Window], width: int, height: int) -> list[Window]:
        """Merged where that costs nothing, each side a multiple of the detector's stride."""
        s = self.settings
        merged = merge_windows(windows, s.detector_max_side)
        for _ in range(3):  # a merged window is re-fitted to the stride, which may make it touch another
            fitted = sorted(
                fit_window(*w.box, width, height, scale=w.scale, minimum=s.min_region_px, multiple=s.region_multiple)
                for w in merged
            )
            merged = merge_windows(fitted, s.detector_max_side)
            if merged == fitted:
                break
        return merged
