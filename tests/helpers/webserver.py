"""A real control-room server for browser and load tests: uvicorn in a thread on a free port, with the
session's face engine, a temporary database and users of every role."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from tests.helpers import live_service, live_settings
from tests.helpers.streaming import free_port

from vigil.domain.alerts import AlertRecorder
from vigil.domain.authorisations import AuthorisationBook
from vigil.domain.fleet import EmbeddedFleet
from vigil.domain.matching import WatchlistMatcher
from vigil.domain.watchlist import WatchlistService
from vigil.pipeline.runtime import LiveRunner, StreamPolicy
from vigil.settings import VigilSettings
from vigil.web.app import alert_listener, create_app, server_config
from vigil.web.context import WebContext

PASSWORD = "correct horse battery"
ROLES = ("admin", "supervisor", "operator", "auditor", "authoriser")


@dataclass
class RunningServer:
    url: str
    ctx: WebContext
    watchlist: WatchlistService
    recorder: AlertRecorder
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def start_server(tmp_path: Path, settings: VigilSettings, engine: object) -> RunningServer:
    # the browser tests register clip files as cameras through the Cameras page
    run_settings = live_settings(tmp_path, settings).model_copy(update={"web_cameras_local": True})
    watchlist = live_service(run_settings, engine)
    ctx = WebContext.build(run_settings, watchlist.db)
    ctx.watchlist = watchlist
    for role in ROLES:
        ctx.users.add(role, PASSWORD, role, display_name=f"Test {role.title()}")
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    recorder.subscribe(alert_listener(ctx))
    ctx.matcher = WatchlistMatcher(watchlist)
    runner = LiveRunner(
        [], watchlist.engine, ctx.matcher, recorder, gate=AuthorisationBook(watchlist.db), policy=StreamPolicy()
    )
    ctx.fleet = EmbeddedFleet(runner, ctx.cameras)
    port = free_port()
    server = uvicorn.Server(server_config(create_app(ctx), "127.0.0.1", port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "server did not start"
    return RunningServer(f"http://127.0.0.1:{port}", ctx, watchlist, recorder, server, thread)
