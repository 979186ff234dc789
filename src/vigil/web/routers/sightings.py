"""Sightings: confirmed alerts, a subject's movement trail, and what lies around the last place seen."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from vigil.domain.places import cameras_within, rules_for
from vigil.domain.vocabulary import AuditAction
from vigil.web.paging import Paged
from vigil.web.schemas import AlertOut, LastSeenOut, NearbyCameraOut, NearbyOut, OfficerOut, RouteOut
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


@router.get("/{subject_id}/nearby", response_model=NearbyOut)
def nearby(subject_id: str, request: Request, who: LiveUser, ctx: Ctx, refresh: bool = False) -> NearbyOut:
    """Where and when the subject was last seen (the latest confirmed sighting), the cameras within
    ``VIGIL_NEARBY_KM`` of that place, nearest first, and who a red flag from them reaches: the officers of
    their camera groups (whose field view lists it) and the routing rules that would send it out. The last
    place is the trail's: audited as a trail read, a page's own update (``refresh=true``) only when this user
    was not shown this trail lately."""
    cases = ctx.alerts.last_sightings(subject_id, 1)
    km = ctx.settings.nearby_km
    if not cases or cases[0].latitude is None or cases[0].longitude is None:
        last = None
        if cases:
            c = cases[0]
            last = LastSeenOut(
                alert_id=c.id,
                camera=c.camera,
                camera_group=c.camera_group,
                latitude=None,
                longitude=None,
                at=c.last_seen,
            )
        return NearbyOut(
            subject_id=subject_id, within_km=km, last_seen=last, cameras=[], groups=[], officers=[], rules=[]
        )
    case = cases[0]
    assert case.latitude is not None and case.longitude is not None
    around = cameras_within(ctx.cameras.cameras(), case.latitude, case.longitude, km)
    groups = sorted({c.group for c in around if c.group})
    endpoints = {e.name: e for e in ctx.channels.endpoints()}
    rules = [
        r
        for r in rules_for(ctx.channels.rules(), case.category, groups)
        if r.endpoint in endpoints and endpoints[r.endpoint].active and not endpoints[r.endpoint].suspended
    ]
    if ctx.trail_reads.should_audit(who.username, subject_id, refresh=refresh):
        ctx.audit.record(
            who.username,
            AuditAction.TRAIL_VIEWED,
            object_type="subject",
            object_id=subject_id,
            source=client_address(request),
            details={"view": "nearby", "sightings": 1, "refresh": refresh},
        )
    return NearbyOut(
        subject_id=subject_id,
        within_km=km,
        last_seen=LastSeenOut(
            alert_id=case.id,
            camera=case.camera,
            camera_group=case.camera_group,
            latitude=case.latitude,
            longitude=case.longitude,
            at=case.last_seen,
        ),
        cameras=[
            NearbyCameraOut(
                name=c.name,
                group=c.group,
                latitude=c.latitude,
                longitude=c.longitude,
                distance_m=round(c.distance_m, 1),
            )
            for c in around
        ],
        groups=groups,
        officers=[
            OfficerOut(username=u.username, display_name=u.display_name, role=u.role, groups=g)
            for u, g in ctx.users.officers_in_groups(groups)
        ],
        rules=[
            RouteOut(
                name=r.name,
                endpoint=r.endpoint,
                event_kinds=list(r.event_kinds),
                categories=list(r.categories),
                camera_groups=list(r.camera_groups),
                min_score=r.min_score,
            )
            for r in rules
        ],
    )
