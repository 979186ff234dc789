"""The audit log for auditors: browse and export (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from vigil.domain.vocabulary import AuditAction
from vigil.redaction import spreadsheet_safe
from vigil.web.paging import Paged
from vigil.web.schemas import AccessDayOut, AuditOut
from vigil.web.security import Auditor, Ctx, client_address

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
def entries(
    request: Request,
    who: Auditor,
    ctx: Ctx,
    response: Response,
    paged: Paged,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AuditOut]:
    """Newest first, a page at a time (``X-Next-Offset``); each page read is itself audited."""
    limit, offset = paged.fetch()
    page = paged.cut(ctx.audit.entries(limit=limit, action=action, offset=offset), response)
    ctx.audit.record(
        who.username,
        AuditAction.AUDIT_BROWSED,
        source=client_address(request),
        details={"action": action, "limit": paged.limit, "offset": paged.offset, "results": len(page)},
    )
    return [AuditOut(**e.__dict__) for e in page]


@router.get("/access", response_model=list[AccessDayOut])
def access_summary(
    request: Request,
    response: Response,
    who: Auditor,
    ctx: Ctx,
    paged: Paged,
    days: Annotated[int, Query(ge=1, le=92)] = 7,
) -> list[AccessDayOut]:
    """Each user's searches, subjects, trails and photos viewed per day, newest first, outliers marked."""
    summary = ctx.access.summary(days=days, now=datetime.now(UTC))
    ctx.audit.record(
        who.username, AuditAction.ACCESS_SUMMARY_VIEWED, source=client_address(request), details={"days": days}
    )
    return [
        AccessDayOut(
            username=d.username,
            day=d.day.isoformat(),
            refused_views=d.refused_views,
            outliers=list(d.outliers),
            **d.counts,
        )
        for d in paged.take(summary, response)
    ]


@router.get("/export")
def export(request: Request, who: Auditor, ctx: Ctx, format: Literal["csv", "json"] = "csv") -> Response:
    rows = [AuditOut(**e.__dict__).model_dump(mode="json") for e in ctx.audit.entries(limit=5000)]
    ctx.audit.record(
        who.username, AuditAction.AUDIT_EXPORTED, source=client_address(request), details={"format": format}
    )
    if format == "json":
        return Response(
            json.dumps(rows, indent=1),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="vigil-audit.json"'},
        )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(AuditOut.model_fields))
    writer.writeheader()
    for row in rows:
        cells = {**row, "details": json.dumps(row["details"])}
        writer.writerow({k: spreadsheet_safe(v) for k, v in cells.items()})  # an actor named "=HYPERLINK(…)"
    return Response(
        buffer.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="vigil-audit.csv"'},
    )
