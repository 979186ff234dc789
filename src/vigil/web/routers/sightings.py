"""Sightings: confirmed alerts, and a subject's movement trail."""

from __future__ import annotations

from fastapi import APIRouter

from vigil.web.schemas import AlertOut
from vigil.web.security import Ctx, LiveUser

router = APIRouter(prefix="/api/subjects", tags=["sightings"])


@router.get("/{subject_id}/sightings", response_model=list[AlertOut])
def trail(subject_id: str, _: LiveUser, ctx: Ctx) -> list[AlertOut]:
    """The subject's confirmed sightings, oldest first: the movement trail (with each camera's position)."""
    return [AlertOut.of(a) for a in ctx.alerts.sightings(subject_id)]
