"""The FastAPI application: API routers, pages, static files, ``/metrics``, and in the embedded
default the cameras' pipeline in the same process."""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path
from xstatic.pkg import leaflet as xstatic_leaflet

from vigil import __version__
from vigil.domain.alerts import AlertListener, TrackMatch, announcer
from vigil.domain.fleet import DetectionCounts
from vigil.domain.leases import worker_counts
from vigil.domain.models import model_metrics
from vigil.domain.pending import is_outage
from vigil.domain.telemetry import disk_lines
from vigil.domain.vocabulary import Role
from vigil.errors import RepeatedFailure
from vigil.logs import request_scope
from vigil.store.media import media_folder
from vigil.web.context import MAX_UPLOAD_BYTES, WebContext
from vigil.web.metrics import render_fleet, render_reach
from vigil.web.pages import router as pages_router
from vigil.web.routers import (
    alerts,
    audit,
    auth,
    authorisations,
    cameras,
    field,
    maps,
    media,
    models,
    notify,
    reports,
    sightings,
    thresholds,
    users,
    watchlist,
)
from vigil.web.routers.cameras import camera_list
from vigil.web.routers.maps import tile_origin
from vigil.web.security import client_scheme, context, optional_principal
from vigil.web.tiles import is_local, open_tiles

log = logging.getLogger(__name__)
access_log = logging.getLogger("vigil.web.access")  # one INFO line per request (shown with -v)

# Pages load only this server's own scripts, styles and images, talk only to it, and are never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
# The API docs page: Swagger UI from this server's own files; its start-up script is inline.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)


def alert_listener(ctx: WebContext) -> AlertListener:
    """Subscribed to the in-process pipeline's AlertRecorder: hands each new alert to this server's feed
    (so it is pushed as stored, not read back) and announces it on the feed's bus (to every server)."""
    announce = announcer(ctx.bus)

    def listener(kind: str, match: TrackMatch) -> None:
        ctx.feed.hold(kind, match)
        announce(kind, match)

    return listener


async def _catch_up(ctx: WebContext, every_s: float = 5.0) -> None:
    """Without cameras in this process, alerts come from workers: besides their announcements on the bus,
    look in the database every ``every_s`` for any whose announcement was lost."""
    failures = RepeatedFailure(log, "alert catch-up failed")
    while True:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(ctx.feed.catch_up)
            failures.ok()
        except Exception:
            failures.failed()


async def _retention(ctx: WebContext, every_s: float = 3600.0) -> None:
    """The scheduled retention job: at start, then hourly."""
    while True:
        if ctx.retention is not None:
            try:
                await asyncio.to_thread(ctx.retention.run)
            except Exception:
                log.exception("retention run failed")
        await asyncio.sleep(every_s)


async def _anchor(ctx: WebContext) -> None:
    """Publish the audit log's signed head where the settings say, at start and then periodically."""
    from vigil.domain.audit_anchor import make_anchor, publish

    target = ctx.settings.audit_anchor
    assert target is not None
    while True:
        try:
            made = await asyncio.to_thread(make_anchor, ctx.audit)
            await asyncio.to_thread(publish, made, target)
            log.info("audit anchored: %d entries", made.entries)
        except Exception:
            log.exception("audit anchoring failed")
        await asyncio.sleep(ctx.settings.audit_anchor_every_s)


async def _verify_audit(ctx: WebContext) -> None:
    """Verify the whole audit chain at start and every ``audit_verify_every_s``; /metrics reports the result
    (``vigil_audit_chain_ok``), and a chain that does not verify is logged as an error."""
    failures = RepeatedFailure(log, "scheduled audit verification could not run")
    while True:
        try:
            result = await asyncio.to_thread(ctx.audit.verify)
            failures.ok()
            ctx.metrics.verified(result)
            if not result.ok:
                log.error("audit chain BROKEN at entry %s: %s", result.first_bad, result.reason)
        except Exception:
            ctx.metrics.audit_failed_runs += 1
            failures.failed()
        await asyncio.sleep(ctx.settings.audit_verify_every_s)


REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

MAX_BODY_BYTES = 1_000_000  # any JSON the API takes is far smaller
MAX_UPLOAD_BODY_BYTES = MAX_UPLOAD_BYTES + 1_000_000  # an enrollment: the largest photo plus its form fields
UPLOAD_PATHS = ("/api/subjects",)


class BodyLimit:
    """Refuses a request body over its limit with 413 before any route (or authentication) reads it:
    by its declared length at once, and while it streams in when it declares none."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, upload_bytes: int, upload_paths: tuple[str, ...]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes
        self.upload_paths = upload_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope.get("path") in self.upload_paths else self.max_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)
            return
        if declared is not None:  # within the limit: the server stops reading at the declared length
            await self.app(scope, receive, send)
            return
        # No length declared (chunked): read it here, up to the limit, then hand it on whole.
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client went away: let the app see it
                return
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > limit:
                await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def server_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """How the control room is served. uvicorn's own proxy-header handling is off (it believes
    X-Forwarded-For from any loopback peer): Vigil decides whose forwarding headers count
    (VIGIL_TRUSTED_PROXIES, ``web.security.client_address``)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through Vigil's handler, in its format (VIGIL_LOG_FORMAT)
        timeout_graceful_shutdown=10,
        proxy_headers=False,
    )


def create_app(ctx: WebContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.hub.attach(asyncio.get_running_loop())
        ctx.feed.start()
        if ctx.watchlist is not None:  # changes made elsewhere (CLI, another server) reach the gallery
            ctx.watchlist.replica.follow()
        ctx.fleet.start()
        if ctx.model_follower is not None:  # `vigil models use` reaches the running cameras
            ctx.model_follower.start()
        if ctx.deliverer is not None:
            ctx.deliverer.start()
        tasks = [asyncio.create_task(_retention(ctx)), asyncio.create_task(_verify_audit(ctx))]
        if ctx.settings.audit_anchor:
            tasks.append(asyncio.create_task(_anchor(ctx)))
        if not ctx.fleet.embedded:  # alerts come from workers: catch up on any announcement lost
            tasks.append(asyncio.create_task(_catch_up(ctx)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            if ctx.model_follower is not None:
                await asyncio.to_thread(ctx.model_follower.close)
            await asyncio.to_thread(ctx.fleet.close)
            if ctx.deliverer is not None:
                await asyncio.to_thread(ctx.deliverer.close)
            if ctx.watchlist is not None:
                await asyncio.to_thread(ctx.watchlist.replica.close)
            await asyncio.to_thread(ctx.bus.close)
            ctx.health.close()

    app = FastAPI(title="Vigil control room", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.add_middleware(
        BodyLimit, max_bytes=MAX_BODY_BYTES, upload_bytes=MAX_UPLOAD_BODY_BYTES, upload_paths=UPLOAD_PATHS
    )

    @app.exception_handler(DBAPIError)
    async def database_unreachable(request: Request, exc: Exception) -> Response:
        """The database away (a restart, a network cut): 503 and one line in the log, not a 500 and a
        traceback per request; the client (the Live page) tries again."""
        if not is_outage(exc):
            raise exc
        log.warning("%s %s: the database is unreachable (%s)", request.method, request.url.path, type(exc).__name__)
        return JSONResponse(
            {"detail": "the database is unreachable; try again shortly"}, status_code=503, headers={"Retry-After": "5"}
        )

    # A local tile file (VIGIL_MAP_TILES) is opened now: one that cannot be served stops the start with one
    # error line naming it and why, rather than a blank map later.
    if is_local(ctx.settings.map_tiles):
        open_tiles(ctx.settings.map_tiles)
    # Map tiles from the force's tile server (VIGIL_MAP_TILES, a URL template): that one host may serve images.
    origin = tile_origin(ctx.settings)
    page_policy = (
        CONTENT_SECURITY_POLICY.replace("img-src 'self'", f"img-src 'self' {origin}")
        if origin
        else CONTENT_SECURITY_POLICY
    )

    @app.middleware("http")
    async def request_ids(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        """Each request's log lines carry its id (the proxy's X-Request-ID when it is a plausible one, else
        a new one), and the answer names it, so an operator can find them."""
        given = request.headers.get("x-request-id", "")
        request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex[:16]
        started = time.perf_counter()
        with request_scope(request_id):
            response = await call_next(request)
            route = request.scope.get("route")  # the route's template: no ids of people in the log
            access_log.info(
                "%s %s %d %.0f ms",
                request.method,
                getattr(route, "path", None) or request.url.path,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        response.headers["X-Request-ID"] = request_id
        return response

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        docs = request.url.path == "/docs" or request.url.path.startswith("/docs/")
        headers.setdefault("Content-Security-Policy", DOCS_CONTENT_SECURITY_POLICY if docs else page_policy)
        if request.url.path.startswith("/api/"):  # personal data: never kept by a browser or a proxy
            headers.setdefault("Cache-Control", "no-store")
        if client_scheme(request) == "https":
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    for module in (
        auth,
        users,
        cameras,
        authorisations,
        watchlist,
        sightings,
        alerts,
        thresholds,
        audit,
        reports,
        media,
        notify,
        field,
        maps,
        models,
    ):
        app.include_router(module.router)
    app.include_router(pages_router)
    # The map library (Leaflet) from its PyPI package (xstatic-leaflet), never copied into the repository.
    app.mount("/static/leaflet", StaticFiles(directory=str(xstatic_leaflet.BASE_DIR)), name="leaflet")
    app.mount("/static", StaticFiles(directory=str(Path(__file__).with_name("static"))), name="static")
    app.mount("/docs/assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> Response:
        """The API reference (Swagger UI), every file from this server."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Vigil control room API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        """Liveness: the process answers HTTP (no login; nothing about anyone in it)."""
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(c: WebContext = Depends(context)) -> JSONResponse:
        """Readiness: 200 when the database (and Redis, scaled out) answer, else 503 naming the dependency
        that failed and why; a full media disk is reported (status "degraded") without failing it."""
        readiness = await asyncio.to_thread(c.health.ready)
        return JSONResponse(
            readiness.as_json(), status_code=200 if readiness.ready else 503, headers={"Cache-Control": "no-store"}
        )

    @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    def metrics(request: Request, c: WebContext = Depends(context)) -> str:
        """Counts only, for a scraper holding ``metrics_token`` or a signed-in admin or auditor."""
        header = request.headers.get("authorization", "")
        token = c.settings.metrics_token
        scraper = token is not None and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
        if not scraper:
            who = optional_principal(request, c)
            if who is None:
                raise HTTPException(401, "a metrics token or an admin's or auditor's login is needed")
            if who.role not in (Role.ADMIN, Role.AUDITOR):
                raise HTTPException(403, f"the {who.role} role may not read /metrics")
        cams: list[tuple[str, str, int, int, int]] = []
        states = None
        names: list[str] = []
        detection = {}
        if c.fleet.embedded:
            for name, live in c.fleet.live().items():
                cams.append((name, live.state, live.frames or 0, live.faces or 0, live.dropped_frames or 0))
                if live.detection is not None:
                    detection[name] = live.detection
        else:  # scaled out: the states (and detection counts) the workers reported
            cameras = camera_list(c)
            states = [camera.state or "unassigned" for camera in cameras]
            names = [camera.name for camera in cameras]
            detection = {
                camera.name: DetectionCounts(**camera.detection.model_dump(exclude={"detected_share"}))
                for camera in cameras
                if camera.detection is not None
            }
        bus = (c.bus.connected, c.bus.reconnects, c.feed.caught_up)
        text = c.metrics.render(
            cams, c.alerts.open_count(), c.hub.clients, camera_states=states, bus=bus, detection=detection
        )
        response = c.alerts.response_times(datetime.now(UTC) - timedelta(days=30))
        if c.watchlist is not None:  # the face model this process matches with, now (docs/models.md)
            text += model_metrics(c.watchlist.engine.embedder)
        workers_live, workers_lost = worker_counts(c.db, c.settings.lease_s)
        gallery = c.watchlist.replica.applied_version if c.watchlist is not None else None
        named = [(cam[0], str(cam[1])) for cam in cams] if states is None else list(zip(names, states, strict=True))
        text += render_fleet(named, workers_live, workers_lost, gallery) + c.metrics.render_audit()
        volumes = {"data": c.settings.data_dir}
        if c.settings.media_store == "files":
            volumes["media"] = media_folder(c.settings)
        text += "\n".join(disk_lines(volumes)) + "\n"
        return text + render_reach(c.outbox.logs(), response)

    return app
