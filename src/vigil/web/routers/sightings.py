"""Sightings: confirmed alerts, and a subject's movement trail."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from vigil.domain.vocabulary import AuditAction
from vigil.web.paging import Paged
from vigil.web.schemas import AlertOut
from vigil.web.security import Ctx, LiveUser, client_address

router = APIRouter(prefix="/api/subjects", tags=["sightings"])


@router.get("/{subject_id}/sightings", response_model=list[AlertOut])
def trail(
    subject_id: str,
    request: Request,
    response: Response,
    who: LiveUser,
    ctx: Ctx,
    paged: Paged,
    refresh: bool = False,
) -> list[AlertOut]:
    """The subject's confirmed sightings, oldest first: the movement trail (with each camera's position).
    Audited: following someone's movements is the read an insider would misuse first — each view the
    person asks for; a page's own update after a live event (``refresh=true``) only when this user was
    not shown this trail lately (vigil.web.trails)."""
    sightings = [AlertOut.of(a) for a in paged.take(ctx.alerts.sightings(subject_id), response)]
    if not ctx.trail_reads.should_audit(who.username, subject_id, refresh=refresh):
        return sightings
    ctx.audit.record(
        who.username,
        AuditAction.TRAIL_VIEWED,
        object_type="subject",
        object_id=subject_id,
        source=client_address(request),
        details={"sightings": len(sightings), "refresh": refresh},
    )
    return sightings
