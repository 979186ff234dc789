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
            typer.echo(json.dumps({**view.__dict__, "zones": view.zones.as_json() if view.zones else None}))
        else:
            place = f"({view.latitude:.6f}, {view.longitude:.6f})"
            group = f"  group {view.group}" if view.group else ""
            typer.echo(f"{view.name}  {view.kind}  {view.url}  {place}  {view.analysis_fps:g} fps{group}")


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Camera name.")]) -> None:
    """Unregister a camera."""
    _registry(ctx).remove(name, by=cli_by())
    typer.echo(f"removed {name}")


zone_app = typer.Typer(
    help="Detection zones and masks: faces are looked for only inside zones (none: the whole frame) and never "
    "inside masks (a billboard, a television, a private doorway). Points are x,y in the pixels of a frame "
    "of --frame WxH (default: the camera's own frame size, read from it now).",
    no_args_is_help=True,
)
app.add_typer(zone_app, name="zone")


def _frame_size(ctx: typer.Context, name: str, frame: str | None) -> tuple[int, int]:
    from vigil.video.zones import ZoneError

    if frame is None:
        return _registry(ctx).frame_size(name)
    try:
        width, height = (int(v) for v in frame.lower().split("x"))
    except ValueError:
        raise ZoneError("zone-frame", f"{frame!r}: write the frame size as WIDTHxHEIGHT, e.g. 1280x720") from None
    return width, height


@zone_app.command("set")
def zone_set(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Camera name.")],
    zone: Annotated[
        list[str] | None, typer.Option("--zone", help='A zone polygon: "x,y x,y x,y ..." (at least three points).')
    ] = None,
    mask: Annotated[list[str] | None, typer.Option("--mask", help="A mask polygon, written the same way.")] = None,
    frame: Annotated[
        str | None, typer.Option("--frame", help="WIDTHxHEIGHT of the frame the points are in (default: the camera's).")
    ] = None,
) -> None:
    """Replace the camera's zones and masks (every polygon checked first; one bad point changes nothing)."""
    from vigil.video.zones import check_zones, parse_points

    zones = [parse_points(z) for z in zone or []]
    masks = [parse_points(m) for m in mask or []]
    if not zones and not masks:
        raise typer.BadParameter("give at least one --zone or --mask (or use `vigil camera zone clear`)")
    checked = check_zones(_frame_size(ctx, name, frame), zones, masks)
    view = _registry(ctx).set_zones(name, checked, by=cli_by())
    typer.echo(json.dumps({"camera": view.name, **checked.as_json()}))


@zone_app.command("clear")
def zone_clear(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Camera name.")]) -> None:
    """Search the camera's whole frame again."""
    _registry(ctx).set_zones(name, None, by=cli_by())
    typer.echo(json.dumps({"camera": name, "zones": [], "masks": []}))


@zone_app.command("show")
def zone_show(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Camera name.")]) -> None:
    """The camera's zones and masks as JSON (frame size, polygons)."""
    from vigil.domain.cameras import CameraError

    found = _registry(ctx).zones([name])
    if name not in found:
        raise CameraError("camera-unknown", f"no camera named {name!r}")
    zones = found[name]
    typer.echo(
        json.dumps({"camera": name, **(zones.as_json() if zones else {"frame": None, "zones": [], "masks": []})})
    )
