from __future__ import annotations

import numpy as np
import pytest

from vigil.errors import MultipleFacesError, NoFaceError


def test_analyse_returns_aligned_results(engine, two_faces: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    result = engine.analyse(two_faces)
    assert len(result) == len(result.quality) == len(result.embeddings) >= 2


def test_analyse_single_requires_exactly_one_face(engine, astronaut, two_faces) -> None:  # type: ignore[no-untyped-def]
    assert len(engine.analyse_single(astronaut)) == 1
    with pytest.raises(MultipleFacesError, match="exactly one"):
        engine.analyse_single(two_faces)
    with pytest.raises(NoFaceError):
        engine.analyse_single(np.full((200, 200, 3), 90, np.uint8))
