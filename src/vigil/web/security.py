"""Who is asking, and may they? Session cookies (with CSRF) for the pages, bearer tokens for the API.

* A session cookie is HttpOnly and SameSite=Strict; every state-changing request made with it must
  also carry the session's CSRF token in the ``X-CSRF-Token`` header (double submit: a page gets the
  token at login and from ``/api/auth/me``).
* A bearer token (``Authorization: Bearer …``) needs no CSRF token: browsers never send it by themselves.
* Every route declares the roles it allows with :func:`require`; 401 without a valid credential, 403
  with the wrong role.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status

from vigil.domain.users import Principal
from vigil.domain.vocabulary import Role
from vigil.logs import set_user
from vigil.web.context import WebContext

SESSION_COOKIE = "vigil_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def context(request: Request) -> WebContext:
    return context_of(request)


Networks = tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


def is_trusted_proxy(text: str, trusted: Networks) -> bool:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def forwarded_client(peer: str, forwarded_for: str | None, trusted: Networks) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy — then the nearest address
    in X-Forwarded-For that is not a trusted proxy itself (read right to left: a client can write
    anything at the left end, each proxy appends what it saw). Pure."""
    if not trusted or not forwarded_for or not is_trusted_proxy(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted_proxy(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage where an address belongs: believe nothing
    return hops[0] if hops else peer


def client_address(request: Request | WebSocket) -> str:
    """Who is asking, as the audit log and the login throttle see it (VIGIL_TRUSTED_PROXIES)."""
    peer = request.client.host if request.client else "unknown"
    trusted = context_of(request).settings.trusted_proxy_networks
    return forwarded_client(peer, request.headers.get("x-forwarded-for"), trusted)


def client_scheme(request: Request) -> str:
    """http or https as the client used it: a trusted proxy's X-Forwarded-Proto, else the connection's."""
    peer = request.client.host if request.client else ""
    trusted = context_of(request).settings.trusted_proxy_networks
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    if proto in ("http", "https") and is_trusted_proxy(peer, trusted):
        return proto
    return request.url.scheme


def context_of(request: Request | WebSocket) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def refuse(request: Request, ctx: WebContext, code: int, reason: str, actor: str = "") -> HTTPException:
    """The 401/403 to raise, audited first (rate-limited per source: RefusalRecorder)."""
    ctx.refusals.refused(actor, code, request.method, request.url.path, client_address(request), reason)
    headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
    return HTTPException(code, reason, headers=headers)


def optional_principal(request: Request, ctx: WebContext = Depends(context)) -> Principal | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        resolved = ctx.users.resolve(header[7:].strip(), "api")
        if resolved is None:
            raise refuse(request, ctx, status.HTTP_401_UNAUTHORIZED, "invalid or expired token")
        set_user(resolved[0].username)  # on this request's log lines
        return resolved[0]
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    resolved = ctx.users.resolve(cookie, "session")
    if resolved is None:
        return None
    principal, csrf = resolved
    set_user(principal.username)
    if request.method not in SAFE_METHODS and request.headers.get("x-csrf-token") != csrf:
        raise refuse(request, ctx, status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token", principal.username)
    return principal


def require(*roles: str) -> Callable[..., Principal]:
    allowed = set(roles)

    def check(
        request: Request,
        principal: Principal | None = Depends(optional_principal),
        ctx: WebContext = Depends(context),
    ) -> Principal:
        if principal is None:
            raise refuse(request, ctx, status.HTTP_401_UNAUTHORIZED, "log in first")
        if principal.role not in allowed:
            reason = f"the {principal.role} role may not do this"
            raise refuse(request, ctx, status.HTTP_403_FORBIDDEN, reason, principal.username)
        return principal

    check.allowed_roles = tuple(sorted(allowed))  # type: ignore[attr-defined]
    return check


# The dependencies every route declares, by what they give: the context, and the caller with a role.
Ctx = Annotated[WebContext, Depends(context)]
AnyUser = Annotated[Principal, Depends(require(*Role))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
Supervisor = Annotated[Principal, Depends(require(Role.SUPERVISOR))]
Auditor = Annotated[Principal, Depends(require(Role.AUDITOR))]
Authoriser = Annotated[Principal, Depends(require(Role.AUTHORISER))]
LiveUser = Annotated[Principal, Depends(require(Role.OPERATOR, Role.SUPERVISOR))]  # live alerts, adjudication
