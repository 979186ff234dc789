from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SHARED_MODELS, needs_shared_models

from vigil.errors import ModelLoadError, ModelNotPreparedError
from vigil.settings import VigilSettings
from vigil.vision.align import align_faces
from vigil.vision.catalogue import create_embedder
from vigil.vision.embedders.arcface_onnx import ArcFaceOnnxEmbedder


def test_dlib_embedder_returns_tagged_unit_vectors(engine, astronaut: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    faces = engine.detect(astronaut)
    emb = engine.embed(astronaut, faces)
    assert emb.vectors.shape == (len(faces), 128) and emb.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    assert emb.model == "dlib-resnet" and emb.version == "v1-onnx1+flip"


def test_flip_augmentation_is_the_normalised_sum_and_mirror_invariant(engine, dlib_embedder, astronaut) -> None:  # type: ignore[no-untyped-def]
    chips = engine.chips(astronaut, engine.detect(astronaut))
    mirrored = np.ascontiguousarray(chips[:, :, ::-1])
    plain = dlib_embedder.embed(np.concatenate([chips, mirrored])).vectors
    expected = plain[0] + plain[1]
    expected /= np.linalg.norm(expected)
    augmented = engine.embedder.embed(chips).vectors[0]
    assert np.allclose(augmented, expected, atol=1e-5)
    assert np.allclose(engine.embedder.embed(mirrored).vectors[0], augmented, atol=1e-5)
    assert dlib_embedder.version == "v1-onnx1"


def test_batched_equals_one_by_one(engine, two_faces: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    chips = engine.chips(two_faces, engine.detect(two_faces))
    together = engine.embedder.embed(chips).vectors
    alone = np.concatenate([engine.embedder.embed(chips[i : i + 1]).vectors for i in range(len(chips))])
    assert np.allclose(together, alone, atol=1e-5)


def test_same_person_scores_above_different_people(engine, astronaut, hopper) -> None:  # type: ignore[no-untyped-def]
    a = engine.analyse(astronaut).embeddings.vectors[0]
    mirrored = engine.analyse(np.ascontiguousarray(astronaut[:, ::-1])).embeddings.vectors[0]
    h = engine.analyse(hopper).embeddings.vectors[0]
    assert float(a @ mirrored) > float(a @ h) + 0.05


def test_wrong_chip_size_is_refused(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="150"):
        engine.embedder.embed(np.zeros((1, 112, 112, 3), np.uint8))


def test_unprepared_embedder_is_an_error(settings: VigilSettings) -> None:
    with pytest.raises(ModelNotPreparedError):
        create_embedder("dlib-resnet", settings).embed(np.zeros((1, 150, 150, 3), np.uint8))


@needs_shared_models
def test_mobilefacenet_batches_and_normalises(settings: VigilSettings, astronaut, hopper) -> None:  # type: ignore[no-untyped-def]
    from vigil.vision.catalogue import create_detector

    detector = create_detector("centerface", settings)
    detector.prepare()
    embedder = create_embedder("mobilefacenet", settings)
    embedder.prepare()
    chips = np.concatenate(
        [align_faces(img, detector.detect(img).kps, embedder.template) for img in (astronaut, hopper)]
    )
    emb = embedder.embed(chips)
    assert emb.vectors.shape == (2, 128)
    assert np.allclose(np.linalg.norm(emb.vectors, axis=1), 1.0, atol=1e-5)
    assert float(emb.vectors[0] @ emb.vectors[1]) < 0.5
    assert len(emb.version) == 12  # no mirror augmentation by default for this model


@needs_shared_models
def test_onnx_prefix_loads_any_arcface_style_file(settings: VigilSettings) -> None:
    embedder = create_embedder("onnx:MobileFaceNet__foamliu.onnx", settings)
    embedder.prepare()
    assert embedder.name == "onnx-MobileFaceNet__foamliu"


@needs_shared_models
def test_non_arcface_onnx_is_refused_with_expected_shape(tmp_path: Path) -> None:
    wrong = tmp_path / "detector.onnx"
    shutil.copy(SHARED_MODELS / "face_detection_yunet_2023mar.onnx", wrong)
    with pytest.raises(ModelLoadError, match=r"expected (input shape \(N, 3, S, S\)|an \(N, D\) embedding output)"):
        ArcFaceOnnxEmbedder(wrong, name="x").prepare()


def test_onnx_embedders_have_a_provisional_threshold_by_their_built_name() -> None:
    from vigil.vision.catalogue import default_threshold

    assert default_threshold("onnx:model.onnx") == default_threshold("onnx-model") == 0.5
