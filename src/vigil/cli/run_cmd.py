"""``vigil run``: watch cameras against the current watchlist and raise red flags."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import settings_from
from vigil.domain.cameras import DEFAULT_ANALYSIS_FPS, CameraError, CameraRegistry, check_camera
from vigil.domain.replica import ReplicaChange
from vigil.pipeline.runtime import CameraConfig
from vigil.video.camera import CameraHealth, CameraStatus
from vigil.video.sources import parse_source


def _parse_camera(text: str, *, loop: bool, realtime: bool, fps: float) -> CameraConfig:
    name, sep, source = text.partition("=")
    if not sep or not name or not source:
        raise CameraError("camera-arg", f"--camera takes NAME=SOURCE, got {text.split('=', 1)[0]!r}=…")
    check_camera(name, source, 0.0, 0.0, fps)
    return CameraConfig(name, parse_source(source, loop=loop, realtime=realtime), fps)


def _health_json(health: CameraHealth) -> dict[str, object]:
    return {
        "camera": health.camera,
        "state": health.state.value,
        "analysed_fps": round(health.analysed_fps, 2),
        "analysed_frames": health.analysed_frames,
        "dropped_frames": health.dropped_frames,
        "reconnects": health.reconnects,
        "last_frame_at": None
        if health.last_frame_at is None
        else datetime.fromtimestamp(health.last_frame_at, UTC).isoformat(),
    }


def run(
    ctx: typer.Context,
    camera: Annotated[
        list[str] | None,
        typer.Option(
            "--camera",
            help="NAME=SOURCE (rtsp://…, http(s)://…, webcam:N, a file); repeatable. "
            "Without it, the registered cameras run.",
        ),
    ] = None,
    until_end: Annotated[bool, typer.Option("--until-end", help="Stop when every file source has ended.")] = False,
    loop: Annotated[bool, typer.Option("--loop", help="Play video files in a loop.")] = False,
    fast: Annotated[
        bool, typer.Option("--fast", help="Read files as fast as analysis allows, dropping nothing (evaluation).")
    ] = False,
    fps: Annotated[float, typer.Option("--fps", help="Analysis rate for --camera sources.")] = DEFAULT_ANALYSIS_FPS,
    duration: Annotated[float | None, typer.Option("--duration", help="Stop after this many seconds.")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Append each alert as a JSON line to this file.")
    ] = None,
    health_every: Annotated[
        float, typer.Option("--health-every", help="Print each camera's health to stderr this often (s); 0: never.")
    ] = 60.0,
) -> None:
    """Run cameras against the watchlist. Camera state changes and a summary go to stderr."""
    from vigil.domain.alerts import JsonLinesWriter
    from vigil.services import follow_active_model, open_live, open_watchlist

    settings = settings_from(ctx)
    if camera:
        configs = [_parse_camera(c, loop=loop, realtime=not fast, fps=fps) for c in camera]
    else:
        from vigil.store.db import open_database

        configs = CameraRegistry(open_database(settings)).configs(loop=loop, realtime=not fast)
    if not configs:
        raise CameraError(
            "camera-none", "no cameras: give --camera NAME=SOURCE or register some with `vigil camera add`"
        )
    if until_end and all(c.spec.is_live for c in configs):
        typer.echo("note: --until-end has no end to wait for on live streams; stop with Ctrl-C", err=True)

    def show_status(status: CameraStatus) -> None:
        detail = f" ({status.detail})" if status.detail else ""
        typer.echo(f"[{time.strftime('%H:%M:%S')}] camera {status.camera}: {status.state.value}{detail}", err=True)

    watchlist = open_watchlist(settings)
    runner, recorder, _ = open_live(settings, watchlist, configs, on_status=show_status)
    writer = JsonLinesWriter(json_out) if json_out else JsonLinesWriter(sys.stdout)
    recorder.subscribe(writer)
    stop_requested = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True
        runner.stop()

    previous = signal.signal(signal.SIGINT, on_signal), signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    next_health = started + health_every

    def show_change(change: ReplicaChange) -> None:  # enrollments, suspensions and removals made elsewhere
        what = "reloaded" if change.reloaded else f"{len(change.subjects)} subject(s) changed"
        typer.echo(f"[{time.strftime('%H:%M:%S')}] watchlist {what}", err=True)

    watchlist.replica.subscribe(show_change)
    follower = follow_active_model(settings, watchlist)  # `vigil models use` reaches the running cameras
    try:
        watchlist.replica.follow()
        runner.start()
        follower.start()
        while not stop_requested:
            if runner.wait(timeout=0.5) and (until_end or all(not c.spec.is_live for c in configs)):
                break
            now = time.monotonic()
            if duration is not None and now - started >= duration:
                break
            if health_every > 0 and now >= next_health:
                next_health = now + health_every
                for health in runner.health():
                    typer.echo(json.dumps({"health": _health_json(health)}), err=True)
    finally:
        follower.close()
        runner.close()
        watchlist.replica.close()
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
        writer.close()
    elapsed = time.monotonic() - started
    for health in runner.health():
        counters = runner.counters()[health.camera]
        typer.echo(
            json.dumps(
                {
                    "camera": health.camera,
                    "state": health.state.value,
                    "seconds": round(elapsed, 1),
                    "frames_analysed": counters.frames,
                    "faces_analysed": counters.faces,
                    "faces_embedded": counters.embedded,
                    "tracks": counters.tracks,
                    "alerts": counters.alerts,
                    "analysis_seconds": {
                        "detect": round(counters.detect_s, 2),
                        "embed": round(counters.embed_s, 2),
                        "total": round(counters.busy_s, 2),
                    },
                    "dropped_frames": health.dropped_frames,
                    "reconnects": health.reconnects,
                }
            ),
            err=True,
        )
    errors = runner.errors()
    if errors:
        raise typer.Exit(1)
