"""``vigil serve``: the control room (API, pages, live push) and, embedded, the registered cameras."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli.context import settings_from


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    cameras: Annotated[bool, typer.Option("--cameras/--no-cameras", help="Run the registered cameras here.")] = True,
) -> None:
    """Serve the control room on http://HOST:PORT (API docs at /docs); runs the registered cameras too."""
    import uvicorn

    from vigil.services import open_control_room

    settings = settings_from(ctx)
    app = open_control_room(settings, run_cameras=cameras)
    typer.echo(f"Vigil control room: http://{host}:{port}/", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
