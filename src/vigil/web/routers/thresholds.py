"""Thresholds: each category's operating point with its expected error rates, changes (supervisors,
recorded with a reason), and live figures from adjudication outcomes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import Field

from vigil.domain.thresholds import ThresholdError, ThresholdService
from vigil.domain.users import Principal
from vigil.domain.vocabulary import Role
from vigil.web.context import WebContext
from vigil.web.paging import Paged
from vigil.web.schemas import LiveFigureOut, Strict, ThresholdChangeOut, ThresholdOut, ThresholdSetOut
from vigil.web.security import Ctx, Supervisor, client_address, require

router = APIRouter(prefix="/api/thresholds", tags=["thresholds"])
READERS = (Role.SUPERVISOR, Role.AUDITOR)
Reader = Annotated[Principal, Depends(require(*READERS))]


class ThresholdIn(Strict):
    value: float = Field(gt=0, lt=1)
    reason: str = Field(max_length=2000)


def _service(ctx: WebContext) -> ThresholdService:
    if ctx.watchlist is None:
        raise HTTPException(503, "the watchlist is not loaded in this server")
    embedder = ctx.watchlist.engine.embedder
    return ThresholdService(ctx.db, ctx.audit, embedder.name, embedder.version)


@router.get("", response_model=list[ThresholdOut])
def list_thresholds(_: Reader, ctx: Ctx) -> list[ThresholdOut]:
    """Each category's policy and threshold in force with its source, and the expected false alerts per
    passer-by, miss and hit rates at the current watchlist size (from the calibrated or shipped curves)."""
    return [ThresholdOut(**t.__dict__) for t in _service(ctx).thresholds()]


@router.post("/{category}", response_model=ThresholdSetOut)
def set_threshold(category: str, body: ThresholdIn, request: Request, who: Supervisor, ctx: Ctx) -> ThresholdSetOut:
    try:
        change = _service(ctx).set(
            category, body.value, by=who.username, reason=body.reason, source=client_address(request)
        )
    except ThresholdError as exc:
        raise HTTPException(422, {"rule": exc.rule, "message": str(exc)}) from None
    if ctx.matcher is not None:
        ctx.matcher.forget()  # the pipeline picks up the new rule at once
    return ThresholdSetOut(category=category, before=change.before, after=change.after)


class PolicyIn(Strict):
    false_alerts_per_1000: float = Field(gt=0, lt=1000)
    reason: str = Field(max_length=2000)


@router.post("/{category}/policy", response_model=ThresholdOut)
def set_policy(category: str, body: PolicyIn, request: Request, who: Supervisor, ctx: Ctx) -> ThresholdOut:
    """State a category's policy (false alerts per 1,000 passers-by): its threshold then follows the error
    curves and the watchlist size; a threshold set by hand is cleared."""
    try:
        now = _service(ctx).set_policy(
            category, body.false_alerts_per_1000, by=who.username, reason=body.reason, source=client_address(request)
        )
    except ThresholdError as exc:
        raise HTTPException(422, {"rule": exc.rule, "message": str(exc)}) from None
    if ctx.matcher is not None:
        ctx.matcher.forget()
    return ThresholdOut(**now.__dict__)


@router.get("/history", response_model=list[ThresholdChangeOut])
def history(_: Reader, ctx: Ctx, response: Response, paged: Paged) -> list[ThresholdChangeOut]:
    return [
        ThresholdChangeOut(
            at=c.at,
            category=c.category,
            before=c.before,
            after=c.after,
            by=c.changed_by,
            reason=c.reason,
            watchlist_size=c.watchlist_size,
            expected_false_alert_rate=c.expected_false_alert_rate,
            expected_miss_rate=c.expected_miss_rate,
        )
        for c in paged.take(_service(ctx).history(), response)
    ]


@router.get("/live", response_model=list[LiveFigureOut])
def live(_: Reader, ctx: Ctx) -> list[LiveFigureOut]:
    """Observed false alerts per camera and category (rejected per track analysed) against the expected rate."""
    return [LiveFigureOut(**f.__dict__) for f in _service(ctx).live_figures()]
