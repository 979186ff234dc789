"""The field officer's view: the open red flags of the officer's camera groups, each with the subject's
latest confirmed sightings (a phone page, /field)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from vigil.domain.vocabulary import AuditAction
from vigil.web.schemas import AlertOut, FieldAlertOut, FieldList, SightingBrief
from vigil.web.security import Ctx, LiveUser, client_address

router = APIRouter(prefix="/api/field", tags=["field"])


@router.get("", response_model=FieldList)
def field_list(request: Request, who: LiveUser, ctx: Ctx, refresh: bool = False) -> FieldList:
    """Open red flags in the user's camera groups (``vigil users groups``; none: every area), newest
    first. Audited as a listing, and each subject's sightings shown as a trail read — on ``refresh=true``
    (the page's own update after a live event) only for a subject this user was not shown lately."""
    groups = ctx.users.groups_of(who.user_id)
    cases = ctx.alerts.open_in_groups(groups)
    source = client_address(request)
    ctx.audit.record(
        who.username,
        AuditAction.ALERTS_LISTED,
        object_type="alert",
        source=source,
        details={"view": "field", "groups": groups, "results": len(cases)},
    )
    out, trails = [], {}
    for case in cases:
        if case.subject_id not in trails:
            trails[case.subject_id] = [
                SightingBrief(
                    camera=s.camera,
                    camera_group=s.camera_group,
                    first_seen=s.first_seen,
                    latitude=s.latitude,
                    longitude=s.longitude,
                )
                for s in ctx.alerts.last_sightings(case.subject_id)
            ]
            if ctx.trail_reads.should_audit(who.username, case.subject_id, refresh=refresh):
                ctx.audit.record(
                    who.username,
                    AuditAction.TRAIL_VIEWED,
                    object_type="subject",
                    object_id=case.subject_id,
                    source=source,
                    details={"view": "field", "sightings": len(trails[case.subject_id]), "refresh": refresh},
                )
        out.append(FieldAlertOut(**AlertOut.of(case).model_dump(), last_sightings=trails[case.subject_id]))
    return FieldList(groups=groups, alerts=out)
