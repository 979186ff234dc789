"""Local raster tile files the control room serves itself (``VIGIL_MAP_TILES``): an MBTiles 1.3 file
(SQLite, rows counted from the south) or a PMTiles v3 archive (one file of Hilbert-ordered tiles with
a directory, read with protomaps' ``pmtiles`` package). Both answer XYZ tiles.

A file that cannot be read, or holds vector tiles, is refused with one error naming the file and why
(``TileFileError``): the maps here draw raster images."""

from __future__ import annotations

import gzip
import mmap
import sqlite3
import threading
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from vigil.errors import VigilError


class TileFileError(VigilError):
    """A local tile file that Vigil cannot serve."""


@dataclass(frozen=True)
class TileInfo:
    min_zoom: int
    max_zoom: int
    attribution: str


class TileFile(Protocol):
    info: TileInfo

    def tile(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        """The tile's bytes and media type, or None where the file has none."""
        ...


def _media_type(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


class MBTiles:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            with closing(self._open()) as db:
                meta = {str(k): str(v) for k, v in db.execute("SELECT name, value FROM metadata")}
        except sqlite3.Error as exc:
            raise TileFileError(f"{path}: not a readable .mbtiles file ({exc})") from None
        if meta.get("format", "png") not in ("png", "jpg", "jpeg", "webp"):
            raise TileFileError(f"{path}: holds {meta.get('format')} tiles; the maps draw raster (PNG, JPEG, WebP)")
        self.info = TileInfo(int(meta.get("minzoom", 0)), int(meta.get("maxzoom", 19)), meta.get("attribution", ""))

    def _open(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def tile(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        with closing(self._open()) as db:
            row = db.execute(
                "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
                (z, x, (1 << z) - 1 - y),
            ).fetchone()
        if row is None:
            return None
        data = bytes(row[0])
        return data, _media_type(data)


# PMTiles v3 tile types (the header's byte 99) that are images, and their media types.
PMTILES_RASTER = {2: "image/png", 3: "image/jpeg", 4: "image/webp", 5: "image/avif"}


class PMTiles:
    """A PMTiles v3 archive, memory-mapped once and read with the ``pmtiles`` package's reader."""

    def __init__(self, path: Path) -> None:
        from pmtiles.reader import Reader
        from pmtiles.tile import Compression

        self.path = path
        try:
            with path.open("rb") as f:
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as exc:
            raise TileFileError(f"{path}: cannot be read ({exc})") from None
        self._reader = Reader(lambda offset, length: self._map[offset : offset + length])
        self._lock = threading.Lock()
        try:
            header: dict[str, Any] = dict(self._reader.header())
            metadata = self._reader.metadata() if header["metadata_length"] else {}
        except Exception as exc:  # the package raises its own exceptions, or struct/gzip/JSON errors
            raise TileFileError(f"{path}: not a PMTiles v3 archive ({type(exc).__name__}: {exc})") from None
        kind = header["tile_type"].value
        if kind not in PMTILES_RASTER:
            raise TileFileError(
                f"{path}: holds {header['tile_type'].name} tiles; the maps draw raster (PNG, JPEG, WebP)"
            )
        self._media = PMTILES_RASTER[kind]
        self._gzipped = header["tile_compression"] == Compression.GZIP
        attribution = metadata.get("attribution", "") if isinstance(metadata, dict) else ""
        self.info = TileInfo(int(header["min_zoom"]), int(header["max_zoom"]), str(attribution))

    def tile(self, z: int, x: int, y: int) -> tuple[bytes, str] | None:
        if x >= 1 << z or y >= 1 << z:
            return None
        with self._lock:
            data = self._reader.get(z, x, y)
        if not data:
            return None
        data = bytes(data)
        return (gzip.decompress(data) if self._gzipped else data), self._media


def is_local(tiles: str) -> bool:
    return tiles.endswith((".mbtiles", ".pmtiles"))


@lru_cache(maxsize=4)
def open_tiles(path: str) -> TileFile:
    """The local tile file at ``path`` (kept open for the process), or TileFileError."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise TileFileError(f"{file}: no such map tile file")
    return PMTiles(file) if path.endswith(".pmtiles") else MBTiles(file)
