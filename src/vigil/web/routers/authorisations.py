"""Authorisations: listed for everyone who oversees scanning; requested by supervisors, signed by
authorisers, ended by either.

In the control room a supervisor requests (the logged-in supervisor is the requester; every camera,
group, category and subject must exist; the start at most five minutes ago) and a different person
with the authoriser role signs the request as it was made (the digest shown with it). Each step is
audited in the transaction that records it; each refusal is audited too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from vigil.domain.authorisations import AuthorisationError, threshold_snapshot
from vigil.domain.thresholds import ThresholdService
from vigil.domain.users import Principal
from vigil.domain.vocabulary import Role
from vigil.web.context import WebContext
from vigil.web.paging import Paged
from vigil.web.schemas import AuthorisationEndIn, AuthorisationIn, AuthorisationOut, AuthorisationSignIn
from vigil.web.security import Authoriser, Ctx, Supervisor, client_address, require

router = APIRouter(prefix="/api/authorisations", tags=["authorisations"])
READERS = (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR, Role.AUTHORISER)
Closer = Annotated[Principal, Depends(require(Role.AUTHORISER, Role.SUPERVISOR))]  # may end one early
Reader = Annotated[Principal, Depends(require(*READERS))]


STATUS = {"authorisation-unknown": 404, "authorisation-over": 409, "authorisation-changed": 409}


def _error(exc: AuthorisationError, request: Request, who: Principal, ctx: WebContext) -> HTTPException:
    """One JSON error naming the rule; the refusal is audited."""
    status = STATUS.get(exc.rule, 422)
    ctx.refusals.refused(who.username, status, request.method, request.url.path, client_address(request), str(exc))
    return HTTPException(status, {"rule": exc.rule, "message": str(exc)})


@router.get("", response_model=list[AuthorisationOut])
def list_authorisations(_: Reader, ctx: Ctx, response: Response, paged: Paged) -> list[AuthorisationOut]:
    """Requests waiting for a signature first, then the authorisations, newest start first."""
    now = ctx.authorisations.clock()
    every = ctx.authorisations.requests() + ctx.authorisations.all()
    return [AuthorisationOut.of(a, now) for a in paged.take(every, response)]


@router.post("", response_model=AuthorisationOut, status_code=201)
def request_authorisation(body: AuthorisationIn, request: Request, who: Supervisor, ctx: Ctx) -> AuthorisationOut:
    """A supervisor asks (``"state": "requested"``); nothing scans until an authoriser signs it."""
    try:
        view = ctx.authorisations.request(
            cameras=body.cameras,
            camera_groups=body.camera_groups,
            categories=body.categories,
            subjects=body.subjects,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            purpose=body.purpose,
            requested_by=who.username,
            reason=body.reason,
            review_date=body.review_date,
            source=client_address(request),
        )
    except AuthorisationError as exc:
        raise _error(exc, request, who, ctx) from None
    return AuthorisationOut.of(view, ctx.authorisations.clock())


@router.post("/{authorisation_id}/sign", response_model=AuthorisationOut)
def sign_authorisation(
    authorisation_id: str, body: AuthorisationSignIn, request: Request, who: Authoriser, ctx: Ctx
) -> AuthorisationOut:
    """An authoriser (not the requester) signs a request as it was made: ``digest`` is the one shown with
    it; a request changed since is refused (409 ``authorisation-changed``)."""
    thresholds: dict[str, object] = {}
    if ctx.watchlist is not None:
        embedder = ctx.watchlist.engine.embedder
        thresholds = threshold_snapshot(
            ThresholdService(ctx.db, ctx.audit, embedder.name, embedder.version).thresholds()
        )
    try:
        view = ctx.authorisations.sign(
            authorisation_id,
            digest=body.digest,
            authorised_by=who.username,
            thresholds=thresholds,
            source=client_address(request),
        )
    except AuthorisationError as exc:
        raise _error(exc, request, who, ctx) from None
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
        raise _error(exc, request, who, ctx) from None
    return AuthorisationOut.of(view, ctx.authorisations.clock())
