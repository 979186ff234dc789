"""The detection scheduler (where the detector looks on each frame) and camera zones: pure parts first,
then the real analyser on a synthetic street (one passer-by, and an empty one) under both schedules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigil.bench.recall import passerby_matcher, recall_of, run_schedule
from vigil.pipeline.analyser import AnalysisSettings, CameraAnalyser
from vigil.pipeline.offline import CollectingSink, sample_frames
from vigil.samples import sample_images, street_scene_clip
from vigil.video.scheduler import (
    DetectionScheduler,
    PassReason,
    ScheduleMode,
    ScheduleSettings,
)
from vigil.video.windows import Window, detect_in_windows, fit_window, merge_windows, pack_windows
from vigil.video.zones import CameraZones, SearchArea, ZoneError, check_zones, parse_points, self_intersects

W, H = 640, 360


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    import cv2

    coarse = rng.integers(60, 170, (H // 40 + 1, W // 40 + 1, 3)).astype(np.uint8)
    return cv2.resize(coarse, (W, H), interpolation=cv2.INTER_CUBIC)


def _noisy(image: np.ndarray, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    return np.clip(image * gain + rng.normal(0, 3, image.shape), 0, 255).astype(np.uint8)


def test_a_still_picture_is_searched_whole_once_then_not_at_all() -> None:
    rng = np.random.default_rng(1)
    scene = _scene()
    scheduler = DetectionScheduler(ScheduleSettings(full_every_s=1.0))
    first = scheduler.plan(_noisy(scene, rng), 0.0, [])
    assert first.full and first.reason == PassReason.START
    # sensor noise and a slow brightening (auto exposure) over 10 s: nothing moved, nothing to search
    plans = [scheduler.plan(_noisy(scene, rng, 1 + 0.01 * i), 0.2 * i, []) for i in range(1, 50)]
    assert all(p.quiet for p in plans), [p for p in plans if not p.quiet][:3]
    assert scheduler.counts.full_passes == 1 and scheduler.counts.quiet_frames == 49
    assert scheduler.counts.detected_share == pytest.approx(1 / 50)


def test_something_new_moving_is_searched_in_a_region_around_it() -> None:
    rng = np.random.default_rng(2)
    scene = _scene()
    scheduler = DetectionScheduler(ScheduleSettings(full_every_s=100.0))
    scheduler.plan(_noisy(scene, rng), 0.0, [])
    moved = scene.copy()
    moved[100:180, 300:360] = 255  # someone steps in
    plan = scheduler.plan(_noisy(moved, rng), 0.2, [])
    assert not plan.full and len(plan.regions) == 1
    (x1, y1, x2, y2) = plan.regions[0].box
    assert x1 <= 300 and x2 >= 360 and y1 <= 100 and (x2 - x1) % 32 == 0 and (y2 - y1) % 32 == 0
    assert (x2 - x1) * (y2 - y1) < W * H / 3


def test_a_followed_face_is_searched_where_it_is_predicted_and_its_body_explains_its_motion() -> None:
    rng = np.random.default_rng(3)
    scene = _scene()
    scheduler = DetectionScheduler(ScheduleSettings(full_every_s=100.0))
    scheduler.plan(_noisy(scene, rng), 0.0, [])
    moved = scene.copy()
    moved[120:300, 290:350] = 30  # the body below the face moves
    face = np.array([300.0, 80.0, 340.0, 120.0])
    plan = scheduler.plan(_noisy(moved, rng), 0.2, [face])
    assert not plan.full and len(plan.regions) == 1  # the face's region only: the body is explained
    x1, y1, x2, y2 = plan.regions[0].box
    assert x1 <= 300 and y1 <= 80 and x2 >= 340 and y2 >= 120


def test_a_wholesale_change_or_the_interval_brings_a_full_pass_and_the_reference_mode_always_does() -> None:
    rng = np.random.default_rng(4)
    scene = _scene()
    scheduler = DetectionScheduler(ScheduleSettings(full_every_s=1.0))
    scheduler.plan(_noisy(scene, rng), 0.0, [])
    other = _scene(seed=9)  # the camera was turned
    assert scheduler.plan(_noisy(other, rng), 0.2, []).reason == PassReason.SCENE_CHANGE
    changed = other.copy()
    changed[10:40, 10:40] = 0  # a small change the motion map sees
    scheduler.plan(_noisy(changed, rng), 0.4, [])
    later = scheduler.plan(_noisy(changed, rng), 1.3, [])
    assert later.full and later.reason == PassReason.INTERVAL
    scheduler.reset()  # the stream reconnected
    assert scheduler.plan(_noisy(changed, rng), 1.5, []).reason == PassReason.START
    reference = DetectionScheduler(ScheduleSettings(mode=ScheduleMode.FULL))
    assert all(reference.plan(_noisy(scene, rng), t, []).full for t in (0.0, 0.2, 0.4))


def test_windows_merge_only_where_that_costs_nothing_and_fit_the_frame() -> None:
    a, b = Window((0, 0, 96, 96)), Window((8, 8, 104, 104))
    assert merge_windows([a, b], 960) == [Window((0, 0, 104, 104))]
    far = Window((90, 90, 200, 200))
    assert merge_windows([a, far], 960) == [a, far]
    assert fit_window(600, 300, 650, 350, W, H, minimum=96, multiple=32) == Window((544, 264, 640, 360))
    assert fit_window(-50, -50, 20, 20, W, H, minimum=64, multiple=32) == Window((0, 0, 96, 96))
    big = fit_window(100, 100, 300, 300, W, H, scale=0.5, minimum=64, multiple=32)  # a large followed face
    assert big.input_size == (128, 128) and big.box == (72, 72, 328, 328) and big.cost(960) == 128 * 128


def test_windows_are_packed_apart_on_one_canvas_and_searched_in_one_call(engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    sizes = [(128, 128), (96, 64), (320, 224), (64, 64), (160, 96)]
    mosaic = pack_windows(sizes, max_width=960)
    assert mosaic.width % 32 == 0 and mosaic.height % 32 == 0 and max(mosaic.width, mosaic.height) <= 960
    boxes = [(x, y, x + w, y + h) for (x, y), (w, h) in zip(mosaic.offsets, sizes, strict=True)]
    assert all(b[2] <= mosaic.width and b[3] <= mosaic.height for b in boxes)
    for i, a in enumerate(boxes):  # tiles never touch: at least the gap between them
        for b in boxes[i + 1 :]:
            assert (
                a[2] + mosaic.gap <= b[0]
                or b[2] + mosaic.gap <= a[0]
                or a[3] + mosaic.gap <= b[1]
                or b[3] + mosaic.gap <= a[1]
            )
    whole = engine.detect(astronaut)
    face = whole.xyxy[int(np.argmax(whole.widths))]
    calls: list[tuple[int, ...]] = []

    def detect(image: np.ndarray):  # type: ignore[no-untyped-def]
        calls.append(image.shape)
        return engine.detect(image)

    x1, y1, x2, y2 = (int(v) for v in face)
    around = fit_window(x1 - 60, y1 - 60, x2 + 60, y2 + 60, 512, 512, scale=0.5, minimum=64, multiple=32)
    elsewhere = Window((400, 400, 496, 496))
    found = detect_in_windows(detect, astronaut, [elsewhere, around], 960)
    assert len(calls) == 1  # both windows in one call
    best = found.xyxy[int(np.argmax(found.widths))]
    assert np.abs(best - face).max() < 0.08 * (x2 - x1)  # the face, back in frame pixels


def test_zone_rules_and_the_searched_area() -> None:
    frame = (1280, 720)
    with pytest.raises(ZoneError, match=r"\[zone-points\]"):
        check_zones(frame, [[(0, 0), (10, 10)]])
    with pytest.raises(ZoneError, match=r"\[zone-outside\]"):
        check_zones(frame, [[(0, 0), (1281, 0), (0, 700)]])
    with pytest.raises(ZoneError, match=r"\[zone-self-intersecting\]"):
        check_zones(frame, [[(0, 0), (100, 100), (100, 0), (0, 100)]])
    with pytest.raises(ZoneError, match=r"\[zone-nothing-left\]"):
        check_zones(frame, [], [[(0, 0), (1280, 0), (1280, 720), (0, 720)]])
    with pytest.raises(ZoneError, match=r"\[zone-nothing-left\]"):  # the mask covers the only zone
        check_zones(frame, [[(10, 10), (100, 10), (100, 100)]], [[(0, 0), (200, 0), (200, 200), (0, 200)]])
    with pytest.raises(ZoneError, match=r"\[zone-format\]"):
        parse_points("1,2 3")
    assert self_intersects([(0, 0), (2, 2), (2, 0), (0, 2)]) and not self_intersects([(0, 0), (2, 0), (2, 2), (0, 2)])
    zones = check_zones(
        frame, [parse_points("0,200 1280,200 1280,720 0,720")], [parse_points("900,250 1100,250 1100,450 900,450")]
    )
    assert CameraZones.from_json(zones.as_json()) == zones
    area = SearchArea(zones, (640, 360))  # drawn at 1280x720, frames come at 640x360
    boxes = np.array([[10, 10, 30, 30], [100, 150, 140, 190], [470, 150, 520, 190]], np.float32)
    assert area.admits(boxes).tolist() == [False, True, False]  # above the zone; inside; in the mask


@pytest.fixture(scope="module")
def street(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("street") / "passer.mp4"
    portrait = np.ascontiguousarray(sample_images()[0])
    return street_scene_clip(path, portrait, size=(960, 540), seconds=8.0, crossing=(1.0, 7.0), face_px=110)


def test_the_adaptive_schedule_finds_the_passer_by_and_raises_the_same_alert_as_searching_every_frame(
    engine, street: Path
) -> None:  # type: ignore[no-untyped-def]
    frames = sample_frames(street, 5.0)
    matcher = passerby_matcher(engine, frames, len(frames) // 2, 200)  # enrolled mid-crossing, face to camera
    full = run_schedule(engine, matcher, frames, ScheduleSettings(mode=ScheduleMode.FULL))
    adaptive = run_schedule(engine, matcher, frames, ScheduleSettings())
    assert full.tracks and recall_of(full, adaptive) == (len(full.tracks), len(full.tracks))
    assert full.alerts == adaptive.alerts == ["enrolled-passer-by"]
    assert adaptive.counts["quiet_frames"] > 0 and adaptive.counts["region_passes"] > 0
    assert adaptive.counts["detected_pixel_share"] < 0.5 * full.counts["detected_pixel_share"]


def test_faces_in_a_mask_or_outside_every_zone_are_never_analysed(engine, street: Path) -> None:  # type: ignore[no-untyped-def]
    frames = sample_frames(street, 5.0)
    matcher = passerby_matcher(engine, frames, len(frames) // 2, 200)
    counts = {}
    for label, zones in [
        ("none", None),
        ("mask over the path", check_zones((960, 540), [], [parse_points("0,0 960,0 960,300 0,300")])),
        ("zone below the path", check_zones((960, 540), [parse_points("0,400 960,400 960,540 0,540")])),
    ]:
        sink = CollectingSink()
        analyser = CameraAnalyser("street", engine, matcher, sink, AnalysisSettings(), zones=zones)
        for frame in frames:
            analyser.process(frame)
        analyser.finish()
        counts[label] = (analyser.counters.faces, len(sink.raised))
    assert counts["none"][0] > 5 and counts["none"][1] == 1
    assert counts["mask over the path"] == (0, 0) and counts["zone below the path"] == (0, 0)
