"""Embedding throughput: dlib's own ``compute_face_descriptor`` against Vigil's embedder, same chips,
same thread count, one run."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from vigil.bench.chips import collect_chips
from vigil.settings import VigilSettings
from vigil.vision.catalogue import create_detector, create_embedder, create_plain_embedder, model_spec


def pin_threads(threads: int) -> list[int]:
    """Restrict this process to ``threads`` CPU cores (so dlib and ONNX Runtime get the same)."""
    cores = sorted(os.sched_getaffinity(0))[: max(1, threads)]
    os.sched_setaffinity(0, set(cores))
    return cores


def _rate(run: Any, items: int, min_seconds: float) -> float:
    run()  # warm-up
    done, started = 0, time.perf_counter()
    while True:
        run()
        done += items
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return done / elapsed


def bench_embed(
    settings: VigilSettings,
    *,
    threads: int = 1,
    chips_count: int = 64,
    images_dir: Path | None = None,
    min_seconds: float = 5.0,
    embedder_name: str = "dlib-resnet",
) -> dict[str, object]:
    import dlib

    cores = pin_threads(threads)
    settings = settings.model_copy(update={"threads": threads})
    detector = create_detector("dlib-hog", settings)
    detector.prepare()
    chips = collect_chips(detector, chips_count, images_dir)
    weights = model_spec("dlib-resnet").paths(settings)["dlib_face_recognition_resnet_model_v1.dat"]
    reference = dlib.face_recognition_model_v1(str(weights))
    chip_list = [np.ascontiguousarray(c) for c in chips]
    dlib_rate = _rate(lambda: reference.compute_face_descriptor(chip_list[:16]), 16, min_seconds)
    embedder = create_embedder(embedder_name, settings)
    embedder.prepare()
    vigil_rate = _rate(lambda: embedder.embed(chips), len(chips), min_seconds)
    single = create_plain_embedder(embedder_name, settings)
    single.prepare()
    single_rate = _rate(lambda: single.embed(chips), len(chips), min_seconds)
    agreement = None
    if embedder_name == "dlib-resnet":
        ref = np.array(reference.compute_face_descriptor(chip_list[:16]))
        ours = single.embed(chips[:16]).vectors
        ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
        agreement = float((ref * ours).sum(axis=1).min())
    return {
        "dlib_faces_per_s": round(dlib_rate, 2),
        "vigil_faces_per_s": round(vigil_rate, 2),
        "ratio": round(vigil_rate / dlib_rate, 2),
        "vigil_single_pass_faces_per_s": round(single_rate, 2),
        "single_pass_ratio": round(single_rate / dlib_rate, 2),
        "flip_augmentation": embedder.version.endswith("+flip"),
        "threads": threads,
        "cores": cores,
        "chips": len(chips),
        "embedder": f"{embedder.name}@{embedder.version}",
        "min_cosine_vs_dlib": agreement,
        "machine": machine_description(),
    }


def machine_description() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
