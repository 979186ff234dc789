"""Detector throughput on a real clip: frames/s and faces/frame per detector at 1080p and 720p,
beside the face_recognition-style reference (dlib HOG, upsample 1, plus a descriptor per face)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from vigil.bench.embed import machine_description
from vigil.errors import VigilError
from vigil.settings import VigilSettings
from vigil.vision.catalogue import create_detector, model_spec

RESOLUTIONS = {"1080p": (1920, 1080), "720p": (1280, 720)}


def read_frames(video: Path, limit: int) -> list[np.ndarray]:
    """Decode up to ``limit`` RGB frames from a video file."""
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise VigilError(f"cannot open video {video}")
    frames: list[np.ndarray] = []
    try:
        while len(frames) < limit:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise VigilError(f"no frames could be decoded from {video}")
    return frames


def _resize(frames: list[np.ndarray], size: tuple[int, int]) -> list[np.ndarray]:
    return [
        f if (f.shape[1], f.shape[0]) == size else cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames
    ]


def bench_detect(
    settings: VigilSettings,
    video: Path,
    *,
    detectors: list[str],
    frames: int = 50,
    reference_frames: int = 8,
) -> dict[str, object]:
    decoded = read_frames(video, frames)
    results: list[dict[str, object]] = []
    for name in detectors:
        if model_spec(name).missing(settings):
            results.append({"detector": name, "available": False})
            continue
        detector = create_detector(name, settings)
        detector.prepare()
        for label, size in RESOLUTIONS.items():
            batch = _resize(decoded, size)
            if name == "dlib-cnn":
                batch = batch[:reference_frames]
            detector.detect(batch[0])  # warm-up
            started = time.perf_counter()
            counts = [len(detector.detect(frame)) for frame in batch]
            elapsed = time.perf_counter() - started
            results.append(
                {
                    "detector": name,
                    "resolution": label,
                    "frames": len(batch),
                    "frames_per_s": round(len(batch) / elapsed, 2),
                    "faces_per_frame": round(float(np.mean(counts)), 2),
                }
            )
    results += reference_pipeline(settings, decoded[:reference_frames])
    return {"video": str(video), "results": results, "machine": machine_description()}


def reference_pipeline(settings: VigilSettings, frames: list[np.ndarray]) -> list[dict[str, object]]:
    """face_recognition as a user runs it: HOG upsample 1, 5-point landmarks, one descriptor per face."""
    import dlib

    paths = model_spec("dlib-hog").paths(settings)
    weights = model_spec("dlib-resnet").paths(settings)["dlib_face_recognition_resnet_model_v1.dat"]
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(paths["shape_predictor_5_face_landmarks.dat"]))
    encoder = dlib.face_recognition_model_v1(str(weights))
    out = []
    for label, size in RESOLUTIONS.items():
        batch = _resize(frames, size)
        started = time.perf_counter()
        counts = []
        for frame in batch:
            rects = detector(frame, 1)
            for rect in rects:
                encoder.compute_face_descriptor(frame, predictor(frame, rect))
            counts.append(len(rects))
        elapsed = time.perf_counter() - started
        out.append(
            {
                "detector": "face_recognition-reference (dlib HOG up 1 + descriptor)",
                "resolution": label,
                "frames": len(batch),
                "frames_per_s": round(len(batch) / elapsed, 2),
                "faces_per_frame": round(float(np.mean(counts)), 2),
            }
        )
    return out
