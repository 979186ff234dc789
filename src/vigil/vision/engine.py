"""The face engine: a detector and an embedder working together on whole images.

``FaceEngine.analyse(image)`` is the one call the rest of Vigil needs: every face with its box,
landmarks, quality and embedding. Faces stay in memory; nothing here writes anything anywhere.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from vigil.errors import MultipleFacesError, NoFaceError
from vigil.settings import VigilSettings
from vigil.vision.align import align_faces
from vigil.vision.catalogue import create_detector, create_embedder
from vigil.vision.detectors.base import Detector
from vigil.vision.embedders.base import Embedder
from vigil.vision.quality import FaceQuality, assess_quality
from vigil.vision.types import Embeddings, FaceDetections


@dataclass(frozen=True)
class AnalysedFaces:
    """Faces of one image: detections, their quality and (n, dim) embeddings, all in the same order."""

    detections: FaceDetections
    quality: FaceQuality
    embeddings: Embeddings

    def __len__(self) -> int:
        return len(self.detections)


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class ModelLock:
    """Many cameras use the embedder (and the gallery of its templates) at once; a model switch
    (:meth:`switching`) waits until no frame is in the middle of being analysed, holds new frames off
    while it swaps, and counts a ``generation`` so that an analyser can tell that what it remembers of a
    track came from the previous model."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._users = 0
        self._switching = False
        self.generation = 0

    @contextmanager
    def using(self) -> Iterator[int]:
        """Hold the model for one frame; yields the generation the frame is analysed under."""
        with self._cond:
            while self._switching:
                self._cond.wait()
            self._users += 1
            generation = self.generation
        try:
            yield generation
        finally:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()

    @contextmanager
    def switching(self) -> Iterator[None]:
        """Swap the model: no frame is being analysed while the body runs."""
        with self._cond:
            while self._switching:
                self._cond.wait()
            self._switching = True  # new frames wait from now on
            while self._users:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self.generation += 1
                self._switching = False
                self._cond.notify_all()


class FaceEngine:
    """Detect, assess, align and embed. Call :meth:`prepare` once before use.

    Safe to share between threads (one per live camera). At most ``concurrency`` model calls run at once
    (from the settings: the usable cores divided by each call's threads, so calls never ask for more
    threads than there are cores): more would not go faster on a CPU, and each concurrent call holds its
    own working memory, which grew a process by about 90 MB per camera when every camera's thread could
    run the detector at the same time.
    """

    def __init__(self, detector: Detector, embedder: Embedder, *, concurrency: int | None = None) -> None:
        self.detector = detector
        self.embedder = embedder
        self.concurrency = concurrency or usable_cores()
        self._gate = threading.BoundedSemaphore(self.concurrency)
        self.model_lock = ModelLock()  # a live model switch (``WatchlistService.switch_model``)

    @classmethod
    def from_settings(
        cls, settings: VigilSettings, *, detector: str | None = None, embedder: str | None = None
    ) -> FaceEngine:
        cores = usable_cores()
        per_call = settings.threads or cores  # ONNX Runtime's threads per call (0: one per core)
        return cls(
            create_detector(detector or settings.detector, settings),
            create_embedder(embedder or settings.embedder, settings),
            concurrency=max(1, cores // per_call),
        )

    def prepare(self) -> FaceEngine:
        self.detector.prepare()
        self.embedder.prepare()
        return self

    def detect(self, image: np.ndarray) -> FaceDetections:
        with self._gate:
            return self.detector.detect(image)

    def chips(self, image: np.ndarray, faces: FaceDetections) -> np.ndarray:
        """Aligned chips for the embedder, (n, size, size, 3) uint8."""
        return align_faces(image, faces.kps, self.embedder.template)

    def embed(self, image: np.ndarray, faces: FaceDetections) -> Embeddings:
        """The faces' vectors, named by the embedder that made them (one embedder for the chips and the
        vectors, even when a live switch swaps ``self.embedder`` meanwhile)."""
        embedder = self.embedder
        chips = align_faces(image, faces.kps, embedder.template)
        with self._gate:
            return embedder.embed(chips)

    def analyse(self, image: np.ndarray) -> AnalysedFaces:
        faces = self.detect(image)
        return AnalysedFaces(faces, assess_quality(image, faces), self.embed(image, faces))

    def analyse_single(self, image: np.ndarray) -> AnalysedFaces:
        """Like :meth:`analyse` but requires exactly one face (e.g. an enrollment photo)."""
        faces = self.detect(image)
        if len(faces) == 0:
            raise NoFaceError("no face was found in the image")
        if len(faces) > 1:
            raise MultipleFacesError(f"{len(faces)} faces were found; exactly one is required")
        return AnalysedFaces(faces, assess_quality(image, faces), self.embed(image, faces))
