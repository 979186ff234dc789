"""The exception hierarchy. Every error Vigil raises on purpose derives from :class:`VigilError`.

Messages say what was expected and what was found, and never carry secrets or face data.
"""

from __future__ import annotations

import logging
import sys
import time


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


class ModelMismatchError(ModelError):
    """This process would run a different embedder (or a different file under the same name) from the one
    the database says is active."""


class ModelRegistryError(ModelError):
    """A request to add, remove or switch a face model that breaks a named rule."""


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


class RepeatedFailure:
    """Logs a failure a loop retries (through a database or Redis outage) without flooding the log: the
    first with its traceback, then one line at most every ``every_s`` while it lasts, and one line when
    it stops. Call :meth:`failed` inside the ``except`` block and :meth:`ok` after a success."""

    def __init__(self, logger: logging.Logger, what: str, *, every_s: float = 30.0) -> None:
        self.logger = logger
        self.what = what
        self.every_s = every_s
        self._since: float | None = None
        self._logged = 0.0
        self.count = 0

    def failed(self) -> None:
        now = time.monotonic()
        self.count += 1
        if self._since is None:
            self._since = self._logged = now
            self.logger.exception(self.what)
        elif now - self._logged >= self.every_s:
            self._logged = now
            error = sys.exc_info()[1]
            self.logger.warning(
                "%s: still failing (%d times in %.0f s): %s", self.what, self.count, now - self._since, error
            )

    def ok(self) -> None:
        if self._since is not None:
            self.logger.info(
                "%s: works again after %d failures in %.0f s", self.what, self.count, time.monotonic() - self._since
            )
            self._since, self.count = None, 0
