"""The embedder protocol: aligned chips in, L2-normalised vectors tagged with model and version out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from vigil.vision.align import ChipTemplate
from vigil.vision.types import Embeddings


@runtime_checkable
class Embedder(Protocol):
    name: str
    template: ChipTemplate

    @property
    def dim(self) -> int:
        """Length of the vectors (known after :meth:`prepare` for file-based models)."""
        ...

    @property
    def version(self) -> str:
        """Identifies the exact weights; stored next to every embedding so models never mix."""
        ...

    def prepare(self) -> None:
        """Load (and if needed convert) the weights; raises ModelError subclasses."""
        ...

    def embed(self, chips: np.ndarray) -> Embeddings:
        """(n, size, size, 3) uint8 RGB chips aligned to :attr:`template` -> (n, dim) unit vectors."""
        ...


def check_chips(chips: np.ndarray, size: int) -> np.ndarray:
    chips = np.asarray(chips)
    if chips.ndim != 4 or chips.shape[1:] != (size, size, 3) or chips.dtype != np.uint8:
        raise ValueError(f"chips must be (n, {size}, {size}, 3) uint8, got {chips.shape} {chips.dtype}")
    return np.ascontiguousarray(chips)


def batches(count: int, batch_size: int) -> list[slice]:
    return [slice(start, min(start + batch_size, count)) for start in range(0, count, batch_size)]
