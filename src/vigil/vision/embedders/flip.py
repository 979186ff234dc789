"""Mirror-image test-time augmentation: each face's embedding is the normalised sum of the embeddings
of its chip and of the chip flipped left-right, at twice the embedding cost. Whether it helps depends
on the model (BENCHMARKS.md): LFW View 2 with CenterFace + dlib-resnet went from 98.95% to 99.17%,
while MobileFaceNet lost 0.3 points on three folds, so it is on by default for dlib-resnet only."""

from __future__ import annotations

import numpy as np

from vigil.vision.align import ChipTemplate
from vigil.vision.embedders.base import Embedder, check_chips
from vigil.vision.types import Embeddings, l2_normalise


class FlipAugmentedEmbedder:
    """Wraps any :class:`Embedder`; vectors are tagged ``<version>+flip`` so they never mix with plain ones."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name: str = inner.name
        self.template: ChipTemplate = inner.template

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def version(self) -> str:
        return f"{self.inner.version}+flip"

    def prepare(self) -> None:
        self.inner.prepare()

    def embed(self, chips: np.ndarray) -> Embeddings:
        chips = check_chips(chips, self.template.size)
        count = len(chips)
        if count == 0:
            return Embeddings(np.zeros((0, 1), np.float32), model=self.name, version=self.version)
        both = self.inner.embed(np.concatenate([chips, chips[:, :, ::-1]])).vectors
        return Embeddings(l2_normalise(both[:count] + both[count:]), model=self.name, version=self.version)
