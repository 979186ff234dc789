"""The media folder: enrolled photos (and later alert crops) under generated names only.

A user-supplied name never becomes a path: files are named ``<32 hex>.<ext>`` by Vigil, written
atomically, and looked up only through names that match that pattern.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from pathlib import Path

_NAME = re.compile(r"^[0-9a-f]{32}\.(jpg|png|bmp|tif|webp|ppm)$")
KINDS = ("photos", "crops")


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, kind: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"unknown media kind {kind!r}")
        return self.root / kind

    def path(self, kind: str, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"not a media name Vigil generated: {name!r}")
        return self._folder(kind) / name

    def save(self, kind: str, data: bytes, extension: str) -> str:
        """Write ``data`` under a fresh generated name and return the name."""
        name = f"{uuid.uuid4().hex}.{extension}"
        target = self.path(kind, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return name

    def read(self, kind: str, name: str) -> bytes:
        return self.path(kind, name).read_bytes()

    def delete(self, kind: str, name: str) -> bool:
        """Remove a file; returns whether it existed."""
        try:
            self.path(kind, name).unlink()
            return True
        except FileNotFoundError:
            return False

    def names(self, kind: str) -> list[str]:
        folder = self._folder(kind)
        return sorted(p.name for p in folder.iterdir() if _NAME.match(p.name)) if folder.is_dir() else []
