"""Authorisations: listed for everyone who oversees scanning; signed and ended by authorisers.

In the control room the authoriser signs: the logged-in authoriser is ``authorised_by`` and names the
supervisor who asked (never themselves). Both are checked by ``vigil.domain.authorisations``; the
entry in the audit log is written in the same transaction as the record.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from vigil.domain.authorisations import AuthorisationError, threshold_snapshot
from vigil.domain.thresholds import ThresholdService
from vigil.domain.users import Principal
from vigil.domain.vocabulary import Role
from vigil.web.paging import Paged
from vigil.web.schemas import AuthorisationEndIn, AuthorisationIn, AuthorisationOut
from vigil.web.security import Authoriser, Ctx, client_address, require

router = APIRouter(prefix="/api/authorisations", tags=["authorisations"])
READERS = (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR, Role.AUTHORISER)
Closer = Annotated[Principal, Depends(require(Role.AUTHORISER, Role.SUPERVISOR))]  # may end one early
Reader = Annotated[Principal, Depends(require(*READERS))]


def _error(exc: AuthorisationError) -> HTTPException:
    status = 404 if exc.rule == "authorisation-unknown" else 409 if exc.rule == "authorisation-over" else 422
    return HTTPException(status, {"rule": exc.rule, "message": str(exc)})


@router.get("", response_model=list[AuthorisationOut])
def list_authorisations(_: Reader, ctx: Ctx, response: Response, paged: Paged) -> list[AuthorisationOut]:
    now = ctx.authorisations.clock()
    return [AuthorisationOut.of(a, now) for a in paged.take(ctx.authorisations.all(), response)]


@router.post("", response_model=AuthorisationOut, status_code=201)
def add_authorisation(body: AuthorisationIn, request: Request, who: Authoriser, ctx: Ctx) -> AuthorisationOut:
    thresholds: dict[str, object] = {}
    if ctx.watchlist is not None:
        embedder = ctx.watchlist.engine.embedder
        thresholds = threshold_snapshot(
            ThresholdService(ctx.db, ctx.audit, embedder.name, embedder.version).thresholds()
        )
    try:
        view = ctx.authorisations.add(
            cameras=body.cameras,
            camera_groups=body.camera_groups,
            categories=body.categories,
            subjects=body.subjects,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            purpose=body.purpose,
            requested_by=body.requested_by,
            authorised_by=who.username,
            reason=body.reason,
            review_date=body.review_date,
            thresholds=thresholds,
            source=client_address(request),
        )
    except AuthorisationError as exc:
        raise _error(exc) from None
    return AuthorisationOut.of(view, ctx.authorisations.clock())


@router.post("/{authorisation_id}/end", response_model=AuthorisationOut)
def end_authorisation(
    authorisation_id: str,
    body: AuthorisationEndIn,
    request: Request,
    ctx: Ctx,
    who: Closer,
) -> AuthorisationOut:
    """Stop scanning under it now (a supervisor may end what an authoriser signed, never extend it)."""
    try:
        view = ctx.authorisations.end(
            authorisation_id, by=who.username, reason=body.reason, source=client_address(request)
        )
    except AuthorisationError as exc:
        raise _error(exc) from None
    return AuthorisationOut.of(view, ctx.authorisations.clock())
