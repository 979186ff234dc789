"""The gallery: a vector index over the active subjects' templates, answering "who is this?".

* Exact search (a matrix product) while the gallery holds up to ``exact_limit`` templates; above it an
  HNSW graph (FAISS, inner product, M = 32, efConstruction 200, efSearch 256, vectors stored as
  float16 so a million templates fit in well under a gigabyte) takes over. Both are unit-vector
  cosine similarity; HNSW scores carry the float16 rounding (within about 0.002).
* Templates are added and removed incrementally. Removal in HNSW mode marks the templates deleted
  (searches skip them) and the graph is rebuilt only when a quarter of it is deleted.
* A subject with several templates is one identity in the results: its score is its best template's.
* Each subject carries its expiry; a search at time ``at`` never returns a subject whose expiry has
  passed (the expiry instant itself counts as expired), even before the store has marked it expired.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULT_EXACT_LIMIT = 50_000


@dataclass(frozen=True)
class Candidate:
    subject_id: str
    score: float


class Gallery:
    """Thread-safe; ``dim`` is fixed by the embedder whose vectors it holds."""

    def __init__(
        self,
        dim: int,
        *,
        exact_limit: int = DEFAULT_EXACT_LIMIT,
        hnsw_m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 256,
    ) -> None:
        if dim < 1:
            raise ValueError("dim must be positive")
        self.dim = dim
        self.exact_limit = exact_limit
        self.hnsw_m = hnsw_m
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self._lock = threading.RLock()
        self._vectors = np.zeros((0, dim), np.float32)  # exact mode only
        self._labels = np.zeros((0,), np.int64)  # row -> subject index
        self._alive = np.zeros((0,), bool)  # row -> not removed
        self._count = 0  # rows used
        self._subject_ids: list[str] = []
        self._subject_index: dict[str, int] = {}
        self._expires = np.zeros((0,), np.float64)  # subject index -> expiry, POSIX seconds
        self._live = np.zeros((0,), np.int32)  # subject index -> live templates
        self._hnsw: Any = None
        self._deleted = 0

    # ------------------------------------------------------------------ size
    def __len__(self) -> int:
        """Number of live templates."""
        with self._lock:
            return int(self._alive[: self._count].sum())

    @property
    def subjects(self) -> int:
        with self._lock:
            return int((self._live > 0).sum())

    @property
    def mode(self) -> str:
        return "hnsw" if self._hnsw is not None else "exact"

    def __contains__(self, subject_id: str) -> bool:
        with self._lock:
            index = self._subject_index.get(subject_id)
            return index is not None and bool(self._live[index] > 0)

    # --------------------------------------------------------------- changes
    def add(self, subject_id: str, vectors: np.ndarray, *, expires_at: float = math.inf) -> None:
        """Add templates ((n, dim) unit vectors) for a subject; updates its expiry."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        self.add_many([subject_id] * len(vectors), vectors, np.full(len(vectors), expires_at))

    def add_many(self, subject_ids: list[str], vectors: np.ndarray, expires_at: np.ndarray) -> None:
        """Bulk add: row i of ``vectors`` is a template of ``subject_ids[i]``, expiring at ``expires_at[i]``."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if len(vectors) != len(subject_ids) or len(expires_at) != len(subject_ids):
            raise ValueError("subject_ids, vectors and expires_at must have the same length")
        if len(vectors) == 0:
            return
        norms = np.linalg.norm(vectors, axis=1)
        if not np.allclose(norms, 1.0, atol=1e-3):
            raise ValueError("gallery vectors must be L2-normalised")
        with self._lock:
            labels = np.fromiter((self._subject_slot(s) for s in subject_ids), np.int64, len(subject_ids))
            self._expires[labels] = np.asarray(expires_at, np.float64)
            rows = slice(self._count, self._count + len(vectors))
            self._grow(self._count + len(vectors))
            self._labels[rows] = labels
            self._alive[rows] = True
            if self._hnsw is None:
                self._vectors[rows] = vectors
            else:
                self._hnsw.add(vectors)
            self._count += len(vectors)
            np.add.at(self._live, labels, 1)
            if self._hnsw is None and self._count > self.exact_limit:
                self._build_hnsw(self._vectors[: self._count])

    def _subject_slot(self, subject_id: str) -> int:
        index = self._subject_index.get(subject_id)
        if index is None:
            index = len(self._subject_ids)
            self._subject_ids.append(subject_id)
            self._subject_index[subject_id] = index
            if index >= len(self._expires):
                size = max(2 * len(self._expires), 1024)
                self._expires = np.resize(self._expires, size)
                live = np.zeros(size, np.int32)
                live[: len(self._live)] = self._live
                self._live = live
            self._live[index] = 0
        return index

    def remove(self, subject_id: str) -> int:
        """Remove all of a subject's templates; returns how many were removed."""
        with self._lock:
            index = self._subject_index.get(subject_id)
            if index is None or self._live[index] == 0:
                return 0
            rows = np.flatnonzero((self._labels[: self._count] == index) & self._alive[: self._count])
            self._alive[rows] = False
            self._live[index] = 0
            self._deleted += len(rows)
            if self._deleted > max(1024, 0.25 * self._count):
                self._compact()
            return len(rows)

    def replace(self, subject_id: str, vectors: np.ndarray, expires_at: float) -> None:
        """Swap a subject's templates for ``vectors`` (none: the subject leaves) in one step: a search
        running meanwhile sees either the old templates or the new, never neither."""
        with self._lock:
            self.remove(subject_id)
            if len(vectors):
                self.add(subject_id, vectors, expires_at=expires_at)

    def set_expiry(self, subject_id: str, expires_at: float) -> None:
        with self._lock:
            index = self._subject_index.get(subject_id)
            if index is not None:
                self._expires[index] = expires_at

    # ---------------------------------------------------------------- search
    def search(
        self,
        vectors: np.ndarray,
        k: int = 5,
        *,
        at: float | None = None,
        admit: Callable[[str], bool] | None = None,
    ) -> list[list[Candidate]]:
        """Top ``k`` subjects per query vector ((q, dim) unit vectors), best first.

        ``at`` (POSIX seconds) drops subjects whose expiry is at or before it; ``admit`` (a subject id
        test, e.g. an authorisation's scope) drops the subjects it refuses, before the top ``k`` are taken.
        """
        queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        if k < 1:
            raise ValueError("k must be at least 1")
        with self._lock:
            if self._count == 0 or len(queries) == 0:
                return [[] for _ in range(len(queries))]
            fetch = min(self._count, max(4 * k, k + 16) * (1 if admit is None else 4))
            if self._hnsw is None:
                rows, scores = self._exact_topn(queries, fetch)
            else:
                live_share = max(0.25, 1.0 - self._deleted / self._count)
                rows, scores = self._hnsw_topn(queries, int(fetch / live_share) + 8)
            expires = self._expires
            results: list[list[Candidate]] = []
            for row_ids, row_scores in zip(rows, scores, strict=True):
                best: dict[int, float] = {}
                for row, score in zip(row_ids, row_scores, strict=True):
                    if row < 0 or not self._alive[row]:
                        continue
                    subject = int(self._labels[row])
                    if at is not None and expires[subject] <= at:
                        continue
                    if subject not in best or score > best[subject]:
                        best[subject] = float(score)
                ranked = sorted(best.items(), key=lambda item: -item[1])
                results.append([Candidate(self._subject_ids[s], score) for s, score in ranked])
        if admit is not None:  # outside the lock: the test may read the database
            verdicts = {c.subject_id: False for row in results for c in row}
            for subject_id in verdicts:
                verdicts[subject_id] = admit(subject_id)
            results = [[c for c in row if verdicts[c.subject_id]] for row in results]
        return [row[:k] for row in results]

    def subject_scores(self, vectors: np.ndarray, subject_ids: list[str]) -> np.ndarray:
        """(q, m) best-template similarity of each query vector to each named subject (−1 for a subject
        with no live template). Exact, whatever the mode: used to weigh a track's evidence."""
        queries = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)
        out = np.full((len(queries), len(subject_ids)), -1.0, np.float32)
        with self._lock:
            for column, subject_id in enumerate(subject_ids):
                index = self._subject_index.get(subject_id)
                if index is None or self._live[index] == 0:
                    continue
                rows = np.flatnonzero((self._labels[: self._count] == index) & self._alive[: self._count])
                if self._hnsw is None:
                    templates = self._vectors[rows]
                else:
                    templates = np.stack([self._hnsw.reconstruct(int(row)) for row in rows])
                out[:, column] = (queries @ templates.T).max(axis=1)
        return out

    # -------------------------------------------------------------- internal
    def _grow(self, needed: int) -> None:
        capacity = len(self._labels)
        if needed <= capacity:
            return
        new_capacity = max(needed, 2 * capacity, 1024)
        self._labels = np.resize(self._labels, new_capacity)
        alive = np.zeros(new_capacity, bool)
        alive[:capacity] = self._alive
        self._alive = alive
        if self._hnsw is None:
            vectors = np.zeros((new_capacity, self.dim), np.float32)
            vectors[:capacity] = self._vectors
            self._vectors = vectors

    def _exact_topn(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        sims = queries @ self._vectors[: self._count].T
        sims[:, ~self._alive[: self._count]] = -np.inf
        if n >= self._count:
            order = np.argsort(-sims, axis=1)
        else:
            part = np.argpartition(-sims, n - 1, axis=1)[:, :n]
            order = np.take_along_axis(part, np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1), axis=1)
        return order, np.take_along_axis(sims, order, axis=1)

    def _hnsw_topn(self, queries: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        self._hnsw.hnsw.efSearch = max(self.ef_search, n)
        scores, rows = self._hnsw.search(queries, min(n, self._count))
        return rows, scores

    def _build_hnsw(self, vectors: np.ndarray) -> None:
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = faiss.IndexHNSWSQ(self.dim, faiss.ScalarQuantizer.QT_fp16, self.hnsw_m, faiss.METRIC_INNER_PRODUCT)  # type: ignore[arg-type]
        index.hnsw.efConstruction = self.ef_construction
        index.train(vectors[: min(len(vectors), 10_000)])
        index.add(vectors)
        self._hnsw = index
        self._vectors = np.zeros((0, self.dim), np.float32)  # the graph holds the vectors now

    def _compact(self) -> None:
        """Drop deleted templates (HNSW cannot delete in place, so its graph is rebuilt)."""
        live_rows = np.flatnonzero(self._alive[: self._count])
        if self._hnsw is not None:
            vectors = self._hnsw.reconstruct_n(0, self._count)[live_rows]
        else:
            vectors = self._vectors[live_rows]
        self._labels = self._labels[live_rows].copy()
        self._count = len(live_rows)
        self._alive = np.ones(self._count, bool)
        self._deleted = 0
        self._hnsw = None
        self._vectors = vectors.astype(np.float32)
        if self._count > self.exact_limit:
            self._build_hnsw(self._vectors)
