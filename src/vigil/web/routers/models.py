"""Face models (issue 26), for admins: every added model with its licence, source, checksum and
calibration, which one is active, and a switch (with a reason, followed to the end) or a roll back to
the model active before. The switch is the one ``vigil models use`` makes: one audit entry, and every
running server takes the new model up without a restart."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from vigil.domain.audit import Actor
from vigil.domain.models import ModelRegistry, SwitchProgress, bundled_embedders
from vigil.errors import ModelError
from vigil.web.schemas import Strict
from vigil.web.security import Admin, Ctx, client_address

router = APIRouter(prefix="/api/models", tags=["models"])


class AddedModelOut(BaseModel):
    name: str
    file_name: str
    sha256: str
    version: str
    licence: str
    source: str
    input_size: int
    dim: int
    added_at: datetime
    added_by: str
    calibrated_on: str
    calibrated_at: datetime | None


class ActiveOut(BaseModel):
    name: str
    version: str
    sha256: str
    since: datetime
    by: str
    reason: str


class SwitchOut(BaseModel):
    name: str
    by: str
    state: str  # running, done, failed
    done: int
    total: int
    error: str | None
    embedded: int | None = None
    thresholds_before: dict[str, float] = {}
    thresholds_after: dict[str, float] = {}

    @classmethod
    def of(cls, p: SwitchProgress) -> SwitchOut:
        r = p.result
        return cls(
            name=p.name,
            by=p.by,
            state=p.state,
            done=p.done,
            total=p.total,
            error=p.error,
            embedded=None if r is None else r.embedded,
            thresholds_before={} if r is None else {k: round(v, 4) for k, v in r.before.items()},
            thresholds_after={} if r is None else {k: round(v, 4) for k, v in r.after.items()},
        )


class ModelsOut(BaseModel):
    active: ActiveOut | None  # None: no switch yet, every process runs its configured embedder
    running: str  # the embedder this server matches with now
    added: list[AddedModelOut]
    bundled: list[str]
    previous: str | None  # what a roll back returns to
    switch: SwitchOut | None


class SwitchIn(Strict):
    name: str = Field(min_length=1, max_length=64)
    reason: str = Field(max_length=2000)


class RollbackIn(Strict):
    reason: str = Field(max_length=2000)


def _registry(ctx: Ctx) -> ModelRegistry:
    return ModelRegistry(ctx.db, ctx.audit)


@router.get("", response_model=ModelsOut)
def list_models(_: Admin, ctx: Ctx) -> ModelsOut:
    registry = _registry(ctx)
    active = registry.active()
    current = ctx.model_switch.current
    return ModelsOut(
        active=None if active is None else ActiveOut(**active.__dict__),
        running=ctx.watchlist.model if ctx.watchlist is not None else active.name if active else ctx.settings.embedder,
        added=[
            AddedModelOut(**{k: v for k, v in m.__dict__.items() if k != "calibration_id"}) for m in registry.list()
        ],
        bundled=bundled_embedders(),
        previous=ctx.model_switch.previous(),
        switch=None if current is None else SwitchOut.of(current),
    )


def _start(ctx: Ctx, request: Request, who: Admin, name: str, reason: str) -> SwitchOut:
    try:
        progress = ctx.model_switch.start(name, reason=reason, by=Actor(who.username, client_address(request)))
    except ModelError as exc:
        raise HTTPException(409 if "under way" in str(exc) else 422, str(exc)) from None
    return SwitchOut.of(progress)


@router.post("/switch", response_model=SwitchOut, status_code=202)
def switch(body: SwitchIn, request: Request, who: Admin, ctx: Ctx) -> SwitchOut:
    """Start switching every process to ``name``: the enrolled photos are re-embedded (follow it with
    GET /api/models/switch), then the thresholds follow the new curves, with one audit entry."""
    registry = _registry(ctx)
    if name_unknown(registry, body.name):
        raise HTTPException(404, f"no model named {body.name!r}: add it first (`vigil models add`)")
    return _start(ctx, request, who, body.name, body.reason)


@router.post("/rollback", response_model=SwitchOut, status_code=202)
def rollback(body: RollbackIn, request: Request, who: Admin, ctx: Ctx) -> SwitchOut:
    """Switch back to the model active before the current one (its templates were kept: no re-embedding
    unless photos were enrolled since)."""
    previous = ctx.model_switch.previous()
    if previous is None:
        raise HTTPException(409, "no earlier model to roll back to")
    return _start(ctx, request, who, previous, body.reason)


@router.get("/switch", response_model=SwitchOut | None)
def switch_progress(_: Admin, ctx: Ctx) -> SwitchOut | None:
    current = ctx.model_switch.current
    return None if current is None else SwitchOut.of(current)


def name_unknown(registry: ModelRegistry, name: str) -> bool:
    return name not in bundled_embedders() and registry.get(name) is None
