"""Log in and out (session cookie + CSRF token), API tokens, who am I."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from vigil.domain.users import LoginFailed, Principal
from vigil.domain.vocabulary import Role
from vigil.web.context import WebContext
from vigil.web.schemas import LoginRequest, MeOut, SessionOut, TokenOut, TokenRequest, UserOut
from vigil.web.security import SESSION_COOKIE, AnyUser, Ctx, client_address

router = APIRouter(prefix="/api/auth", tags=["auth"])
ANYONE = tuple(Role)


def _login(ctx: WebContext, request: Request, username: str, password: str) -> Principal:
    client = client_address(request)
    if ctx.throttle.blocked(client):
        ctx.metrics.logins["throttled"] += 1
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many failed logins; wait a minute")
    try:
        principal = ctx.users.authenticate(username, password)
    except LoginFailed as exc:
        ctx.throttle.failed(client)
        ctx.metrics.logins["failed"] += 1
        ctx.audit.record(username[:64] or "?", "login-failed", source=client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    ctx.metrics.logins["ok"] += 1
    ctx.audit.record(principal.username, "login", object_type="user", object_id=principal.user_id, source=client)
    return principal


@router.post("/login", response_model=SessionOut)
def login(body: LoginRequest, request: Request, response: Response, ctx: Ctx) -> SessionOut:
    """Start a browser session: sets an HttpOnly, SameSite=Strict cookie and returns the CSRF token."""
    principal = _login(ctx, request, body.username, body.password)
    issued = ctx.users.issue(principal, "session")
    response.set_cookie(
        SESSION_COOKIE,
        issued.secret,
        httponly=True,
        samesite="strict",
        secure=ctx.secure_cookies,
        max_age=int((issued.expires_at - ctx.users.clock()).total_seconds()),
        path="/",
    )
    return SessionOut(user=UserOut.of(principal), csrf_token=issued.csrf, expires_at=issued.expires_at)


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, who: AnyUser, ctx: Ctx) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        ctx.users.revoke(cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")
    ctx.audit.record(who.username, "logout", source=client_address(request))


@router.post("/token", response_model=TokenOut)
def token(body: TokenRequest, request: Request, ctx: Ctx) -> TokenOut:
    """A bearer token for the API (shown once)."""
    principal = _login(ctx, request, body.username, body.password)
    issued = ctx.users.issue(principal, "api", label=body.label)
    ctx.audit.record(principal.username, "api-token-issued", object_type="user", object_id=principal.user_id)
    return TokenOut(token=issued.secret, expires_at=issued.expires_at)


@router.get("/me", response_model=MeOut)
def me(request: Request, who: AnyUser, ctx: Ctx) -> MeOut:
    resolved = ctx.users.resolve(request.cookies.get(SESSION_COOKIE, ""), "session")
    return MeOut(user=UserOut.of(who), csrf_token=resolved[1] if resolved else None)
