"""Live-pipeline measurements: track-level vs per-frame decisions, throughput, latency and memory.

``compare_rules`` runs the real ``CameraAnalyser`` over a clip's sampled frames with every usable face
embedded, at several thresholds; a recording matcher notes each face's best match, which is exactly
what a per-frame matcher would flag on. Both rules therefore see the same faces and the same scores.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from vigil.pipeline.analyser import AnalysisSettings, CameraAnalyser, Matcher, encode_jpeg, face_crop
from vigil.pipeline.offline import CollectingSink, GalleryMatcher, RecordingMatcher, sample_frames
from vigil.recognition.decision import DecisionRule
from vigil.video.sources import Frame, parse_source
from vigil.vision.engine import FaceEngine


def compare_rules(
    engine: FaceEngine,
    matcher: Matcher,
    frames: list[Frame],
    thresholds: list[float],
    *,
    min_faces: int = 3,
    expected_subject: str | None = None,
    analysis: AnalysisSettings | None = None,
) -> list[dict[str, Any]]:
    """Per threshold: flags raised by per-frame matching and by the track-level rule, and how many of
    each are false (any subject but ``expected_subject``)."""
    rows = []
    for threshold in thresholds:
        recording = RecordingMatcher(matcher, DecisionRule(threshold, min_faces))
        sink = CollectingSink()
        settings = replace(analysis or AnalysisSettings(), embed_interval_s=0.0)
        analyser = CameraAnalyser("eval", engine, recording, sink, settings)
        for frame in frames:
            analyser.process(frame)
        analyser.finish()
        per_frame = [(s, score) for s, score in recording.best if score >= threshold]
        rows.append(
            {
                "threshold": threshold,
                "min_faces": min_faces,
                "faces_embedded": len(recording.best),
                "per_frame_flags": len(per_frame),
                "per_frame_false_flags": sum(1 for s, _ in per_frame if s != expected_subject),
                "per_frame_false_subjects": len({s for s, _ in per_frame if s != expected_subject}),
                "track_alerts": len(sink.raised),
                "track_false_alerts": sum(1 for e in sink.raised if e.subject_id != expected_subject),
                "track_alert_subjects": sorted({e.subject_id for e in sink.raised}),
            }
        )
    return rows


# ---------------------------------------------------------------------------------------- throughput
def _random_gallery(dim: int, size: int, seed: int = 0) -> Any:
    from vigil.recognition.gallery import Gallery

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((size, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    gallery = Gallery(dim)
    gallery.add_many([f"s{i}" for i in range(size)], vectors, np.full(size, np.inf))
    return gallery


def _resized(frames: list[Frame], height: int) -> list[Frame]:
    import cv2

    out = []
    for frame in frames:
        h, w = frame.image.shape[:2]
        if h != height:
            size = (round(w * height / h / 2) * 2, height)
            frame = replace(frame, image=cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA))
        out.append(frame)
    return out


def bench_throughput(
    settings: Any, video: Path, *, threads: int = 1, fps: float = 5.0, reference_frames: int = 8, repeats: int = 2
) -> dict[str, Any]:
    """Analysed frames/s of the whole per-frame analysis (detect, quality, track, embed, search, decide)
    on ``threads`` cores at 1080p and 720p, beside the face_recognition-style per-frame pipeline."""
    from vigil.bench.detect import reference_pipeline
    from vigil.bench.embed import machine_description, pin_threads

    cores = pin_threads(threads)
    settings = settings.model_copy(update={"threads": threads})
    engine = FaceEngine.from_settings(settings).prepare()
    from vigil.vision.catalogue import default_threshold

    matcher = GalleryMatcher(
        _random_gallery(engine.embedder.dim, 1000), DecisionRule(default_threshold(engine.embedder.name), 3)
    )
    sampled = sample_frames(video, fps)
    results: list[dict[str, Any]] = []
    for label, height in (("1080p", 1080), ("720p", 720)):
        frames = _resized(sampled, height)
        best = None
        for _ in range(repeats):
            analyser = CameraAnalyser("bench", engine, matcher, CollectingSink())
            analyser.process(frames[0])  # warm-up
            analyser = CameraAnalyser("bench", engine, matcher, CollectingSink())
            started = time.perf_counter()
            for frame in frames:
                analyser.process(frame)
            elapsed = time.perf_counter() - started
            best = elapsed if best is None else min(best, elapsed)
        c = analyser.counters
        assert best is not None
        results.append(
            {
                "pipeline": f"vigil ({settings.detector} + {settings.embedder}, track-level)",
                "resolution": label,
                "frames": len(frames),
                "frames_per_s": round(len(frames) / best, 2),
                "frames_per_s_per_core": round(len(frames) / best / threads, 2),
                "faces_per_frame": round(c.faces / c.frames, 2),
                "embedded_per_frame": round(c.embedded / c.frames, 2),
                "detect_share": round(c.detect_s / max(c.busy_s, 1e-9), 3),
            }
        )
    reference: list[dict[str, Any]] = reference_pipeline(settings, [f.image for f in sampled[:reference_frames]])
    for row in reference:
        row["frames_per_s_per_core"] = round(float(row["frames_per_s"]) / threads, 2)
    for row in results:
        ref = next(r for r in reference if r["resolution"] == row["resolution"])
        row["speedup_vs_reference"] = round(float(row["frames_per_s"]) / float(ref["frames_per_s"]), 1)
    return {
        "benchmark": "live analysis throughput",
        "video": video.name,
        "analysis_fps": fps,
        "threads": threads,
        "cores": cores,
        "machine": machine_description(),
        "results": results,
        "reference": reference,
    }


# ------------------------------------------------------------------------------ latency and memory
def bench_soak(
    settings: Any,
    video: Path,
    *,
    seconds: float,
    fps: float = 5.0,
    enroll: int = 4,
    progress: Any = None,
) -> dict[str, Any]:
    """A looped real-time run of ``video``: people from an early frame are enrolled, every loop raises
    fresh alerts (no re-arm window), and we record each alert's latency (decisive frame captured → alert
    stored) and the process's memory once a second."""
    import tempfile

    import psutil

    from vigil.bench.embed import machine_description
    from vigil.domain.alerts import AlertRecorder
    from vigil.domain.enrollment import EnrollmentError, SubjectFields
    from vigil.pipeline.gate import RecordedClip
    from vigil.pipeline.runtime import CameraConfig, LiveRunner
    from vigil.services import open_watchlist
    from vigil.vision.quality import assess_quality

    with tempfile.TemporaryDirectory(prefix="vigil-soak-") as tmp:
        run_settings = settings.model_copy(update={"data_dir": Path(tmp)})
        engine = FaceEngine.from_settings(settings).prepare()
        watchlist = open_watchlist(run_settings, engine=engine)
        first = sample_frames(video, 5.0, limit=2)[-1].image
        faces = engine.detect(first)
        order = np.argsort(-assess_quality(first, faces).score)
        enrolled = 0
        from datetime import UTC, datetime, timedelta

        from vigil.domain.users import ensure_supervisors

        proposer, approver = ensure_supervisors(watchlist.db, "bench.proposer", "bench.approver")
        for index in order:
            crop = face_crop(first, faces.xyxy[index], margin=2.2)
            fields = SubjectFields(
                display_name=f"Bench person {enrolled + 1}",
                category="wanted",
                legal_basis_type="benchmark",
                legal_basis_reference=f"BENCH-{enrolled + 1}",
                approved_by=approver,
                expires_at=datetime.now(UTC) + timedelta(days=1),
                proposed_by=proposer,
            )
            try:
                watchlist.enroll(fields, [(f"p{index}.jpg", encode_jpeg(crop))])
            except EnrollmentError:
                continue
            enrolled += 1
            if enrolled >= enroll:
                break
        from vigil.domain.matching import WatchlistMatcher

        recorder = AlertRecorder(watchlist.db, watchlist.media)
        latencies: list[float] = []
        recorder.subscribe(
            lambda kind, e: (
                latencies.append(1000 * (e.stored_at - e.decisive_capture_at))
                if kind == "raised" and e.stored_at
                else None
            )
        )
        runner = LiveRunner(
            [CameraConfig("soak", parse_source(str(video), loop=True), fps)],
            engine,
            WatchlistMatcher(watchlist),
            recorder,
            gate=RecordedClip(),  # a recorded clip on a loop, not a camera
            analysis=AnalysisSettings(rearm_s=0.0),
        )
        process = psutil.Process()
        rss: list[tuple[float, float]] = []
        started = time.monotonic()
        runner.start()
        try:
            while (elapsed := time.monotonic() - started) < seconds:
                rss.append((round(elapsed, 1), process.memory_info().rss / 2**20))
                if progress is not None and len(rss) % 60 == 0:
                    progress(elapsed, len(latencies), rss[-1][1])
                time.sleep(1.0)
        finally:
            runner.close()
        health = runner.health()[0]
        counters = runner.counters()["soak"]
        values = np.array(latencies) if latencies else np.zeros(1)
        warm = [r for t, r in rss if t >= 60] or [r for _, r in rss]
        half = len(warm) // 2
        return {
            "benchmark": "live soak (real-time, looped)",
            "video": video.name,
            "seconds": round(seconds),
            "analysis_fps": fps,
            "threads": settings.threads,
            "enrolled_from_clip": enrolled,
            "gallery_subjects": watchlist.replica.subjects,
            "alerts": len(latencies),
            "latency_ms": {
                "p50": round(float(np.percentile(values, 50)), 1),
                "p95": round(float(np.percentile(values, 95)), 1),
                "max": round(float(values.max()), 1),
            },
            "frames_analysed": counters.frames,
            "analysed_fps": round(counters.frames / seconds, 2),
            "dropped_frames": health.dropped_frames,
            "faces_analysed": counters.faces,
            "rss_mb": {
                "start": round(rss[0][1], 1),
                "after_1_min": round(warm[0], 1),
                "peak": round(max(r for _, r in rss), 1),
                "end": round(rss[-1][1], 1),
                "first_half_mean": round(float(np.mean(warm[:half] or warm)), 1),
                "second_half_mean": round(float(np.mean(warm[half:])), 1),
            },
            "rss_series_mb": [(t, round(r, 1)) for t, r in rss[::10]],
            "machine": machine_description(),
        }
