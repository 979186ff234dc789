"""Media: alert crops and enrolled photos, only for the roles that see alerts and subjects. Every view
is audited."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from vigil.domain.users import Principal
from vigil.web.context import WebContext
from vigil.web.security import Ctx, LiveUser, client_address

router = APIRouter(prefix="/api/media", tags=["media"])
TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "webp": "image/webp",
    "ppm": "image/x-portable-pixmap",
}


def _serve(kind: str, name: str, request: Request, who: Principal, ctx: WebContext) -> Response:
    try:
        data = ctx.media.read(kind, name)
    except (ValueError, FileNotFoundError):
        raise HTTPException(404, "no such media") from None
    ctx.audit.record(
        who.username,
        "photo-viewed" if kind == "photos" else "crop-viewed",
        object_type=kind,
        object_id=name,
        source=client_address(request),
    )
    return Response(
        data,
        media_type=TYPES.get(name.rsplit(".", 1)[-1], "application/octet-stream"),
        headers={"Cache-Control": "private, no-store"},
    )


@router.get("/crops/{name}")
def crop(name: str, request: Request, who: LiveUser, ctx: Ctx) -> Response:
    return _serve("crops", name, request, who, ctx)


@router.get("/photos/{name}")
def photo(name: str, request: Request, who: LiveUser, ctx: Ctx) -> Response:
    return _serve("photos", name, request, who, ctx)
