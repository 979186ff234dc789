"""Gallery search benchmark on synthetic 128-d unit vectors.

Each gallery vector stands for one enrolled person. Queries are probes of enrolled people: a gallery
vector plus noise (cosine about 0.8 to its source, like a live face against its enrolled photo), so
the exact nearest neighbour is meaningful. recall@1 compares the gallery's top subject with exact
search's; memory is the growth of the process's resident set while the gallery is built.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import numpy as np

from vigil.bench.embed import machine_description
from vigil.recognition.gallery import Gallery


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e6


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def bench_search(
    size: int,
    *,
    queries: int = 1000,
    dim: int = 128,
    seed: int = 0,
    chunk: int = 50_000,
    ef_search: tuple[int, ...] = (),
) -> dict[str, object]:
    """Build a synthetic gallery of ``size`` people and measure it. With ``ef_search`` values the HNSW
    search breadth is swept too (``sweep`` in the result); the headline figures use the default."""
    rng = np.random.default_rng(seed)
    gc.collect()
    before = _rss_mb()
    gallery = Gallery(dim)
    started = time.perf_counter()
    # Build in chunks so the synthetic data never sits in memory twice.
    probes = np.zeros((queries, dim), np.float32)
    sources = np.sort(rng.choice(size, size=min(queries, size), replace=False))
    for begin in range(0, size, chunk):
        block = _unit(rng.standard_normal((min(chunk, size - begin), dim), dtype=np.float32))
        ids = [f"{row:032x}" for row in range(begin, begin + len(block))]
        gallery.add_many(ids, block, np.full(len(block), np.inf))
        inside = sources[(sources >= begin) & (sources < begin + len(block))]
        for i, src in zip(np.flatnonzero(np.isin(sources, inside)), inside, strict=True):
            probes[i] = block[src - begin]
        del block
    build_s = time.perf_counter() - started
    gc.collect()
    memory_mb = _rss_mb() - before
    noise = rng.standard_normal(probes.shape, dtype=np.float32) * 0.065
    probes = _unit(probes + noise)

    exact = _exact_top1(probes, size, dim, seed, chunk)
    default_ef = gallery.ef_search
    headline = _measure(gallery, probes, exact)
    sweep = []
    for ef in ef_search:
        gallery.ef_search = ef
        sweep.append({"ef_search": ef, **_measure(gallery, probes, exact)})
    gallery.ef_search = default_ef
    return {
        "size": size,
        "mode": gallery.mode,
        "ef_search": default_ef if gallery.mode == "hnsw" else None,
        "build_s": round(build_s, 2),
        "memory_mb": round(memory_mb, 1),
        **headline,
        "queries": len(probes),
        "sweep": sweep,
        "machine": machine_description(),
    }


def _measure(gallery: Gallery, probes: np.ndarray, exact: list[str]) -> dict[str, float]:
    latencies = []
    top: list[str] = []
    for q in probes:
        t0 = time.perf_counter()
        result = gallery.search(q[None], k=1)
        latencies.append((time.perf_counter() - t0) * 1000)
        top.append(result[0][0].subject_id if result[0] else "")
    t0 = time.perf_counter()
    gallery.search(probes, k=1)
    batch_qps = len(probes) / (time.perf_counter() - t0)
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)), 3),
        "p99_ms": round(float(np.percentile(latencies, 99)), 3),
        "batch_qps": round(batch_qps, 1),
        "recall_at_1": float(np.mean([a == b for a, b in zip(top, exact, strict=True)])),
    }


def _exact_top1(probes: np.ndarray, size: int, dim: int, seed: int, chunk: int) -> list[str]:
    """Brute-force top-1 by regenerating the same synthetic gallery chunk by chunk."""
    rng = np.random.default_rng(seed)
    rng.choice(size, size=min(len(probes), size), replace=False)  # keep the stream aligned with the build
    best = np.full(len(probes), -np.inf)
    best_row = np.zeros(len(probes), np.int64)
    for begin in range(0, size, chunk):
        block = _unit(rng.standard_normal((min(chunk, size - begin), dim), dtype=np.float32))
        sims = probes @ block.T
        idx = sims.argmax(axis=1)
        val = sims[np.arange(len(probes)), idx]
        better = val > best
        best[better] = val[better]
        best_row[better] = begin + idx[better]
    return [f"{row:032x}" for row in best_row]
