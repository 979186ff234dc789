"""Cameras: health for the control room; adding and removing for admins."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from vigil.domain.authorisations import coverage_at
from vigil.domain.cameras import CameraError
from vigil.domain.leases import assignments
from vigil.domain.users import Principal
from vigil.domain.vocabulary import Role
from vigil.errors import VigilError
from vigil.pipeline.analyser import encode_jpeg
from vigil.pipeline.runtime import CameraConfig
from vigil.video.sources import grab_frame, parse_source
from vigil.vision.redact import blur_all_faces
from vigil.web.context import WebContext
from vigil.web.schemas import CameraCreate, CameraOut
from vigil.web.security import client_address, context, require

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
VIEWERS = (Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR)


def camera_list(ctx: WebContext) -> list[CameraOut]:
    """Registered cameras with their health: from the cameras running in this process, or (scaled out)
    as the workers holding them last reported it."""
    live: dict[str, dict[str, Any]]
    if ctx.runner is not None:
        health = {h.camera: h for h in ctx.runner.health()}
        live = {
            name: {
                "state": h.state.value,
                "analysed_fps": round(h.analysed_fps, 2),
                "dropped_frames": h.dropped_frames,
                "last_frame_at": datetime.fromtimestamp(h.last_frame_at, UTC) if h.last_frame_at else None,
            }
            for name, h in health.items()
        }
    else:
        now = datetime.now(UTC)
        live = {
            name: {
                "state": a.state if a.lease_until is not None and a.lease_until > now else "unassigned",
                "analysed_fps": a.analysed_fps,
                "dropped_frames": a.dropped_frames,
                "last_frame_at": a.last_frame_at,
                "worker": a.worker_id if a.lease_until is not None and a.lease_until > now else None,
            }
            for name, a in assignments(ctx.db).items()
        }
    now = ctx.authorisations.clock()
    signed = ctx.authorisations.all()
    out = []
    for view in ctx.cameras.cameras():
        coverage = coverage_at(signed, view.name, view.group, now)
        out.append(
            CameraOut(
                **view.__dict__,
                **live.get(view.name, {}),
                scanning=bool(coverage),
                authorisations=list(coverage.authorisation_ids),
                authorisation_status=coverage.why_not,
            )
        )
    return out


@router.get("", response_model=list[CameraOut])
def list_cameras(_: Principal = Depends(require(*VIEWERS)), ctx: WebContext = Depends(context)) -> list[CameraOut]:
    return camera_list(ctx)


@router.post("", response_model=CameraOut, status_code=201)
def add_camera(
    body: CameraCreate,
    request: Request,
    who: Principal = Depends(require(Role.ADMIN)),
    ctx: WebContext = Depends(context),
) -> CameraOut:
    try:
        view = ctx.cameras.add(
            body.name,
            body.url,
            latitude=body.latitude,
            longitude=body.longitude,
            analysis_fps=body.analysis_fps,
            group=body.group,
        )
    except CameraError as exc:
        raise HTTPException(422, str(exc)) from None
    if ctx.runner is not None:  # embedded mode: the new camera starts at once
        ctx.runner.add_camera(CameraConfig(view.name, parse_source(body.url, loop=True), view.analysis_fps))
    ctx.audit.record(
        who.username,
        "camera-added",
        object_type="camera",
        object_id=view.name,
        source=client_address(request),
        details={"url": view.url},
    )
    return CameraOut(**view.__dict__)


@router.get("/{name}/frame", response_class=Response)
def camera_frame(
    name: str,
    request: Request,
    who: Principal = Depends(require(Role.ADMIN)),
    ctx: WebContext = Depends(context),
) -> Response:
    """One frame of the camera as it is now, with every face blurred, for an admin aiming the camera or
    drawing on it. Read from the source on request, shown once, never stored; audited."""
    if ctx.watchlist is None:
        raise HTTPException(503, "the face detector is not loaded in this server")
    sources = {camera: spec for camera, spec, _rate in ctx.cameras.sources()}
    if name not in sources:
        raise HTTPException(404, f"no camera named {name!r}")
    engine = ctx.watchlist.engine
    try:
        image = grab_frame(sources[name])
    except VigilError as exc:
        raise HTTPException(502, str(exc)) from None
    faces = engine.detect(image)
    blurred = blur_all_faces(image, faces.xyxy)
    ctx.audit.record(
        who.username,
        "camera-frame-viewed",
        object_type="camera",
        object_id=name,
        source=client_address(request),
        details={"faces_blurred": len(faces)},
    )
    return Response(encode_jpeg(blurred), media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.delete("/{name}", status_code=204)
def remove_camera(
    name: str,
    request: Request,
    who: Principal = Depends(require(Role.ADMIN)),
    ctx: WebContext = Depends(context),
) -> None:
    try:
        ctx.cameras.remove(name)
    except CameraError as exc:
        raise HTTPException(404, str(exc)) from None
    if ctx.runner is not None:
        ctx.runner.remove_camera(name)
    ctx.audit.record(
        who.username, "camera-removed", object_type="camera", object_id=name, source=client_address(request)
    )
