from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.conftest import needs_shared_models

from vigil.errors import ModelLoadError, ModelNotAvailableError, ModelNotPreparedError, UnknownModelError
from vigil.settings import VigilSettings
from vigil.vision.catalogue import create_detector, create_embedder

BUNDLED = ["centerface", "dlib-hog", "dlib-cnn"]
ALL = [*BUNDLED, pytest.param("yunet", marks=needs_shared_models)]


@pytest.fixture(scope="module")
def detectors(settings: VigilSettings) -> dict[str, object]:
    return {}


def _prepared(name: str, settings: VigilSettings, cache: dict[str, object]):  # type: ignore[no-untyped-def]
    if name not in cache:
        detector = create_detector(name, settings)
        detector.prepare()
        cache[name] = detector
    return cache[name]


def _plausible_face(kps: np.ndarray, box: np.ndarray) -> None:
    left_eye, right_eye, nose, mouth_left, mouth_right = kps
    assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    x1, y1, x2, y2 = box
    assert x1 - 5 <= nose[0] <= x2 + 5 and y1 - 5 <= nose[1] <= y2 + 5


@pytest.mark.parametrize("name", ALL)
def test_finds_the_one_face_with_ordered_landmarks(name: str, settings, detectors, astronaut) -> None:  # type: ignore[no-untyped-def]
    faces = _prepared(name, settings, detectors).detect(astronaut)
    assert np.all((faces.score >= 0) & (faces.score <= 1))
    big = faces[(faces.widths > 60) & (faces.score > 0.6)]  # dlib's HOG also fires weakly on her badge
    assert len(big) == 1
    _plausible_face(big.kps[0], big.xyxy[0])
    assert 150 < big.kps[0, 2, 0] < 300  # Eileen Collins's nose is left of centre


@pytest.mark.parametrize("name", ALL)
def test_finds_two_people(name: str, settings, detectors, two_faces) -> None:  # type: ignore[no-untyped-def]
    faces = _prepared(name, settings, detectors).detect(two_faces)
    assert len(faces[(faces.widths > 60) & (faces.score > 0.6)]) == 2


@pytest.mark.parametrize("name", ALL)
def test_no_face_in_a_blank_or_faceless_image(name: str, settings, detectors) -> None:  # type: ignore[no-untyped-def]
    import skimage.data

    detector = _prepared(name, settings, detectors)
    assert len(detector.detect(np.full((240, 320, 3), 128, np.uint8))) == 0
    assert len(detector.detect(skimage.data.coffee())) == 0


@pytest.mark.parametrize("name", ["centerface", pytest.param("yunet", marks=needs_shared_models)])
def test_boxes_are_in_source_image_pixels(name: str, settings, detectors, astronaut) -> None:  # type: ignore[no-untyped-def]
    """A face found in a downscaled 1080p-sized frame comes back in full-resolution coordinates."""
    import cv2

    detector = _prepared(name, settings, detectors)
    big = cv2.resize(astronaut, (2048, 2048))
    small_face = detector.detect(astronaut)
    big_face = detector.detect(big)
    scale = 2048 / astronaut.shape[1]
    assert np.allclose(big_face.kps[0] / scale, small_face.kps[0], atol=6)


def test_detect_refuses_non_images(settings, detectors) -> None:  # type: ignore[no-untyped-def]
    detector = _prepared("centerface", settings, detectors)
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.detect(np.zeros((50, 50), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        detector.detect(np.zeros((50, 50, 3), np.float32))


def test_use_before_prepare_is_an_error(settings: VigilSettings) -> None:
    with pytest.raises(ModelNotPreparedError):
        create_detector("centerface", settings).detect(np.zeros((64, 64, 3), np.uint8))


def test_unknown_names_are_refused(settings: VigilSettings) -> None:
    with pytest.raises(UnknownModelError, match="known models"):
        create_detector("retinaface-9000", settings)
    with pytest.raises(UnknownModelError, match="not a detector"):
        create_detector("dlib-resnet", settings)
    with pytest.raises(UnknownModelError, match="not an embedder"):
        create_embedder("centerface", settings)


def test_missing_user_model_says_how_to_supply_it(tmp_path: Path) -> None:
    settings = VigilSettings(data_dir=tmp_path)
    with pytest.raises(ModelNotAvailableError, match=r"face_detection_yunet_2023mar.onnx.*models directory"):
        create_detector("yunet", settings)
    with pytest.raises(ModelNotAvailableError, match="MobileFaceNet"):
        create_embedder("mobilefacenet", settings)


def test_mismatched_model_file_names_what_was_expected(tmp_path: Path) -> None:
    from vigil.vision.detectors.yunet import YuNetDetector

    garbage = tmp_path / "face_detection_yunet_2023mar.onnx"
    garbage.write_bytes(b"definitely not onnx")
    with pytest.raises(ModelLoadError, match="expected YuNet"):
        YuNetDetector(garbage).prepare()


@needs_shared_models
def test_wrong_onnx_network_is_refused(tmp_path: Path) -> None:
    """A valid ONNX file of the wrong kind (an embedder given as YuNet) is refused with expected outputs."""
    import shutil

    from conftest import SHARED_MODELS
    from vigil.vision.detectors.yunet import YuNetDetector

    wrong = tmp_path / "face_detection_yunet_2023mar.onnx"
    shutil.copy(SHARED_MODELS / "MobileFaceNet__foamliu.onnx", wrong)
    with pytest.raises(ModelLoadError, match=r"expected YuNet .* outputs"):
        YuNetDetector(wrong).prepare()


@pytest.mark.parametrize("name", ["centerface", "dlib-hog", pytest.param("yunet", marks=needs_shared_models)])
def test_one_detector_serves_several_camera_threads(name: str, settings, detectors, astronaut, two_faces) -> None:  # type: ignore[no-untyped-def]
    """The live runner calls one detector from every camera's thread at once: each call must give what it
    gives alone (OpenCV's YuNet keeps per-call state, so it runs one instance per thread)."""
    from concurrent.futures import ThreadPoolExecutor

    detector = _prepared(name, settings, detectors)
    images = [astronaut, two_faces, astronaut[::2, ::2].copy(), two_faces]
    alone = [detector.detect(image) for image in images]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(detector.detect, images * 3))
    for i, found in enumerate(together):
        expected = alone[i % len(images)]
        assert len(found) == len(expected)
        np.testing.assert_allclose(found.xyxy, expected.xyxy, atol=1e-3)


def test_weights_made_constants_give_the_same_detections_as_the_model_as_shipped(  # type: ignore[no-untyped-def]
    settings, detectors, astronaut, two_faces
) -> None:
    """CenterFace lists its weights among its inputs; the session makes them constants (so ONNX Runtime
    folds batch norm into the convolutions). The outputs must be the model's own, to float rounding."""
    import onnxruntime as ort

    from vigil.vision.detectors.centerface import load_centerface

    detector = _prepared("centerface", settings, detectors)
    model = load_centerface(detector.model_path)
    weights = {init.name for init in model.graph.initializer}
    assert sum(value.name in weights for value in model.graph.input) > 100  # as shipped: weights as inputs
    options = ort.SessionOptions()
    options.log_severity_level = 3  # it warns that weights listed as inputs cannot be folded: that is the point
    as_shipped = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for image in (astronaut, two_faces, rng.integers(0, 255, (288, 512, 3), dtype=np.uint8)):
        h, w = (image.shape[0] // 32) * 32, (image.shape[1] // 32) * 32
        blob = np.ascontiguousarray(image[:h, :w].transpose(2, 0, 1)[None], dtype=np.float32)
        ours = detector._session.run(None, {"input.1": blob})
        theirs = as_shipped.run(None, {"input.1": blob})
        for a, b in zip(ours, theirs, strict=True):
            assert a.shape == b.shape
            np.testing.assert_allclose(a, b, atol=2e-3, rtol=1e-3)
