"""The pages' maps: which raster tiles to draw (``VIGIL_MAP_TILES``), and the tiles of a local .mbtiles
file served to signed-in users (issue 29). No tiles configured: the pages draw the cameras on a scaled
grid with a north arrow and a scale bar."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Response
from fastapi import Path as PathParam
from pydantic import BaseModel

from vigil.settings import VigilSettings
from vigil.web.security import AnyUser, Ctx

router = APIRouter(prefix="/api/map", tags=["map"])

TILE_URL = "/api/map/tiles/{z}/{x}/{y}"
TILE_CACHE = "private, max-age=86400"  # a signed-in user's browser keeps tiles a day; no shared cache


class MapConfig(BaseModel):
    tiles: str | None  # a URL template for Leaflet's tile layer, or None: the scaled grid
    attribution: str
    min_zoom: int
    max_zoom: int


def _mbtiles(path: str) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{Path(path).expanduser()}?mode=ro", uri=True, check_same_thread=False)


@lru_cache(maxsize=4)
def _metadata(path: str) -> dict[str, str]:
    with closing(_mbtiles(path)) as db:
        return {str(k): str(v) for k, v in db.execute("SELECT name, value FROM metadata")}


def tile_origin(settings: VigilSettings) -> str | None:
    """The scheme and host a tile URL template loads from (for the pages' image policy), else None."""
    if not settings.map_tiles.startswith(("http://", "https://")):
        return None
    parts = urlsplit(settings.map_tiles.replace("{s}", "a"))
    return f"{parts.scheme}://{parts.netloc}"


def map_config(settings: VigilSettings) -> MapConfig:
    tiles, attribution = settings.map_tiles, settings.map_attribution
    if not tiles:
        return MapConfig(tiles=None, attribution="", min_zoom=3, max_zoom=19)
    if tiles.endswith(".mbtiles"):
        meta = _metadata(tiles)
        return MapConfig(
            tiles=TILE_URL,
            attribution=attribution or meta.get("attribution", ""),
            min_zoom=int(meta.get("minzoom", 0)),
            max_zoom=int(meta.get("maxzoom", 19)),
        )
    return MapConfig(tiles=tiles, attribution=attribution, min_zoom=0, max_zoom=19)


@router.get("", response_model=MapConfig)
def map_settings(who: AnyUser, ctx: Ctx) -> MapConfig:
    """What the pages' maps draw under the cameras (no personal data: not audited)."""
    return map_config(ctx.settings)


@router.get("/tiles/{z}/{x}/{y}", responses={200: {"content": {"image/png": {}}}})
def map_tile(
    who: AnyUser,
    ctx: Ctx,
    z: int = PathParam(ge=0, le=24),
    x: int = PathParam(ge=0),
    y: int = PathParam(ge=0),
) -> Response:
    """One tile of the local .mbtiles file (XYZ numbering; the file's rows are TMS, counted from the south)."""
    tiles = ctx.settings.map_tiles
    if not tiles.endswith(".mbtiles"):
        raise HTTPException(404, "no local map tiles are configured")
    with closing(_mbtiles(tiles)) as db:
        row = db.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (1 << z) - 1 - y),
        ).fetchone()
    if row is None:
        raise HTTPException(404, "no tile there")
    data = bytes(row[0])
    media = "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"
    return Response(data, media_type=media, headers={"Cache-Control": TILE_CACHE})
