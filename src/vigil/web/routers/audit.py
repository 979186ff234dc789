"""The audit log for auditors: browse and export (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from vigil.redaction import spreadsheet_safe
from vigil.web.schemas import AuditOut
from vigil.web.security import Auditor, Ctx, client_address

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("", response_model=list[AuditOut])
def entries(
    _: Auditor, ctx: Ctx, limit: Annotated[int, Query(ge=1, le=5000)] = 200, action: str | None = None
) -> list[AuditOut]:
    return [AuditOut(**e.__dict__) for e in ctx.audit.entries(limit=limit, action=action)]


@router.get("/export")
def export(request: Request, who: Auditor, ctx: Ctx, format: Literal["csv", "json"] = "csv") -> Response:
    rows = [AuditOut(**e.__dict__).model_dump(mode="json") for e in ctx.audit.entries(limit=5000)]
    ctx.audit.record(who.username, "audit-exported", source=client_address(request), details={"format": format})
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
