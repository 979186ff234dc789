"""Reports: counts of alerts and decisions by camera, category and status (never faces or names)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from vigil.domain.transparency import alert_counts
from vigil.domain.users import Principal
from vigil.domain.vocabulary import Role
from vigil.web.security import Ctx, require

router = APIRouter(prefix="/api/reports", tags=["reports"])
Overseer = Annotated[Principal, Depends(require(Role.AUDITOR, Role.SUPERVISOR))]


class SummaryRow(BaseModel):
    camera: str
    category: str
    status: str
    alerts: int


class Summary(BaseModel):
    rows: list[SummaryRow]
    total: int


@router.get("/summary", response_model=Summary)
def summary(ctx: Ctx, _: Overseer) -> Summary:
    counts = alert_counts(ctx.db)
    return Summary(rows=[SummaryRow(**c.__dict__) for c in counts], total=sum(c.alerts for c in counts))
