"""Alerts: the queue, one alert, decisions, and the live stream (WebSocket)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Request, Response, WebSocket, WebSocketDisconnect

from vigil.domain.adjudication import AdjudicationError, AlertFilters, AlertNotFoundError, page_mark
from vigil.domain.audit import Actor
from vigil.domain.enrollment import EnrollmentError
from vigil.domain.evidence import EvidenceError
from vigil.domain.thresholds import template_floor
from vigil.domain.users import Principal
from vigil.domain.vocabulary import AlertStatus, AuditAction, Role
from vigil.web.context import WebContext
from vigil.web.paging import MAX_PAGE
from vigil.web.schemas import AlertEvidenceOut, AlertList, AlertOut, DecisionIn, EvidenceIn, OutcomeIn
from vigil.web.security import SESSION_COOKIE, Ctx, LiveUser, Supervisor, client_address

router = APIRouter(prefix="/api/alerts", tags=["alerts"])
CREDENTIAL_CHECK_S = 1.0  # an open live socket re-checks its session or token this often
LIVE = (Role.OPERATOR, Role.SUPERVISOR)


Band = Literal["strong", "moderate", "weak"]


@router.get("", response_model=AlertList)
def list_alerts(
    request: Request,
    who: LiveUser,
    ctx: Ctx,
    status: AlertStatus | None = None,
    open_only: bool = False,
    decided_only: Annotated[bool, Query(description="confirmed, rejected or inconclusive only")] = False,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    group: Annotated[str | None, Query(max_length=64, description="the camera's area")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    band: Annotated[Band | None, Query(description="the evidence band (docs/control-room.md)")] = None,
    since: Annotated[datetime | None, Query(description="stored at or after (ISO 8601 with a zone)")] = None,
    until: Annotated[datetime | None, Query(description="stored at or before (ISO 8601 with a zone)")] = None,
    subject: Annotated[str | None, Query(max_length=100, description="part of the subject's name")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"at most {MAX_PAGE} a page")] = 100,
    after: Annotated[str | None, Query(max_length=120, description="the previous page's `next`")] = None,
) -> AlertList:
    """Newest first, a page at a time (at most ``MAX_PAGE``), narrowed by the filters given; every read is
    audited with its filters."""
    mark = parse_page_mark(after)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise HTTPException(422, f"{name}: give a time zone (e.g. 2026-12-03T10:00:00+05:30)")
    if open_only and decided_only:
        raise HTTPException(422, "open_only and decided_only exclude each other")
    filters = AlertFilters(
        decided_only=decided_only,
        camera=camera or None,
        group=group or None,
        category=category or None,
        band=band,
        since=since,
        until=until,
        subject=(subject or "").strip() or None,
    )
    alerts = ctx.alerts.recent(status=status, open_only=open_only, limit=limit, after=mark, filters=filters)
    asked = {
        k: (v.isoformat() if isinstance(v, datetime) else v)
        for k, v in (
            ("decided_only", decided_only),
            ("camera", filters.camera),
            ("group", filters.group),
            ("category", filters.category),
            ("band", band),
            ("since", since),
            ("until", until),
            ("subject", filters.subject),
        )
        if v
    }
    ctx.audit.record(
        who.username,
        AuditAction.ALERTS_LISTED,
        object_type="alert",
        source=client_address(request),
        details={
            "status": status,
            "open_only": open_only,
            "limit": limit,
            "after": after,
            "results": len(alerts),
            **asked,
        },
    )
    more = len(alerts) == limit
    return AlertList(
        alerts=[AlertOut.of(a) for a in alerts],
        open=ctx.alerts.open_count(),
        next=format_page_mark(page_mark(alerts[-1])) if more else None,
        categories=ctx.alerts.categories(),
    )


def format_page_mark(mark: tuple[datetime, str]) -> str:
    return f"{mark[0].isoformat()}~{mark[1]}"


def parse_page_mark(text: str | None) -> tuple[datetime, str] | None:
    """A page mark from ``?after=``; a malformed one is the client's error (422)."""
    if text is None:
        return None
    created, _, alert_id = text.partition("~")
    try:
        when = datetime.fromisoformat(created)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None or not re.fullmatch(r"[0-9a-f]{32}", alert_id):
        raise HTTPException(422, "after: not a page mark from this list's `next`")
    return when, alert_id


@router.get("/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: str, request: Request, who: LiveUser, ctx: Ctx) -> AlertOut:
    try:
        view = ctx.alerts.get(alert_id)
    except AlertNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    ctx.audit.record(
        who.username, AuditAction.ALERT_VIEWED, object_type="alert", object_id=alert_id, source=client_address(request)
    )
    return AlertOut.of(view)


@router.get("/{alert_id}/context", response_model=AlertEvidenceOut)
def get_context(alert_id: str, request: Request, who: LiveUser, ctx: Ctx) -> AlertEvidenceOut:
    """The track's best faces, the scene frame, the subject's enrolled photos with their dates, category,
    legal basis, expiry and earlier decided sightings, and the evidence band (audited as a view)."""
    try:
        evidence = ctx.alerts.evidence(alert_id)
    except AlertNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    ctx.audit.record(
        who.username,
        AuditAction.ALERT_VIEWED,
        object_type="alert",
        object_id=alert_id,
        source=client_address(request),
        details={"part": "context"},
    )
    return AlertEvidenceOut.of(evidence)


@router.post("/{alert_id}/decision", response_model=AlertOut)
def decide(alert_id: str, body: DecisionIn, request: Request, who: LiveUser, ctx: Ctx) -> AlertOut:
    try:
        view = ctx.alerts.decide(alert_id, who, body.decision, body.reason, source=client_address(request))
    except AlertNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except AdjudicationError as exc:
        raise HTTPException(409 if exc.rule in ("closed", "second-confirmation") else 422, str(exc)) from None
    ctx.metrics.decisions[body.decision] += 1
    out = AlertOut.of(view)
    ctx.feed.updated(alert_id)  # to this server's browsers and, scaled out, every other server's
    return out


@router.post("/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge(alert_id: str, request: Request, who: LiveUser, ctx: Ctx) -> AlertOut:
    """ "I'm on it": taken up by this user (separate from deciding it); stops its escalation."""
    try:
        view = ctx.alerts.acknowledge(alert_id, who, source=client_address(request))
    except AlertNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except AdjudicationError as exc:
        raise HTTPException(409 if exc.rule == "closed" else 403, str(exc)) from None
    ctx.feed.updated(alert_id)
    return AlertOut.of(view)


@router.post("/{alert_id}/outcome", response_model=AlertOut)
def record_outcome(alert_id: str, body: OutcomeIn, request: Request, who: LiveUser, ctx: Ctx) -> AlertOut:
    """What happened after a confirmed sighting (located, not located, spoken to, arrested, other)."""
    try:
        view = ctx.alerts.record_outcome(alert_id, who, body.outcome, body.note, source=client_address(request))
    except AlertNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except AdjudicationError as exc:
        raise HTTPException(409 if exc.rule == "outcome-unconfirmed" else 422, str(exc)) from None
    return AlertOut.of(view)


@router.post("/{alert_id}/template", response_model=AlertOut)
def add_template(alert_id: str, request: Request, who: Supervisor, ctx: Ctx) -> AlertOut:
    """A supervisor adds the face of this confirmed sighting to its subject's templates (audited)."""
    if ctx.watchlist is None:
        raise HTTPException(503, "the watchlist is not loaded in this server")
    embedder = ctx.watchlist.engine.embedder
    try:
        ctx.watchlist.add_sighting_template(
            alert_id,
            min_similarity=template_floor(ctx.db, embedder.name, embedder.version),
            by=Actor(who.username, client_address(request)),
        )
    except EnrollmentError as exc:
        raise HTTPException(404 if exc.rule == "alert" else 422, {"rule": exc.rule, "message": str(exc)}) from None
    return AlertOut.of(ctx.alerts.get(alert_id))


@router.post(
    "/{alert_id}/evidence",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the signed evidence pack"}},
)
def export_evidence(alert_id: str, body: EvidenceIn, request: Request, who: Supervisor, ctx: Ctx) -> Response:
    """A supervisor exports the signed evidence pack of a confirmed alert (docs/evidence.md); the reason
    is kept with the export in the audit log, with the pack's SHA-256."""
    if ctx.evidence is None:
        raise HTTPException(503, "evidence packs are not available in this server")
    try:
        pack = ctx.evidence.export(alert_id, Actor(who.username, client_address(request)), body.reason)
    except AlertNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except EvidenceError as exc:
        status = 409 if exc.rule == "evidence-unconfirmed" else 503 if exc.rule == "evidence-chain" else 422
        raise HTTPException(status, {"rule": exc.rule, "message": exc.detail}) from None
    return Response(
        pack.data,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="vigil-evidence-{alert_id}.zip"',
            "X-Evidence-SHA256": pack.sha256,
        },
    )


def same_origin(origin: str | None, host: str | None) -> bool:
    """A browser's WebSocket from a page of this server (or a client that sends no Origin: not a browser)."""
    if origin is None:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    return parsed.scheme in ("http", "https") and bool(host) and parsed.netloc.lower() == (host or "").lower()


@router.websocket("/live")
async def live(websocket: WebSocket) -> None:
    """Every new or decided alert, pushed as JSON, to logged-in operators and supervisors."""
    ctx: WebContext = websocket.app.state.ctx
    if not same_origin(websocket.headers.get("origin"), websocket.headers.get("host")):
        await websocket.close()  # another site's page using the operator's cookie: the handshake is refused
        return
    cookie = websocket.cookies.get(SESSION_COOKIE, "")
    ticket = websocket.query_params.get("ticket", "")
    # a single-use ticket (POST /api/auth/ticket) or the session cookie; never a token in the URL
    redeemed = await asyncio.to_thread(ctx.users.redeem_ticket, ticket) if ticket else None
    parent_id = redeemed[1] if redeemed else None
    resolved = (redeemed[0], "") if redeemed else (None if ticket else ctx.users.resolve(cookie, "session"))
    await websocket.accept()  # then closed with a code the page can read: 4401 log in again, 4403 not allowed
    if resolved is None or resolved[0].role not in LIVE:
        who, code = ("", 4401) if resolved is None else (resolved[0].username, 4403)
        source = client_address(websocket)
        reason = "no valid ticket or session" if resolved is None else "this role does not see live alerts"
        await asyncio.to_thread(ctx.refusals.refused, who, code, "WS", websocket.url.path, source, reason)
        await websocket.close(code=code)
        return
    viewer = resolved[0]
    await asyncio.to_thread(
        ctx.audit.record,
        viewer.username,
        AuditAction.LIVE_SOCKET_OPENED,
        object_type="alert",
        source=client_address(websocket),
        details={"by": "ticket" if redeemed else "session"},
    )
    queue = ctx.hub.subscribe()
    checked = time.monotonic()

    def still_valid() -> Principal | None:
        if parent_id is not None:
            return ctx.users.resolve_id(parent_id)
        again = ctx.users.resolve(cookie, "session")
        return None if again is None else again[0]

    try:
        await websocket.send_json({"type": "hello", "open": ctx.alerts.open_count()})
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), timeout=CREDENTIAL_CHECK_S)
            except TimeoutError:
                message = ""
            # The credential is checked again at least every CREDENTIAL_CHECK_S: after a logout, a
            # deactivation, a revoked token or an expired session the socket is closed, not left streaming.
            if time.monotonic() - checked >= CREDENTIAL_CHECK_S:
                checked = time.monotonic()
                still = await asyncio.to_thread(still_valid)
                if still is None or still.role not in LIVE:
                    await websocket.close(code=4401 if still is None else 4403)
                    break
            if message is None:
                break
            if message:
                await websocket.send_text(message)
    except (WebSocketDisconnect, asyncio.CancelledError, RuntimeError):
        pass
    finally:
        ctx.hub.unsubscribe(queue)
