"""Reports: counts of alerts and decisions by camera, category and status (never faces or names)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy import func, select

from vigil.domain.users import Principal
from vigil.domain.vocabulary import Role
from vigil.store.models import Alert, Subject
from vigil.web.context import WebContext
from vigil.web.security import context, require

router = APIRouter(prefix="/api/reports", tags=["reports"])


@router.get("/summary")
def summary(
    _: Principal = Depends(require(Role.AUDITOR, Role.SUPERVISOR)),
    ctx: WebContext = Depends(context),
) -> dict[str, object]:
    with ctx.db.session() as session:
        by = session.execute(
            select(Alert.camera, Subject.category, Alert.status, func.count())
            .join(Subject, Subject.id == Alert.subject_id)
            .group_by(Alert.camera, Subject.category, Alert.status)
        ).all()
    rows = [{"camera": c, "category": k, "status": s, "alerts": int(n)} for c, k, s, n in by]
    return {"rows": rows, "total": sum(int(n) for *_, n in by)}
