"""How many live cameras one core sustains: real streams (decoded at their own frame rate, looping,
started staggered over one loop of the clip), each analysed at a set rate by the live runner, for a
while, on a pinned number of cores.

A camera count is *sustained* when every camera keeps at least 95 % of the asked analysis rate. The
measurement includes everything a worker does per camera — decoding every frame of the stream, the
per-frame analysis, the gallery search — except storing alerts (the gallery is random: nobody matches).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from vigil.bench.embed import machine_description, pin_threads
from vigil.bench.live import _random_gallery
from vigil.pipeline.analyser import AnalysisSettings
from vigil.pipeline.gate import RecordedClip
from vigil.pipeline.offline import CollectingSink, GalleryMatcher
from vigil.pipeline.runtime import CameraConfig, LiveRunner
from vigil.recognition.calibration import DEFAULT_FALSE_ALERTS_PER_1000, CategoryPolicy, category_rule, shipped_curves
from vigil.recognition.decision import DecisionRule
from vigil.video.sources import parse_source
from vigil.vision.catalogue import default_threshold
from vigil.vision.engine import FaceEngine

SUSTAINED = 0.95
TRACK_RULES = ("votes", "fused", "looks")  # the landed vote rule, issue 12's fused rule, round two's looks rule


def track_rule(name: str, engine: FaceEngine, watchlist_size: int) -> DecisionRule:
    """The rule a fresh install runs (``looks``: the shipped curves' looks rule at the default policy),
    issue 12's ``fused`` rule at that threshold, or the vote rule at the provisional threshold."""
    provisional = default_threshold(engine.embedder.name)
    curves = shipped_curves(engine.embedder.name, engine.embedder.version)
    if name == "votes" or curves is None:
        return DecisionRule(provisional, 3)
    rule, _ = category_rule(curves, CategoryPolicy(DEFAULT_FALSE_ALERTS_PER_1000, 1, None), watchlist_size, provisional)
    if name == "fused":
        return DecisionRule(rule.threshold, 1, curves.model)
    if name == "looks":
        return rule
    raise ValueError(f"{name!r}: one of {', '.join(TRACK_RULES)}")


def transcode(video: Path, target: Path, height: int) -> Path:
    """``video`` scaled to ``height`` lines (H.264, same frame rate), for streams of that resolution."""
    import av
    import cv2

    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(video)) as source, av.open(str(target), "w") as out:
        stream_in = source.streams.video[0]
        rate = stream_in.average_rate or 25
        stream = out.add_stream("libx264", rate=rate)
        width = round(stream_in.codec_context.width * height / stream_in.codec_context.height / 2) * 2
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast"}
        for frame in source.decode(stream_in):
            image = np.ascontiguousarray(
                cv2.resize(frame.to_ndarray(format="rgb24"), (width, height), interpolation=cv2.INTER_AREA), np.uint8
            )
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, "rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


SCENES = ("crowd", "passer-by", "empty")


def scene_clip(scene: str, crowd_video: Path, cache: Path, height: int) -> Path:
    """The looping clip of a scene at ``height`` lines: the crowd clip transcoded; or a fixed camera's
    quiet street with sensor noise and slow light change, crossed by one person for 8 s of every 12
    (``passer-by``, from a bundled public-domain portrait) or by nobody (``empty``)."""
    if scene == "crowd":
        return transcode(crowd_video, cache / f"{crowd_video.stem}_{height}p.mp4", height)
    if scene not in SCENES:
        raise ValueError(f"unknown scene {scene!r}: one of {', '.join(SCENES)}")
    from vigil.samples import sample_images, street_scene_clip

    target = cache / f"street_{scene}_{height}p.mp4"
    if not target.exists():
        portrait = np.ascontiguousarray(sample_images()[0]) if scene == "passer-by" else None
        street_scene_clip(target, portrait, size=(round(height * 16 / 9 / 2) * 2, height))
    return target


def clip_seconds(video: Path) -> float:
    import av

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        return float(container.duration or 0) / 1e6


def bench_cameras(
    settings: Any,
    video: Path,
    *,
    counts: list[int],
    fps: float = 5.0,
    cores: int = 1,
    seconds: float = 30.0,
    warmup_s: float = 5.0,
    schedules: tuple[str, ...] = ("adaptive", "full"),
    rules: tuple[str, ...] = ("votes",),
) -> dict[str, Any]:
    """Today's keys for the first of ``schedules`` (and of ``rules``) at the top; every schedule's and
    rule's under ``schedules``. ``rules``: the track rules to run (``TRACK_RULES``), each on the same
    clip in the same process, so that what a rule costs is compared with the others under one load."""
    used = pin_threads(cores)
    # as a worker runs: one thread per model call, as many calls at once as cores (VIGIL_THREADS=1)
    settings = settings.model_copy(update={"threads": 1})
    engine = FaceEngine.from_settings(settings).prepare()
    gallery = _random_gallery(engine.embedder.dim, 1000)
    results = []
    for rule_name in rules:
        matcher = GalleryMatcher(gallery, track_rule(rule_name, engine, len(gallery)))
        for schedule in schedules:
            analysis = AnalysisSettings.from_settings(settings.model_copy(update={"detect_schedule": schedule}))
            runs = _runs(engine, matcher, video, counts, fps, seconds, warmup_s, analysis)
            best = max((r["cameras"] for r in runs if r["sustained"]), default=0)
            results.append(
                {
                    "schedule": schedule,
                    "rule": rule_name,
                    "runs": runs,
                    "cameras_sustained": best,
                    "cameras_per_core": round(best / len(used), 2),
                }
            )
    first = results[0]
    return {
        "benchmark": "live cameras sustained per core",
        "machine": machine_description(),
        "date": time.strftime("%Y-%m-%d"),
        "video": video.name,
        "analysis_fps": fps,
        "cores": len(used),
        "model_threads_per_call": 1,
        "detector": settings.detector,
        "embedder": settings.embedder,
        "seconds_per_run": seconds,
        "schedule": first["schedule"],
        "runs": first["runs"],
        "cameras_sustained": first["cameras_sustained"],
        "cameras_per_core": first["cameras_per_core"],
        "schedules": results,
    }


def _runs(
    engine: FaceEngine,
    matcher: GalleryMatcher,
    video: Path,
    counts: list[int],
    fps: float,
    seconds: float,
    warmup_s: float,
    analysis: AnalysisSettings,
) -> list[dict[str, Any]]:
    process = psutil.Process()
    loop_s = clip_seconds(video)
    runs = []
    for count in counts:
        cameras = [CameraConfig(f"cam{i}", parse_source(str(video), loop=True), fps) for i in range(count)]
        runner = LiveRunner([], engine, matcher, CollectingSink(), gate=RecordedClip(), analysis=analysis)  # type: ignore[arg-type]
        runner.start()
        # Real cameras do not show the same moment of the same scene at the same instant: the streams start
        # staggered over one loop of the clip (otherwise every camera's full passes would fall together).
        for camera in cameras:
            runner.add_camera(camera)
            time.sleep(loop_s / count)
        time.sleep(warmup_s)
        before = {name: c.frames for name, c in runner.counters().items()}
        dropped_before = {h.camera: h.dropped_frames for h in runner.health()}
        cpu_before, started = process.cpu_times(), time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        cpu_after = process.cpu_times()
        after = runner.counters()
        dropped = {h.camera: h.dropped_frames - dropped_before[h.camera] for h in runner.health()}
        rss_mb = process.memory_info().rss / 2**20
        faces = sum(c.faces for c in after.values())
        frames_total = sum(c.frames for c in after.values())
        runner.close()
        rates = [(after[name].frames - before[name]) / elapsed for name in before]
        cpu = (cpu_after.user - cpu_before.user + cpu_after.system - cpu_before.system) / elapsed
        plans = [c.schedule for c in after.values()]
        runs.append(
            {
                "cameras": count,
                "analysed_fps_min": round(min(rates), 2),
                "analysed_fps_mean": round(sum(rates) / len(rates), 2),
                "sustained": min(rates) >= SUSTAINED * fps,
                "cpu_cores_busy": round(cpu, 2),
                "cpu_per_camera": round(cpu / count, 3),
                "frames_dropped_per_camera_s": round(sum(dropped.values()) / count / elapsed, 2),
                "faces_per_frame": round(faces / max(1, frames_total), 2),
                "process_rss_mb": round(rss_mb),
                "full_passes": sum(p.full_passes for p in plans),
                "region_passes": sum(p.region_passes for p in plans),
                "quiet_frames": sum(p.quiet_frames for p in plans),
                "detected_pixel_share": round(
                    sum(p.pixels_detected for p in plans) / max(1, sum(p.pixels_seen for p in plans)), 3
                ),
            }
        )
    return runs
