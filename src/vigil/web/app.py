"""The FastAPI application: API routers, pages, static files, ``/metrics``, and in the embedded
default the cameras' pipeline in the same process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.staticfiles import StaticFiles

from vigil import __version__
from vigil.domain.alerts import AlertEvent
from vigil.web.context import WebContext
from vigil.web.pages import router as pages_router
from vigil.web.routers import (
    alerts,
    audit,
    auth,
    cameras,
    media,
    reports,
    sightings,
    thresholds,
    users,
    watchlist,
)
from vigil.web.schemas import AlertOut
from vigil.web.security import context

log = logging.getLogger(__name__)


def alert_listener(ctx: WebContext):  # type: ignore[no-untyped-def]
    """Subscribed to the pipeline's AlertRecorder: counts, and pushes each new alert to the browsers."""

    def on_alert(kind: str, event: AlertEvent) -> None:
        if kind != "raised" or event.alert_id is None:
            return
        latency = None if event.stored_at is None else 1000 * (event.stored_at - event.decisive_capture_at)
        ctx.metrics.alert(latency)
        view = ctx.alerts.get(event.alert_id)
        ctx.hub.publish(
            {"type": "alert", "alert": AlertOut.of(view).model_dump(mode="json"), "open": ctx.alerts.open_count()}
        )

    return on_alert


async def _refresh_watchlist(ctx: WebContext, every_s: float = 2.0) -> None:
    """Pick up watchlist changes made elsewhere (CLI, another server) within ``every_s``."""
    while True:
        await asyncio.sleep(every_s)
        if ctx.matcher is not None:
            await asyncio.to_thread(ctx.matcher.refresh)


async def _retention(ctx: WebContext, every_s: float = 3600.0) -> None:
    """The scheduled retention job: at start, then hourly."""
    while True:
        if ctx.retention is not None:
            try:
                await asyncio.to_thread(ctx.retention.run)
            except Exception:
                log.exception("retention run failed")
        await asyncio.sleep(every_s)


def create_app(ctx: WebContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ctx.hub.attach(asyncio.get_running_loop())
        if ctx.runner is not None:
            ctx.runner.start()
        refresher = asyncio.create_task(_refresh_watchlist(ctx))
        retention = asyncio.create_task(_retention(ctx))
        try:
            yield
        finally:
            refresher.cancel()
            retention.cancel()
            if ctx.runner is not None:
                await asyncio.to_thread(ctx.runner.close)

    app = FastAPI(title="Vigil control room", version=__version__, lifespan=lifespan)
    app.state.ctx = ctx
    for module in (auth, users, cameras, watchlist, sightings, alerts, thresholds, audit, reports, media):
        app.include_router(module.router)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).with_name("static"))), name="static")

    @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    def metrics(c: WebContext = Depends(context)) -> str:
        cams: list[tuple[str, str, int, int, int]] = []
        if c.runner is not None:
            counters = c.runner.counters()
            for h in c.runner.health():
                n = counters[h.camera]
                cams.append((h.camera, h.state.value, n.frames, n.faces, h.dropped_frames))
        return c.metrics.render(cams, c.alerts.open_count(), c.hub.clients)

    return app
