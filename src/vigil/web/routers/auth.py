"""Log in and out (session cookie + CSRF token), API tokens, who am I."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response, status

from vigil.domain.audit import Actor
from vigil.domain.users import LoginFailed, LoginThrottled, Principal, UserError
from vigil.domain.vocabulary import AuditAction, Role
from vigil.web.context import WebContext
from vigil.web.schemas import (
    LocaleIn,
    LoginRequest,
    MeOut,
    SessionOut,
    TicketOut,
    TokenInfoOut,
    TokenOut,
    TokenRequest,
    UserOut,
)
from vigil.web.security import SESSION_COOKIE, AnyUser, Ctx, LiveUser, client_address, client_scheme

router = APIRouter(prefix="/api/auth", tags=["auth"])
ANYONE = tuple(Role)


def _login(ctx: WebContext, request: Request, username: str, password: str) -> Principal:
    """The throttle's state is in the database (``UserService.authenticate``), shared by every web server;
    its 429s are audited (rate-limited per address, as every refusal is)."""
    client = client_address(request)
    try:
        principal = ctx.users.authenticate(username, password, source=client)
    except LoginThrottled as exc:
        ctx.metrics.logins["throttled"] += 1
        ctx.refusals.refused(username[:64] or "?", 429, request.method, request.url.path, client, str(exc))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            {"rule": exc.rule, "message": exc.detail, "retry_after_s": exc.retry_after_s},
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from None
    except LoginFailed as exc:
        ctx.metrics.logins["failed"] += 1
        ctx.audit.record(username[:64] or "?", AuditAction.LOGIN_FAILED, source=client)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    ctx.metrics.logins["ok"] += 1
    ctx.audit.record(
        principal.username, AuditAction.LOGIN, object_type="user", object_id=principal.user_id, source=client
    )
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
        secure=ctx.secure_cookies or client_scheme(request) == "https",  # a trusted proxy terminated TLS
        max_age=int((issued.expires_at - ctx.users.clock()).total_seconds()),
        path="/",
    )
    return SessionOut(user=UserOut.of(principal), csrf_token=issued.csrf, expires_at=issued.expires_at)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


def _credential(request: Request) -> tuple[str, str]:
    """The secret this request was authenticated with, and its kind."""
    bearer = _bearer(request)
    return (bearer, "api") if bearer else (request.cookies.get(SESSION_COOKIE, ""), "session")


@router.post("/logout", status_code=204)
def logout(request: Request, response: Response, who: AnyUser, ctx: Ctx) -> None:
    """End this session — or, called with a bearer token, revoke that token."""
    secret, _kind = _credential(request)
    if secret:
        ctx.users.revoke(secret, by=Actor(who.username, client_address(request)))
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/tokens", response_model=list[TokenInfoOut])
def my_tokens(who: AnyUser, ctx: Ctx) -> list[TokenInfoOut]:
    """Your API tokens (label, created, expires; never the secret)."""
    return [TokenInfoOut(**t.__dict__) for t in ctx.users.api_tokens(who.user_id)]


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: str, request: Request, who: AnyUser, ctx: Ctx) -> None:
    """Revoke one of your API tokens (an admin may revoke anyone's)."""
    owner = None if who.role == Role.ADMIN else who.user_id
    if not ctx.users.revoke_token(token_id, owner_id=owner, by=Actor(who.username, client_address(request))):
        raise HTTPException(404, "no such token of yours")


@router.post("/ticket", response_model=TicketOut)
def ticket(request: Request, who: LiveUser, ctx: Ctx) -> TicketOut:
    """A single-use ticket, valid 30 s, to open the live socket with (`/api/alerts/live?ticket=…`)
    without putting a session or API token into a URL."""
    secret, kind = _credential(request)
    issued = ctx.users.issue_ticket(secret, kind)
    if issued is None:
        raise HTTPException(401, "log in first")
    return TicketOut(ticket=issued[0], expires_at=issued[1])


@router.post("/token", response_model=TokenOut)
def token(body: TokenRequest, request: Request, ctx: Ctx) -> TokenOut:
    """A bearer token for the API (shown once)."""
    principal = _login(ctx, request, body.username, body.password)
    issued = ctx.users.issue(principal, "api", label=body.label, by=Actor(principal.username, client_address(request)))
    return TokenOut(token=issued.secret, expires_at=issued.expires_at)


@router.get("/me", response_model=MeOut)
def me(request: Request, who: AnyUser, ctx: Ctx) -> MeOut:
    resolved = ctx.users.resolve(request.cookies.get(SESSION_COOKIE, ""), "session")
    return MeOut(user=UserOut.of(who), csrf_token=resolved[1] if resolved else None)


@router.put("/locale", status_code=204)
def set_locale(body: LocaleIn, request: Request, who: AnyUser, ctx: Ctx) -> None:
    """The language of this user's pages (en, hi; null: the browser's)."""
    try:
        ctx.users.set_locale(who.username, body.locale, by=Actor(who.username, client_address(request)))
    except UserError as exc:
        raise HTTPException(422, str(exc)) from None
