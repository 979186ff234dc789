"""Media: alert crops and enrolled photos, only for the roles that see alerts and subjects. Every view
is audited, and each user opens at most ``media_views_per_hour`` different ones an hour
(``vigil.domain.access``)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, Response

from vigil.domain.users import Principal
from vigil.store.media import media_type
from vigil.web.context import WebContext
from vigil.web.security import Ctx, LiveUser, client_address

router = APIRouter(prefix="/api/media", tags=["media"])


def _serve(kind: str, name: str, request: Request, who: Principal, ctx: WebContext) -> Response:
    try:
        data = ctx.media.read(kind, name)
    except (ValueError, FileNotFoundError):
        raise HTTPException(404, "no such media") from None
    source = client_address(request)
    # counted and recorded in one transaction: parallel requests cannot all pass the same count
    allowed, viewed = ctx.access.view(ctx.audit, who.username, kind, name, datetime.now(UTC), source=source)
    if not allowed:
        reason = f"view limit: {viewed} photos and crops in the last hour (at most {ctx.access.views_per_hour})"
        ctx.refusals.refused(who.username, 429, request.method, request.url.path, source, reason)
        raise HTTPException(429, {"rule": "media-view-limit", "message": reason})
    return Response(
        data,
        media_type=media_type(name),
        headers={"Cache-Control": "private, no-store"},
    )


@router.get("/crops/{name}")
def crop(name: str, request: Request, who: LiveUser, ctx: Ctx) -> Response:
    return _serve("crops", name, request, who, ctx)


@router.get("/photos/{name}")
def photo(name: str, request: Request, who: LiveUser, ctx: Ctx) -> Response:
    return _serve("photos", name, request, who, ctx)
