"""Users (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request

from vigil.domain.users import UserError
from vigil.web.schemas import UserCreate, UserOut
from vigil.web.security import Admin, Ctx, client_address

router = APIRouter(prefix="/api/users", tags=["users"])


@router.get("", response_model=list[UserOut])
def list_users(_: Admin, ctx: Ctx) -> list[UserOut]:
    return [UserOut.of(p) for p in ctx.users.all_users()]


@router.post("", response_model=UserOut, status_code=201)
def add_user(body: UserCreate, request: Request, who: Admin, ctx: Ctx) -> UserOut:
    try:
        created = ctx.users.add(body.username, body.password, body.role, display_name=body.display_name)
    except UserError as exc:
        raise HTTPException(422, str(exc)) from None
    ctx.audit.record(
        who.username,
        "user-added",
        object_type="user",
        object_id=created.user_id,
        source=client_address(request),
        details={"username": created.username, "role": created.role},
    )
    return UserOut.of(created)


@router.post("/{username}/deactivate", status_code=204)
def deactivate(username: str, request: Request, who: Admin, ctx: Ctx) -> None:
    try:
        ctx.users.set_active(username, False)
    except UserError as exc:
        raise HTTPException(404 if exc.rule == "user-unknown" else 409, str(exc)) from None
    ctx.audit.record(
        who.username, "user-deactivated", object_type="user", object_id=username, source=client_address(request)
    )
