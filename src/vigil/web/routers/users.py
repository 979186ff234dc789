"""Users (admin only). Access is granted by two admins: a user added here, or a role changed, waits
(inactive, or on the old role) until a different admin approves it."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from vigil.domain.audit import Actor
from vigil.domain.users import UserError
from vigil.web.paging import Paged
from vigil.web.schemas import RoleChange, UserAdminOut, UserCreate
from vigil.web.security import Admin, Ctx, client_address

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=list[UserAdminOut])
def list_users(_: Admin, ctx: Ctx, response: Response, paged: Paged) -> list[UserAdminOut]:
    return [UserAdminOut.of_summary(u) for u in paged.take(ctx.users.all_users(), response)]


@router.post("", response_model=UserAdminOut, status_code=201)
def add_user(body: UserCreate, request: Request, who: Admin, ctx: Ctx) -> UserAdminOut:
    """Propose a user: created inactive, active once another admin approves."""
    try:
        created = ctx.users.add(
            body.username,
            body.password,
            body.role,
            display_name=body.display_name,
            requested_by=who.username,
            by=Actor(who.username, client_address(request)),
        )
    except UserError as exc:
        raise HTTPException(422, str(exc)) from None
    return UserAdminOut.of_summary(ctx.users.summary(created.username))


@router.post("/{username}/role", response_model=UserAdminOut)
def request_role(username: str, body: RoleChange, request: Request, who: Admin, ctx: Ctx) -> UserAdminOut:
    """Ask for a role change: it takes effect when another admin approves."""
    try:
        asked = ctx.users.request_role(
            username, body.role, requested_by=who.username, by=Actor(who.username, client_address(request))
        )
    except UserError as exc:
        raise HTTPException(404 if exc.rule == "user-unknown" else 422, str(exc)) from None
    return UserAdminOut.of_summary(asked)


@router.post("/{username}/approve", response_model=UserAdminOut)
def approve(username: str, body: RoleChange, request: Request, who: Admin, ctx: Ctx) -> UserAdminOut:
    """A second admin approves the user or role change waiting on ``username``, naming the role that was
    proposed as they saw it: a proposal changed since is refused (409 ``grant-changed``)."""
    try:
        approved = ctx.users.approve(
            username, approver=who.username, role=body.role, by=Actor(who.username, client_address(request))
        )
    except UserError as exc:
        status = 404 if exc.rule == "user-unknown" else 409
        ctx.refusals.refused(who.username, status, request.method, request.url.path, client_address(request), str(exc))
        raise HTTPException(status, {"rule": exc.rule, "message": exc.detail}) from None
    return UserAdminOut.of_summary(approved)


@router.post("/{username}/deactivate", status_code=204)
def deactivate(username: str, request: Request, who: Admin, ctx: Ctx) -> None:
    try:
        ctx.users.set_active(username, False, by=Actor(who.username, client_address(request)))
    except UserError as exc:
        raise HTTPException(404 if exc.rule == "user-unknown" else 409, str(exc)) from None
