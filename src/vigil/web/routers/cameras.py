"""Cameras: health for the control room; adding and removing for admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from vigil.domain.audit import Actor
from vigil.domain.authorisations import coverage_at
from vigil.domain.cameras import CameraError, CameraView, check_network_source, checked_zones
from vigil.domain.users import Principal
from vigil.domain.vocabulary import AuditAction, Role
from vigil.errors import VigilError
from vigil.netguard import RULE as OUTBOUND_RULE
from vigil.web.context import WebContext
from vigil.web.paging import Paged
from vigil.web.schemas import CameraCreate, CameraOut, CoveringOut, DetectionOut, ZonesIn
from vigil.web.security import Admin, Ctx, client_address, require

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
VIEWERS = (Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR)
Viewer = Annotated[Principal, Depends(require(*VIEWERS))]


def _fields(view: CameraView) -> dict[str, Any]:
    return {**view.__dict__, "zones": None if view.zones is None else view.zones.as_json()}


def camera_list(ctx: WebContext) -> list[CameraOut]:
    """Registered cameras with their health (as the fleet reports it: this process's runner, or the
    workers holding them) and whether an authorisation covers each now."""
    live = ctx.fleet.live()
    now = ctx.authorisations.clock()
    signed = ctx.authorisations.all()
    out = []
    for view in ctx.cameras.cameras():
        coverage = coverage_at(signed, view.name, view.group, now)
        state = live.get(view.name)
        detection = None if state is None else state.detection
        out.append(
            CameraOut(
                **_fields(view),
                detection=None
                if detection is None
                else DetectionOut(**detection.__dict__, detected_share=round(detection.detected_share, 4)),
                state=None if state is None else state.state,
                analysed_fps=None if state is None else state.analysed_fps,
                dropped_frames=None if state is None else state.dropped_frames,
                last_frame_at=None if state is None else state.last_frame_at,
                worker=None if state is None else state.worker,
                scanning=bool(coverage),
                authorisations=list(coverage.authorisation_ids),
                covering=[
                    CoveringOut(id=a.id, purpose=a.purpose, starts_at=a.starts_at, ends_at=a.ends_at)
                    for a in signed
                    if a.id in coverage.authorisation_ids
                ],
                authorisation_status=coverage.why_not,
                authorisation_reason=coverage.why_code,
                authorisation_reason_at=None
                if coverage.why_at is None
                else datetime.fromtimestamp(coverage.why_at, UTC),
            )
        )
    return out


@router.get("", response_model=list[CameraOut])
def list_cameras(_: Viewer, ctx: Ctx, response: Response, paged: Paged) -> list[CameraOut]:
    return paged.take(camera_list(ctx), response)


@router.post("", response_model=CameraOut, status_code=201)
def add_camera(body: CameraCreate, request: Request, who: Admin, ctx: Ctx) -> CameraOut:
    try:
        check_network_source(body.url, allow_local=ctx.settings.web_cameras_local)
        view = ctx.cameras.add(
            body.name,
            body.url,
            latitude=body.latitude,
            longitude=body.longitude,
            analysis_fps=body.analysis_fps,
            group=body.group,
            by=Actor(who.username, client_address(request)),
        )
    except CameraError as exc:
        if exc.rule == "camera-local":  # the outbound guard's rule for cameras: on the record
            ctx.audit.record(
                who.username,
                AuditAction.OUTBOUND_REFUSED,
                object_type="camera",
                object_id=body.name,
                source=client_address(request),
                details={"reason": exc.detail},
            )
        raise HTTPException(422, str(exc)) from None
    ctx.fleet.camera_added(view.name)  # embedded: it starts at once (once an authorisation covers it)
    return CameraOut(**_fields(view))


@router.get("/{name}/frame", response_class=Response)
def camera_frame(name: str, request: Request, who: Admin, ctx: Ctx) -> Response:
    """One frame of the camera as it is now, with every face blurred, for an admin aiming the camera or
    drawing on it. Read from the source on request, shown once, never stored; audited."""
    if ctx.watchlist is None:
        raise HTTPException(503, "the face detector is not loaded in this server")
    try:
        jpeg, blurred = ctx.cameras.blurred_frame(name, ctx.watchlist.engine)
    except CameraError as exc:
        if exc.rule == OUTBOUND_RULE:  # the camera's address now fails the outbound guard: nothing connected
            ctx.audit.record(
                who.username,
                AuditAction.OUTBOUND_REFUSED,
                object_type="camera",
                object_id=name,
                source=client_address(request),
                details={"reason": exc.detail},
            )
            raise HTTPException(422, {"rule": exc.rule, "message": exc.detail}) from None
        raise HTTPException(404, str(exc)) from None
    except VigilError as exc:
        raise HTTPException(502, str(exc)) from None
    ctx.audit.record(
        who.username,
        AuditAction.CAMERA_FRAME_VIEWED,
        object_type="camera",
        object_id=name,
        source=client_address(request),
        details={"faces_blurred": blurred},
    )
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.put("/{name}/zones", response_model=CameraOut)
def set_zones(name: str, body: ZonesIn, request: Request, who: Admin, ctx: Ctx) -> CameraOut:
    """Replace the camera's detection zones and masks (polygons in the pixels of a ``frame`` of [w, h]);
    none of either: the whole frame. Every polygon is checked first; a broken rule changes nothing."""
    try:
        zones = checked_zones(body.model_dump()) if body.zones or body.masks else None
        view = ctx.cameras.set_zones(name, zones, by=Actor(who.username, client_address(request)))
    except CameraError as exc:
        raise HTTPException(404, str(exc)) from None
    except VigilError as exc:
        raise HTTPException(422, str(exc)) from None
    ctx.fleet.zones_changed(name)
    return CameraOut(**_fields(view))


@router.delete("/{name}", status_code=204)
def remove_camera(name: str, request: Request, who: Admin, ctx: Ctx) -> None:
    try:
        ctx.cameras.remove(name, by=Actor(who.username, client_address(request)))
    except CameraError as exc:
        raise HTTPException(404, str(exc)) from None
    ctx.fleet.camera_removed(name)
