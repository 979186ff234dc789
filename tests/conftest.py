"""Shared fixtures. Data from ../shared is optional: tests that need it skip with a clear reason."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from vigil.settings import VigilSettings

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LFW = SHARED / "data" / "lfw"
VIDEO = SHARED / "data" / "video"
SHARED_MODELS = SHARED / "models"

needs_lfw = pytest.mark.skipif(not (LFW / "pairs.txt").is_file(), reason=f"LFW not found at {LFW}")
needs_video = pytest.mark.skipif(
    not (VIDEO / "crowd_walk_1080p.mp4").is_file(), reason=f"crowd clip not found in {VIDEO}"
)
needs_shared_models = pytest.mark.skipif(
    not (SHARED_MODELS / "face_detection_yunet_2023mar.onnx").is_file(),
    reason=f"YuNet/MobileFaceNet files not found in {SHARED_MODELS}",
)


@pytest.fixture(scope="session")
def session_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vigil-data")


@pytest.fixture(scope="session")
def settings(session_data_dir: Path) -> VigilSettings:
    """Settings with a per-session data dir (the dlib conversion is cached there once)."""
    return VigilSettings(data_dir=session_data_dir, models_dir=SHARED_MODELS)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


@pytest.fixture(scope="session")
def hopper() -> np.ndarray:
    from vigil.samples import sample_images

    return sample_images()[1]


@pytest.fixture(scope="session")
def two_faces(astronaut: np.ndarray, hopper: np.ndarray) -> np.ndarray:
    """A collage holding two different people side by side."""
    height = max(astronaut.shape[0], hopper.shape[0])
    canvas = np.full((height, astronaut.shape[1] + hopper.shape[1], 3), 255, np.uint8)
    canvas[: astronaut.shape[0], : astronaut.shape[1]] = astronaut
    canvas[: hopper.shape[0], astronaut.shape[1] :] = hopper
    return canvas


@pytest.fixture(scope="session")
def engine(settings: VigilSettings):  # type: ignore[no-untyped-def]
    from vigil.vision.engine import FaceEngine

    return FaceEngine.from_settings(settings).prepare()


@pytest.fixture(scope="session")
def dlib_embedder(settings: VigilSettings):  # type: ignore[no-untyped-def]
    """dlib's network through ONNX, without mirror augmentation (for equivalence with dlib itself)."""
    from vigil.vision.catalogue import create_plain_embedder

    embedder = create_plain_embedder("dlib-resnet", settings)
    embedder.prepare()
    return embedder


POSTGRES_ADMIN_URL = os.environ.get("VIGIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL.replace("postgresql+psycopg", "postgresql"), connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "not reachable here"
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL} ({type(exc).__name__})"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database per test: a SQLite file, or a new PostgreSQL database dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vigil.db'}"
        return
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)
    with fresh_postgres() as url:
        yield url


@contextmanager
def fresh_postgres(prefix: str = "vigil_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards); yields its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
