"""The watchlist: subjects for the control room (operators see a subject and its trail; supervisors
enroll, search, suspend and reinstate)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, UploadFile

from vigil.domain.enrollment import EnrollmentError, SubjectFields
from vigil.domain.importer import parse_expiry
from vigil.domain.users import Principal
from vigil.domain.vocabulary import Role, SubjectStatus
from vigil.domain.watchlist import SubjectNotFoundError, SubjectRecord, WatchlistService
from vigil.errors import VigilError
from vigil.web.context import MAX_UPLOAD_BYTES, WebContext
from vigil.web.schemas import EnrolledOut, SubjectOut
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
        status=subject.status,
        legal_basis_type=subject.legal_basis_type,
        legal_basis_reference=subject.legal_basis_reference,
        approved_by=subject.approved_by,
        expires_at=subject.expires_at,
        review_date=subject.review_date.isoformat() if subject.review_date else None,
        photo_urls=[f"/api/media/photos/{p.media_name}" for p in subject.photos],
    )


@router.get("", response_model=list[SubjectOut])
def list_subjects(
    request: Request,
    who: Supervisor,
    ctx: Ctx,
    q: Annotated[str | None, Query(max_length=200)] = None,
    status: SubjectStatus | None = None,
    reason: Annotated[str, Query(max_length=500)] = "",
) -> list[SubjectOut]:
    """The watchlist (audited). Searching it by name needs a stated reason, kept in the audit entry."""
    if q and len(reason.strip()) < MIN_SEARCH_REASON:
        raise HTTPException(422, {"rule": "search-reason", "message": "say why you are searching for this name"})
    subjects = _watchlist(ctx).list_subjects(search=q, status=status)
    ctx.audit.record(
        who.username,
        "subjects-searched" if q else "subjects-listed",
        object_type="subject",
        source=client_address(request),
        details={"query": q, "status": status, "reason": reason.strip(), "results": len(subjects)},
    )
    return [_out(s) for s in subjects]


@router.get("/due", response_model=list[SubjectOut])
def due(
    _: Supervisor, ctx: Ctx, days: Annotated[float, Query(ge=0, le=3650, allow_inf_nan=False)] = 30.0
) -> list[SubjectOut]:
    """Entries whose expiry or review date falls within the next ``days`` days, soonest first."""
    return [_out(s) for s in _watchlist(ctx).due(days)]


@router.get("/{subject_id}", response_model=SubjectOut)
def get_subject(subject_id: str, request: Request, who: Reader, ctx: Ctx) -> SubjectOut:
    try:
        subject = _out(_watchlist(ctx).get(subject_id))
    except SubjectNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None
    ctx.audit.record(
        who.username, "subject-viewed", object_type="subject", object_id=subject_id, source=client_address(request)
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
    approved_by: str = Form(..., max_length=200),
    expires: str = Form(..., max_length=40),
    review: str = Form("", max_length=10),
) -> EnrolledOut:
    """Enroll one person from one photo. A broken rule answers 422 with the rule's name; nothing is stored."""
    data = await photo.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"photo larger than {MAX_UPLOAD_BYTES // 1_000_000} MB")
    try:
        fields = SubjectFields(
            display_name=name,
            category=category,
            legal_basis_type=legal_basis_type,
            legal_basis_reference=legal_basis_reference,
            approved_by=approved_by,
            expires_at=parse_expiry(expires),
            review_date=date.fromisoformat(review) if review else None,
        )
        # decoding, detection and embedding take seconds on a big photo: off the event loop, so every
        # other page and the live push go on meanwhile
        result = await asyncio.to_thread(_watchlist(ctx).enroll, fields, [(photo.filename or "photo", data)])
    except EnrollmentError as exc:
        raise HTTPException(422, {"rule": exc.rule, "message": str(exc)}) from None
    except (VigilError, ValueError) as exc:
        raise HTTPException(422, {"rule": "input", "message": str(exc)}) from None
    ctx.audit.record(
        who.username,
        "subject-enrolled",
        object_type="subject",
        object_id=result.subject_id,
        source=client_address(request),
        details={"category": category},
    )
    return EnrolledOut(subject_id=result.subject_id, warnings=list(result.warnings))


def _status_change(action: str):  # type: ignore[no-untyped-def]
    def change(subject_id: str, request: Request, who: Supervisor, ctx: Ctx) -> SubjectOut:
        watchlist = _watchlist(ctx)
        try:
            subject = watchlist.suspend(subject_id) if action == "suspend" else watchlist.reinstate(subject_id)
        except SubjectNotFoundError as exc:
            raise HTTPException(404, str(exc)) from None
        except VigilError as exc:
            raise HTTPException(409, str(exc)) from None
        ctx.audit.record(
            who.username,
            {"suspend": "subject-suspended", "reinstate": "subject-reinstated"}[action],
            object_type="subject",
            object_id=subject_id,
            source=client_address(request),
        )
        return _out(watchlist.get(subject.id))

    return change


router.post("/{subject_id}/suspend", response_model=SubjectOut)(_status_change("suspend"))
router.post("/{subject_id}/reinstate", response_model=SubjectOut)(_status_change("reinstate"))
