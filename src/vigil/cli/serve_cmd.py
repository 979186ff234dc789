"""``vigil serve``: the control room (API, pages, live push) and, embedded, the registered cameras."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from vigil.cli.context import settings_from


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    cameras: Annotated[
        bool | None,
        typer.Option(
            "--cameras/--no-cameras",
            help="Run the registered cameras in this process (default: yes, unless VIGIL_REDIS_URL is set: "
            "scaled out, `vigil worker` processes run them).",
        ),
    ] = None,
) -> None:
    """Serve the control room on http://HOST:PORT (API docs at /docs). Embedded, it runs the registered
    cameras too; scaled out (VIGIL_REDIS_URL set) it pushes the alerts that workers announce."""
    import uvicorn

    from vigil.errors import ConfigurationError
    from vigil.services import open_control_room
    from vigil.web.app import server_config

    settings = settings_from(ctx)
    if cameras and settings.redis_url:
        raise ConfigurationError(
            "scaled out (VIGIL_REDIS_URL is set), cameras run in `vigil worker` processes, not in the web server"
        )
    run_cameras = cameras if cameras is not None else not settings.redis_url
    app = open_control_room(settings, run_cameras=run_cameras, host=host)
    if settings.log_format == "json":  # stderr carries JSON lines only
        logging.getLogger(__name__).info("Vigil control room: http://%s:%d/", host, port)
    else:
        typer.echo(f"Vigil control room: http://{host}:{port}/", err=True)
    uvicorn.Server(server_config(app, host, port)).run()
