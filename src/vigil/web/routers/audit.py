"""The audit log for auditors: browse and export (CSV, JSON)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response

from vigil.domain.vocabulary import AuditAction
from vigil.redaction import spreadsheet_safe
from vigil.web.paging import Paged
from vigil.web.schemas import AccessDayOut, AuditOut, AuditVerifyOut
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
    actor: Annotated[str | None, Query(max_length=64, description="who")] = None,
    object_type: Annotated[str | None, Query(max_length=64, description="alert, subject, camera, …")] = None,
    object_id: Annotated[str | None, Query(max_length=128, description="the object's id or name")] = None,
    since: Annotated[datetime | None, Query(description="at or after (ISO 8601 with a zone)")] = None,
    until: Annotated[datetime | None, Query(description="at or before (ISO 8601 with a zone)")] = None,
    before: Annotated[int | None, Query(ge=1, description="entries older than this id (the last one shown)")] = None,
) -> list[AuditOut]:
    """Newest first, a page at a time (``X-Next-Offset``, or ``before`` the last id shown), narrowed by
    who, action, object and time; each page read is itself audited."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, f"{name}: give a time zone (e.g. 2026-12-03T10:00:00+05:30)")
    limit, offset = paged.fetch()
    filters = {
        "action": action or None,
        "actor": actor or None,
        "object_type": object_type or None,
        "object_id": object_id or None,
        "since": since,
        "until": until,
        "before": before,
    }
    found = ctx.audit.entries(limit=limit, offset=offset, **filters)  # type: ignore[arg-type]
    page = paged.cut(found, response)
    asked = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in filters.items() if v is not None}
    ctx.audit.record(
        who.username,
        AuditAction.AUDIT_BROWSED,
        source=client_address(request),
        details={"action": action, **asked, "limit": paged.limit, "offset": paged.offset, "results": len(page)},
    )
    return [AuditOut(**e.__dict__) for e in page]


@router.post("/verify", response_model=AuditVerifyOut)
def verify(request: Request, who: Auditor, ctx: Ctx) -> AuditVerifyOut:
    """Walk the chain from entry 1 and, where ``VIGIL_AUDIT_ANCHOR`` is set, check it against the last
    anchor published there (what ``vigil audit verify`` does); the result is itself audited."""
    from vigil.domain.audit_anchor import AnchorError, last_anchor, verify_against

    source = ctx.settings.audit_anchor
    anchor, anchor_error = None, None
    if source:
        try:
            anchor = last_anchor(source)
            result = verify_against(ctx.audit, anchor)
        except AnchorError as exc:
            anchor_error = str(exc)
            result = ctx.audit.verify()
    else:
        result = ctx.audit.verify()
    ok = result.ok and anchor_error is None
    out = AuditVerifyOut(
        ok=ok,
        entries=result.entries,
        head=result.head,
        first_bad=result.first_bad,
        reason=result.reason or anchor_error or "",
        anchored=source is not None,
        anchor_at=None if anchor is None else anchor.at,
        anchor_entries=None if anchor is None else anchor.entries,
        anchor_head=None if anchor is None else anchor.head,
    )
    ctx.audit.record(
        who.username,
        AuditAction.AUDIT_VERIFIED,
        source=client_address(request),
        details={"ok": ok, "entries": result.entries, "first_bad": result.first_bad, "anchor_at": out.anchor_at},
    )
    return out


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
