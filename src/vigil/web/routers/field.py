"""The field officer's view (a phone page, /field): the open red flags of the officer's camera groups, and
for the shift every one the officer took up, each with the subject's latest confirmed sightings and the
officer's own actions; and the actions themselves — acknowledge, on my way, not found — recorded and
audited (issue 29)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, HTTPException, Request

from vigil.domain.adjudication import AdjudicationError, AlertNotFoundError, FieldActionRecord
from vigil.domain.vocabulary import AuditAction
from vigil.web.schemas import (
    AlertOut,
    FieldActionBrief,
    FieldActionIn,
    FieldActionOut,
    FieldAlertOut,
    FieldList,
    SightingBrief,
)
from vigil.web.security import Ctx, LiveUser, client_address

router = APIRouter(prefix="/api/field", tags=["field"])


def _brief(record: FieldActionRecord) -> FieldActionBrief:
    return FieldActionBrief(action=record.action, acted_at=record.acted_at, received_at=record.received_at)  # type: ignore[arg-type]


@router.get("", response_model=FieldList)
def field_list(request: Request, who: LiveUser, ctx: Ctx, refresh: bool = False) -> FieldList:
    """Open red flags in the user's camera groups (``vigil users groups``; none: every area), and those
    this user acknowledged or acted on within the shift (``VIGIL_SHIFT_HOURS``) even once decided or
    elsewhere, newest first. Audited as a listing, and each subject's sightings shown as a trail read —
    on ``refresh=true`` (the page's own update after a live event) only for a subject this user was not
    shown lately."""
    groups = ctx.users.groups_of(who.user_id)
    shift_start = datetime.now(UTC) - timedelta(hours=ctx.settings.shift_hours)
    cases = ctx.alerts.for_officer(groups, who, shift_start=shift_start)
    mine = ctx.alerts.field_actions([c.id for c in cases], who.user_id)
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
        out.append(
            FieldAlertOut(
                **AlertOut.of(case).model_dump(),
                last_sightings=trails[case.subject_id],
                my_actions=[_brief(r) for r in mine.get(case.id, [])],
            )
        )
    return FieldList(groups=groups, shift_hours=ctx.settings.shift_hours, alerts=out)


@router.post("/{alert_id}/actions", response_model=FieldActionOut)
def field_action(alert_id: str, body: FieldActionIn, request: Request, who: LiveUser, ctx: Ctx) -> FieldActionOut:
    """An officer's action on a red flag: ``acknowledge`` (also the red flag's acknowledgement when nobody
    was first: it stops the escalation and is sent out), ``on-my-way`` or ``not-found``. Recorded with
    when it was tapped and audited; the same ``client_id`` sent again (a phone resending what it queued
    offline) records nothing more (``recorded: false``)."""
    try:
        record, new = ctx.alerts.field_action(
            alert_id, who, body.action, client_id=body.client_id, acted_at=body.acted_at, source=client_address(request)
        )
    except AlertNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except AdjudicationError as exc:
        raise HTTPException(403 if exc.rule == "role" else 409 if exc.rule == "client-id" else 422, str(exc)) from None
    if new:
        ctx.feed.updated(alert_id)  # an acknowledgement shows on every open page
    return FieldActionOut(recorded=new, action=_brief(record), alert=AlertOut.of(ctx.alerts.get(alert_id)))
