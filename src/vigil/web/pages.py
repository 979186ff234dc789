"""The control-room pages: server-rendered shells; the data comes from the API (static/app.js and the
ES modules it loads from static/js/)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from vigil import i18n
from vigil.domain.users import Principal
from vigil.domain.vocabulary import AuditAction, Role
from vigil.web.security import client_address, optional_principal
from vigil.web.security import context as web_context

templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
router = APIRouter(include_in_schema=False)
# the audit page's action filter offers every action the log records
templates.env.globals["audit_actions"] = sorted(action.value for action in AuditAction)


def N_(message: str) -> str:
    """Marks a string for the catalogue where it is defined; translated where it is shown."""
    return message


# Words the pages show as data — statuses, decisions, outcomes, states, roles, the seeded categories, the
# rule names — listed here so that the catalogue holds their translations (the page script's word()).
DATA_WORDS = (
    N_("pending"),
    N_("awaiting-second"),
    N_("confirmed"),
    N_("rejected"),
    N_("inconclusive"),
    N_("located"),
    N_("not-located"),
    N_("spoken-to"),
    N_("arrested"),
    N_("other"),
    N_("active"),
    N_("suspended"),
    N_("expired"),
    N_("proposed"),
    N_("connecting"),
    N_("streaming"),
    N_("stalled"),
    N_("reconnecting"),
    N_("stopped"),
    N_("idle"),
    N_("unassigned"),
    N_("scheduled"),
    N_("requested"),
    N_("proposed"),
    N_("approved"),
    N_("ended"),
    N_("enroll"),
    N_("reinstate"),
    N_("renew"),
    N_("fused"),
    N_("votes"),
    N_("best-looks"),
    N_("pooled"),
    N_("looks+pooled"),
    N_("admin"),
    N_("supervisor"),
    N_("operator"),
    N_("auditor"),
    N_("authoriser"),
    N_("wanted"),
    N_("registered-offender"),
    N_("missing-person"),
    N_("another subject"),
    N_("strong"),
    N_("moderate"),
    N_("weak"),
)

# page -> (template, roles allowed, title)
PAGES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "/live": ("live.html", (Role.OPERATOR, Role.SUPERVISOR), N_("Live")),
    "/cameras": ("cameras.html", (Role.ADMIN, Role.SUPERVISOR, Role.OPERATOR), N_("Cameras")),
    "/authorisations": (
        "authorisations.html",
        (Role.ADMIN, Role.SUPERVISOR, Role.AUDITOR, Role.AUTHORISER),
        N_("Authorisations"),
    ),
    "/watchlist": ("watchlist.html", (Role.SUPERVISOR,), N_("Watchlist")),
    "/audit": ("audit.html", (Role.AUDITOR,), N_("Audit log")),
    "/notifications": ("notifications.html", (Role.ADMIN,), N_("Notifications")),
    "/models": ("models.html", (Role.ADMIN,), N_("Face models")),
    "/field": ("field.html", (Role.OPERATOR, Role.SUPERVISOR), N_("Field")),
}
HOME: dict[str, str] = {
    Role.OPERATOR: "/live",
    Role.SUPERVISOR: "/live",
    Role.ADMIN: "/cameras",
    Role.AUDITOR: "/audit",
    Role.AUTHORISER: "/authorisations",
}


def _nav(principal: Principal) -> list[tuple[str, str]]:
    return [(path, title) for path, (_, roles, title) in PAGES.items() if principal.role in roles]


def _language(request: Request, principal: Principal | None) -> dict[str, object]:
    """The page's language (the user's choice, else the browser's) made current for the templates'
    ``_()``, and what the page script needs: the language tag and the catalogue."""
    chosen = web_context(request).users.locale_of(principal.user_id) if principal is not None else None
    locale = i18n.negotiate(chosen, request.headers.get("accept-language"))
    i18n.current_locale.set(locale)
    return {
        "locale": locale,
        "locale_tag": i18n.BROWSER_TAGS[locale],
        "locale_chosen": chosen or "",
        "locales": i18n.LOCALE_NAMES,
        "catalogue": i18n.catalogue(locale),
    }


def _render(
    request: Request, principal: Principal | None, template: str, roles: tuple[str, ...], title: str, **extra: object
) -> Response:
    if principal is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if principal.role not in roles:
        reason = f"the page is not for the {principal.role} role"
        web_context(request).refusals.refused(
            principal.username, 403, "GET", request.url.path, client_address(request), reason
        )
        return templates.TemplateResponse(
            request,
            "forbidden.html",
            {"user": principal, "nav": _nav(principal), "title": N_("Not allowed"), **_language(request, principal)},
            status_code=403,
        )
    context = {"user": principal, "nav": _nav(principal), "title": title, **_language(request, principal), **extra}
    return templates.TemplateResponse(request, template, context)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    context = {"title": N_("Log in"), "nav": [], "user": None, **_language(request, None)}
    return templates.TemplateResponse(request, "login.html", context)


@router.get("/")
def home(principal: Principal | None = Depends(optional_principal)) -> Response:
    return RedirectResponse(HOME.get(principal.role, "/login") if principal else "/login", status_code=303)


def _page(path: str):  # type: ignore[no-untyped-def]
    template, roles, title = PAGES[path]

    def page(request: Request, principal: Principal | None = Depends(optional_principal)) -> Response:
        return _render(request, principal, template, roles, title)

    return page


for _path in PAGES:
    router.get(_path, response_class=HTMLResponse)(_page(_path))


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(alert_id: str, request: Request, principal: Principal | None = Depends(optional_principal)) -> Response:
    return _render(
        request, principal, "alert.html", (Role.OPERATOR, Role.SUPERVISOR), N_("Adjudication"), alert_id=alert_id
    )


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
def subject_page(
    subject_id: str, request: Request, principal: Principal | None = Depends(optional_principal)
) -> Response:
    return _render(
        request, principal, "subject.html", (Role.OPERATOR, Role.SUPERVISOR), N_("Subject"), subject_id=subject_id
    )


# The field view installs as a web app: its manifest and service worker hold no personal data and are
# served to anyone (a browser fetches them without the session's cookies in some cases).
FIELD_MANIFEST = {
    "name": "Vigil field",
    "short_name": "Vigil",
    "description": "Open red flags in your area",
    "start_url": "/field",
    "scope": "/field",
    "display": "standalone",
    "background_color": "#0f1419",
    "theme_color": "#0a0e12",
    "icons": [
        {"src": "/static/icon-192.png", "sizes": "192x192", "type": "image/png", "purpose": "any maskable"},
        {"src": "/static/icon-512.png", "sizes": "512x512", "type": "image/png", "purpose": "any maskable"},
    ],
}

# Caches only the page's shell (never an alert, a face or an API answer): started from the home screen
# without a network, the page opens, says it is offline and keeps the officer's taps queued on the phone
# (the page script sends them when the network is back). The shell is the page, its style, its icon, the
# map library and the page script with every module it imports (static/js/, listed when the server starts).
_STATIC = Path(__file__).with_name("static")
FIELD_SHELL = [
    "/field",
    "/static/app.css",
    "/static/app.js",
    *sorted(f"/static/js/{module.name}" for module in (_STATIC / "js").glob("*.js")),
    "/static/icon-192.png",
    "/static/leaflet/leaflet.css",
    "/static/leaflet/leaflet.js",
]
_SERVICE_WORKER = """\
const SHELL = "vigil-field-v3";
const FILES = __FILES__;
self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(FILES)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (event) => {
  const old = (keys) => Promise.all(keys.filter((k) => k !== SHELL).map((k) => caches.delete(k)));
  event.waitUntil(caches.keys().then(old).then(() => self.clients.claim()));
});
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || !FILES.includes(url.pathname)) return;
  event.respondWith(fetch(event.request).catch(() => caches.match(event.request, { ignoreSearch: true })));
});
"""
FIELD_SERVICE_WORKER = _SERVICE_WORKER.replace("__FILES__", json.dumps(FIELD_SHELL))


@router.get("/field/manifest.webmanifest")
def field_manifest() -> Response:
    return Response(json.dumps(FIELD_MANIFEST), media_type="application/manifest+json")


@router.get("/field-sw.js")
def field_service_worker() -> Response:
    return Response(FIELD_SERVICE_WORKER, media_type="text/javascript", headers={"Cache-Control": "no-cache"})
