"""The watchlist: subjects for the control room (operators see a subject and its trail; supervisors
propose, approve, search, suspend, and ask for reinstatements and renewals — every addition to what can
match takes two supervisors: one asks, a different one approves)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile

from vigil.domain.audit import Actor
from vigil.domain.enrollment import EnrollmentError, SubjectFields
from vigil.domain.importer import parse_expiry
from vigil.domain.users import Principal
from vigil.domain.vocabulary import PROPOSED, AuditAction, Role, SubjectStatus
from vigil.domain.watchlist import SubjectNotFoundError, SubjectRecord, WatchlistService, subject_state
from vigil.errors import VigilError
from vigil.web.context import MAX_UPLOAD_BYTES, WebContext
from vigil.web.paging import Paged
from vigil.web.schemas import EnrolledOut, RenewalIn, SubjectOut
from vigil.web.security import Ctx, Supervisor, client_address, require

router = APIRouter(prefix="/api/subjects", tags=["watchlist"])
MIN_SEARCH_REASON = 5
READERS = (Role.OPERATOR, Role.SUPERVISOR)
Reader = Annotated[Principal, Depends(require(*READERS))]


def _watchlist(ctx: WebContext) -> WatchlistService:
    if ctx.watchlist is None:
        raise HTTPException(503, "the watchlist is not loaded in this server")
    return ctx.watchlist


def _out(subject: SubjectRecord) -> SubjectOut:
    return SubjectOut(
        id=subject.id,
        display_name=subject.display_name,
        category=subject.category,
        status=subject_state(subject),
        legal_basis_type=subject.legal_basis_type,
        legal_basis_reference=subject.legal_basis_reference,
        proposed_by=subject.proposed_by,
        approved_by=subject.approved_by,
        approved_at=subject.approved_at,
        pending_action=subject.pending_action,
        pending_by=subject.pending_by,
        pending_expires_at=subject.pending_expires_at,
        expires_at=subject.expires_at,
        review_date=subject.review_date.isoformat() if subject.review_date else None,
        photo_urls=[f"/api/media/photos/{p.media_name}" for p in subject.photos],
    )


@router.get("", response_model=list[SubjectOut])
def list_subjects(
    request: Request,
    response: Response,
    who: Supervisor,
    ctx: Ctx,
    paged: Paged,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: SubjectStatus | None = None,
    pending: bool = False,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> list[SubjectOut]:
    """The watchlist (audited). Searching it by name needs a stated reason, kept in the audit entry.
    ``pending``: only entries with a change waiting for a second supervisor."""
    if q and len(reason.strip()) < MIN_SEARCH_REASON:
        raise HTTPException(422, {"rule": "search-reason", "message": "say why you are searching for this name"})
    limit, offset = paged.fetch()
    subjects = paged.cut(
        _watchlist(ctx).list_subjects(search=q, status=status, pending=pending, limit=limit, offset=offset), response
    )
    ctx.audit.record(
        who.username,
        AuditAction.SUBJECTS_SEARCHED if q else AuditAction.SUBJECTS_LISTED,
        object_type="subject",
        source=client_address(request),
        details={
            "query": q,
            "status": status,
            "reason": reason.strip(),
            "results": len(subjects),
            "offset": paged.offset,
        },
    )
    return [_out(s) for s in subjects]


MAX_DUE_DAYS = 366  # a year ahead: enough to plan renewals, not a way to read the whole watchlist


@router.get("/due", response_model=list[SubjectOut])
def due(
    request: Request,
    who: Supervisor,
    ctx: Ctx,
    response: Response,
    paged: Paged,
    days: Annotated[float, Query(ge=0, le=MAX_DUE_DAYS, allow_inf_nan=False)] = 30.0,
) -> list[SubjectOut]:
    """Entries whose expiry or review date falls within the next ``days`` days (at most a year), soonest
    first; audited like every read that returns subjects (who, what was asked, how many came back)."""
    subjects = paged.take(_watchlist(ctx).due(days), response)
    ctx.audit.record(
        who.username,
        AuditAction.SUBJECTS_DUE_LISTED,
        object_type="subject",
        source=client_address(request),
        details={"days": days, "limit": paged.limit, "offset": paged.offset, "results": len(subjects)},
    )
    return [_out(s) for s in subjects]


@router.get("/{subject_id}", response_model=SubjectOut)
def get_subject(subject_id: str, request: Request, who: Reader, ctx: Ctx) -> SubjectOut:
    try:
        subject = _out(_watchlist(ctx).get(subject_id))
    except SubjectNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    ctx.audit.record(
        who.username,
        AuditAction.SUBJECT_VIEWED,
        object_type="subject",
        object_id=subject_id,
        source=client_address(request),
    )
    return subject


@router.post("", status_code=201)
async def enroll(
    request: Request,
    who: Supervisor,
    ctx: Ctx,
    photo: UploadFile = File(...),
    name: str = Form(..., max_length=200),
    category: str = Form(..., max_length=64),
    legal_basis_type: str = Form(..., max_length=100),
    legal_basis_reference: str = Form(..., max_length=200),
    expires: str = Form(..., max_length=40),
    review: str = Form("", max_length=10),
) -> EnrolledOut:
    """Propose one person from one photo: stored, matching nobody, until a second supervisor approves
    (``POST /api/subjects/{id}/approve``). A broken rule answers 422 with the rule's name; nothing is stored."""
    data = await photo.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"photo larger than {MAX_UPLOAD_BYTES // 1_000_000} MB")
    try:
        fields = SubjectFields(
            display_name=name,
            category=category,
            legal_basis_type=legal_basis_type,
            legal_basis_reference=legal_basis_reference,
            approved_by="",
            expires_at=parse_expiry(expires),
            review_date=date.fromisoformat(review) if review else None,
            proposed_by=who.username,
        )
        # decoding, detection and embedding take seconds on a big photo: off the event loop, so every
        # other page and the live push go on meanwhile
        by = Actor(who.username, client_address(request))
        result = await asyncio.to_thread(
            lambda: _watchlist(ctx).enroll(fields, [(photo.filename or "photo", data)], by=by)
        )
    except EnrollmentError as exc:
        raise HTTPException(422, {"rule": exc.rule, "message": str(exc)}) from None
    except (VigilError, ValueError) as exc:
        raise HTTPException(422, {"rule": "input", "message": str(exc)}) from None
    return EnrolledOut(subject_id=result.subject_id, warnings=list(result.warnings), status=PROPOSED)


def _changed(request: Request, who: Principal, ctx: WebContext, change) -> SubjectOut:  # type: ignore[no-untyped-def]
    """Run a watchlist change as ``who`` (the service audits it in the change's transaction); rule
    errors answer 409 (404: no such entry)."""
    watchlist = _watchlist(ctx)
    try:
        subject = change(watchlist, Actor(who.username, client_address(request)))
    except SubjectNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    except EnrollmentError as exc:
        raise HTTPException(409, {"rule": exc.rule, "message": str(exc)}) from None
    except VigilError as exc:
        raise HTTPException(409, str(exc)) from None
    return _out(subject)


@router.post("/{subject_id}/suspend", response_model=SubjectOut)
def suspend(subject_id: str, request: Request, who: Supervisor, ctx: Ctx) -> SubjectOut:
    """Suspend at once (taking someone off what can match needs one person)."""
    return _changed(request, who, ctx, lambda w, by: w.suspend(subject_id, by=by))


@router.post("/{subject_id}/reinstate", response_model=SubjectOut)
def reinstate(subject_id: str, request: Request, who: Supervisor, ctx: Ctx) -> SubjectOut:
    """Ask for a suspended entry to match again: it does once a second supervisor approves."""
    return _changed(
        request, who, ctx, lambda w, by: w.request_reinstatement(subject_id, requested_by=who.username, by=by)
    )


@router.post("/{subject_id}/renew", response_model=SubjectOut)
def renew(subject_id: str, body: RenewalIn, request: Request, who: Supervisor, ctx: Ctx) -> SubjectOut:
    """Ask for a new expiry (within the category's longest validity): a renewal is a new approval."""
    try:
        expires_at = parse_expiry(body.expires)
    except EnrollmentError as exc:
        raise HTTPException(422, {"rule": exc.rule, "message": str(exc)}) from None
    return _changed(
        request,
        who,
        ctx,
        lambda w, by: w.request_renewal(subject_id, expires_at, requested_by=who.username, by=by),
    )


@router.post("/{subject_id}/approve", response_model=SubjectOut)
def approve(subject_id: str, request: Request, who: Supervisor, ctx: Ctx) -> SubjectOut:
    """Approve the change waiting on the entry — never the supervisor who asked for it."""
    return _changed(request, who, ctx, lambda w, by: w.approve(subject_id, approver=who.username, by=by))
