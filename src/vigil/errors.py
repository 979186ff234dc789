"""The exception hierarchy. Every error Vigil raises on purpose derives from :class:`VigilError`.

Messages say what was expected and what was found, and never carry secrets or face data.
"""

from __future__ import annotations


class VigilError(Exception):
    """Base class for errors Vigil raises deliberately."""


class RuleError(VigilError):
    """A request that breaks a named rule; ``rule`` is its name, shown as ``[rule] message``."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"[{rule}] {message}")
        self.rule = rule
        self.detail = message


class ConfigurationError(VigilError):
    """A setting is missing or inconsistent."""


class ModelError(VigilError):
    """Base class for model selection and loading problems."""


class UnknownModelError(ModelError):
    """A detector or embedder name that no backend answers to."""


class ModelNotAvailableError(ModelError):
    """A known backend whose weights are not present; the message says how to supply them."""


class ModelLoadError(ModelError):
    """A model file exists but is not the model that was expected."""


class ModelNotPreparedError(ModelError):
    """A backend was used before its explicit ``prepare()`` call."""


class ImageError(VigilError):
    """Base class for images that cannot be used."""


class UnreadableImageError(ImageError):
    """Empty, corrupt, truncated or non-image input."""


class ImageTooLargeError(ImageError):
    """An image whose pixel count exceeds the configured limit (a decompression-bomb guard)."""


class FaceCountError(VigilError):
    """Base class for images that do not hold exactly the faces an operation needs."""


class NoFaceError(FaceCountError):
    """No face was found where one was required."""


class MultipleFacesError(FaceCountError):
    """Several faces were found where exactly one was required."""


class DatasetError(VigilError):
    """An evaluation dataset is missing files or is malformed."""
