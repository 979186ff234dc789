from __future__ import annotations

import itertools

import numpy as np
import pytest

from vigil.recognition.gallery import Gallery


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return _unit(np.random.default_rng(3).standard_normal((3000, 32)))


def _probe(v: np.ndarray, seed: int = 0) -> np.ndarray:
    return _unit(v + 0.05 * np.random.default_rng(seed).standard_normal(v.shape))


@pytest.mark.parametrize("exact_limit", [100_000, 500], ids=["exact", "hnsw"])
def test_finds_subjects_and_merges_their_templates(vectors: np.ndarray, exact_limit: int) -> None:
    gallery = Gallery(32, exact_limit=exact_limit)
    for i in range(0, 3000, 3):
        gallery.add(f"s{i // 3}", vectors[i : i + 3])
    assert gallery.mode == ("exact" if exact_limit > 3000 else "hnsw")
    assert len(gallery) == 3000 and gallery.subjects == 1000
    results = gallery.search(_probe(vectors[::10]), k=5)
    assert [r[0].subject_id for r in results] == [f"s{(i * 10) // 3}" for i in range(300)]
    for ranked in results:  # one identity per subject, best first
        ids = [c.subject_id for c in ranked]
        assert len(ids) == len(set(ids)) == 5
        assert all(a.score >= b.score for a, b in itertools.pairwise(ranked))


@pytest.mark.parametrize("exact_limit", [100_000, 500], ids=["exact", "hnsw"])
def test_removed_subjects_never_match(vectors: np.ndarray, exact_limit: int) -> None:
    gallery = Gallery(32, exact_limit=exact_limit)
    gallery.add_many([f"s{i}" for i in range(1000)], vectors[:1000], np.full(1000, np.inf))
    for i in range(0, 1000, 2):
        assert gallery.remove(f"s{i}") == 1
    assert gallery.remove("s0") == 0 and gallery.remove("never-added") == 0
    assert "s0" not in gallery and "s1" in gallery
    results = gallery.search(_probe(vectors[:1000]), k=1)
    assert all(int(r[0].subject_id[1:]) % 2 == 1 for r in results)
    hits = [r[0].subject_id == f"s{i}" for i, r in enumerate(results) if i % 2 == 1]
    assert np.mean(hits) == 1.0


def test_incremental_add_after_switching_to_hnsw(vectors: np.ndarray) -> None:
    gallery = Gallery(32, exact_limit=1000)
    gallery.add_many([f"s{i}" for i in range(2000)], vectors[:2000], np.full(2000, np.inf))
    assert gallery.mode == "hnsw"
    gallery.add("late", vectors[2500:2501])
    assert gallery.search(_probe(vectors[2500:2501]), k=1)[0][0].subject_id == "late"


def test_expired_subjects_are_filtered_at_the_boundary_instant(vectors: np.ndarray) -> None:
    gallery = Gallery(32)
    gallery.add("expiring", vectors[:1], expires_at=1000.0)
    gallery.add("other", vectors[1:2])
    probe = vectors[:1]
    assert gallery.search(probe, k=1, at=999.999999)[0][0].subject_id == "expiring"
    assert gallery.search(probe, k=1, at=1000.0)[0][0].subject_id == "other"
    assert gallery.search(probe, k=1)[0][0].subject_id == "expiring"  # no time given: no filter


def test_batched_search_equals_single_queries(vectors: np.ndarray) -> None:
    gallery = Gallery(32)
    gallery.add_many([f"s{i}" for i in range(500)], vectors[:500], np.full(500, np.inf))
    probes = _probe(vectors[:50])
    batched = gallery.search(probes, k=3)
    single = [gallery.search(p[None], k=3)[0] for p in probes]
    assert [[c.subject_id for c in r] for r in batched] == [[c.subject_id for c in r] for r in single]
    assert np.allclose([[c.score for c in r] for r in batched], [[c.score for c in r] for r in single], atol=1e-5)


def test_bad_input_is_refused() -> None:
    gallery = Gallery(4)
    with pytest.raises(ValueError, match="normalised"):
        gallery.add("x", np.ones((1, 4)))
    with pytest.raises(ValueError, match="same length"):
        gallery.add_many(["a", "b"], _unit(np.ones((1, 4))), np.zeros(2))
    with pytest.raises(ValueError, match="k must"):
        gallery.search(_unit(np.ones((1, 4))), k=0)
    assert gallery.search(_unit(np.ones((2, 4))), k=3) == [[], []]
