"""``vigil camera``: register the cameras Vigil watches."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vigil.cli.context import cli_by, settings_from
from vigil.domain.cameras import DEFAULT_ANALYSIS_FPS, CameraRegistry

app = typer.Typer(help="Cameras: a name, a stream URL, a location and an analysis rate.", no_args_is_help=True)


def _registry(ctx: typer.Context) -> CameraRegistry:
    from vigil.domain.audit import AuditLog
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    db = open_database(settings)
    return CameraRegistry(db, audit=AuditLog(db, key_file=settings.resolved_audit_key_file))


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Camera name (letters, digits, '.', '_', '-').")],
    url: Annotated[str, typer.Argument(help="rtsp://…, http(s)://… (MJPEG), webcam:N, or a video file.")],
    lat: Annotated[float, typer.Option("--lat", help="Latitude in degrees.")],
    lon: Annotated[float, typer.Option("--lon", help="Longitude in degrees.")],
    fps: Annotated[float, typer.Option("--fps", help="Frames analysed per second.")] = DEFAULT_ANALYSIS_FPS,
    group: Annotated[
        str, typer.Option("--group", help="The area it belongs to (e.g. a police station); authorisations can name it.")
    ] = "",
) -> None:
    """Register a camera. Credentials in the URL are stored for connecting but never shown or logged. It
    analyses nothing until an authorisation covers it (`vigil authorisation add`)."""
    view = _registry(ctx).add(name, url, latitude=lat, longitude=lon, analysis_fps=fps, group=group, by=cli_by())
    typer.echo(f"{view.name}  {view.kind}  {view.url}")


@app.command("list")
def list_cameras(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False
) -> None:
    """The registered cameras (URLs without credentials)."""
    for view in _registry(ctx).cameras():
        if as_json:
            typer.echo(json.dumps(view.__dict__))
        else:
            place = f"({view.latitude:.6f}, {view.longitude:.6f})"
            group = f"  group {view.group}" if view.group else ""
            typer.echo(f"{view.name}  {view.kind}  {view.url}  {place}  {view.analysis_fps:g} fps{group}")


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Camera name.")]) -> None:
    """Unregister a camera."""
    _registry(ctx).remove(name, by=cli_by())
    typer.echo(f"removed {name}")
