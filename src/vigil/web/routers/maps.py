"""The pages' maps: which raster tiles to draw (``VIGIL_MAP_TILES``), and the tiles of a local .mbtiles or
.pmtiles file served to signed-in users (issue 29; vigil.web.tiles reads them). No tiles configured: the
pages draw the cameras on a scaled grid with a north arrow and a scale bar."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Response
from fastapi import Path as PathParam
from pydantic import BaseModel

from vigil.settings import VigilSettings
from vigil.web.security import AnyUser, Ctx
from vigil.web.tiles import TileFileError, is_local, open_tiles

router = APIRouter(prefix="/api/map", tags=["map"])

TILE_URL = "/api/map/tiles/{z}/{x}/{y}"
TILE_CACHE = "private, max-age=86400"  # a signed-in user's browser keeps tiles a day; no shared cache


class MapConfig(BaseModel):
    tiles: str | None  # a URL template for Leaflet's tile layer, or None: the scaled grid
    attribution: str
    min_zoom: int
    max_zoom: int


def tile_origin(settings: VigilSettings) -> str | None:
    """The scheme and host a tile URL template loads from (for the pages' image policy), else None."""
    if not settings.map_tiles.startswith(("http://", "https://")):
        return None
    parts = urlsplit(settings.map_tiles.replace("{s}", "a"))
    return f"{parts.scheme}://{parts.netloc}"


def map_config(settings: VigilSettings) -> MapConfig:
    """What the maps draw; a local file that cannot be served raises TileFileError (one line: which, why)."""
    tiles, attribution = settings.map_tiles, settings.map_attribution
    if not tiles:
        return MapConfig(tiles=None, attribution="", min_zoom=3, max_zoom=19)
    if is_local(tiles):
        info = open_tiles(tiles).info
        return MapConfig(
            tiles=TILE_URL,
            attribution=attribution or info.attribution,
            min_zoom=info.min_zoom,
            max_zoom=info.max_zoom,
        )
    return MapConfig(tiles=tiles, attribution=attribution, min_zoom=0, max_zoom=19)


@router.get("", response_model=MapConfig)
def map_settings(who: AnyUser, ctx: Ctx) -> MapConfig:
    """What the pages' maps draw under the cameras (no personal data: not audited)."""
    try:
        return map_config(ctx.settings)
    except TileFileError as exc:
        raise HTTPException(503, str(exc)) from None


@router.get(
    "/tiles/{z}/{x}/{y}",
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}}},
)
def map_tile(
    who: AnyUser,
    ctx: Ctx,
    z: int = PathParam(ge=0, le=24),
    x: int = PathParam(ge=0),
    y: int = PathParam(ge=0),
) -> Response:
    """One tile of the local .mbtiles or .pmtiles file (XYZ numbering)."""
    tiles = ctx.settings.map_tiles
    if not is_local(tiles):
        raise HTTPException(404, "no local map tiles are configured")
    try:
        found = open_tiles(tiles).tile(z, x, y)
    except TileFileError as exc:
        raise HTTPException(503, str(exc)) from None
    if found is None:
        raise HTTPException(404, "no tile there")
    data, media = found
    return Response(data, media_type=media, headers={"Cache-Control": TILE_CACHE})
