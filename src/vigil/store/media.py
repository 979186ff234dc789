"""Media: enrolled photos and alert crops, under generated names only.

A user-supplied name never becomes a path: files are named ``<32 hex>.<ext>`` by Vigil, written
atomically, and looked up only through names that match that pattern. They live in a folder
(:class:`MediaStore`, the embedded default) or in the database (:class:`DatabaseMediaStore`, for
scale-out, so that workers and web servers on different machines share them without a shared disk).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import delete, select

from vigil.store.models import MediaBlob

if TYPE_CHECKING:
    from vigil.settings import VigilSettings
    from vigil.store.db import Database

MEDIA_TYPES = {  # every extension a stored name may have
    "jpg": "image/jpeg",
    "png": "image/png",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "webp": "image/webp",
    "ppm": "image/x-portable-pixmap",
}
_NAME = re.compile(r"^[0-9a-f]{32}\.(" + "|".join(MEDIA_TYPES) + r")$")
KINDS = ("photos", "crops")
# A file younger than this may belong to a row another process is about to commit: sweeps leave it.
SWEEP_MIN_AGE_S = 600.0


def media_type(name: str) -> str:
    """The MIME type of a stored photo or crop, by its extension."""
    return MEDIA_TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream")


class MediaStore(Protocol):
    """Where photos and crops are kept: save under a generated name, read, delete, list."""

    def save(self, kind: str, data: bytes, extension: str) -> str: ...

    def read(self, kind: str, name: str) -> bytes: ...

    def delete(self, kind: str, name: str) -> bool: ...

    def names(self, kind: str, *, older_than_s: float = 0.0) -> list[str]:
        """Stored names of ``kind``; with ``older_than_s``, only those written at least that long ago."""
        ...


class FolderMediaStore:
    """Media as files under ``root`` (``photos/`` and ``crops/``)."""

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

    def names(self, kind: str, *, older_than_s: float = 0.0) -> list[str]:
        folder = self._folder(kind)
        if not folder.is_dir():
            return []
        cutoff = time.time() - older_than_s
        return sorted(
            p.name
            for p in folder.iterdir()
            if _NAME.match(p.name) and (older_than_s <= 0 or p.stat().st_mtime <= cutoff)
        )


def _check(kind: str, name: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    if not _NAME.match(name):
        raise ValueError(f"not a media name Vigil generated: {name!r}")


class DatabaseMediaStore:
    """Media in the ``media_blobs`` table (same generated names, same checks, no files)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, kind: str, data: bytes, extension: str) -> str:
        name = f"{uuid.uuid4().hex}.{extension}"
        _check(kind, name)
        with self.db.session() as session:
            session.add(MediaBlob(kind=kind, name=name, data=data))
        return name

    def read(self, kind: str, name: str) -> bytes:
        _check(kind, name)
        with self.db.session() as session:
            data = session.scalar(select(MediaBlob.data).where(MediaBlob.kind == kind, MediaBlob.name == name))
        if data is None:
            raise FileNotFoundError(f"no {kind} named {name}")
        return bytes(data)

    def delete(self, kind: str, name: str) -> bool:
        _check(kind, name)
        with self.db.session() as session:
            result = session.execute(delete(MediaBlob).where(MediaBlob.kind == kind, MediaBlob.name == name))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def names(self, kind: str, *, older_than_s: float = 0.0) -> list[str]:
        if kind not in KINDS:
            raise ValueError(f"unknown media kind {kind!r}")
        query = select(MediaBlob.name).where(MediaBlob.kind == kind).order_by(MediaBlob.name)
        if older_than_s > 0:
            query = query.where(MediaBlob.created_at <= datetime.now(UTC) - timedelta(seconds=older_than_s))
        with self.db.session() as session:
            return list(session.scalars(query))


def media_folder(settings: VigilSettings) -> Path:
    """The folder media files are kept in (when ``media_store`` is "files")."""
    return settings.data_dir / "media"


def open_media(settings: VigilSettings, db: Database) -> MediaStore:
    """The configured media store: the data directory's folder, or the database."""
    if settings.media_store == "database":
        return DatabaseMediaStore(db)
    return FolderMediaStore(media_folder(settings))
