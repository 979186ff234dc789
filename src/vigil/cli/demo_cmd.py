"""``vigil demo``: the control-room demo (or, with --engine, the face-engine demo)."""

from __future__ import annotations

from typing import Annotated

import typer

from vigil.cli.context import settings_from


def demo(
    ctx: typer.Context,
    engine: Annotated[bool, typer.Option("--engine", help="Only the face-engine demo on bundled portraits.")] = False,
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the control room after set-up.")] = True,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8000,
) -> None:
    """Set up a demo data directory (users, watchlist, four looping cameras in Lucknow) and serve the control room."""
    settings = settings_from(ctx)
    if engine:
        from vigil.demo import run_engine_demo

        run_engine_demo(settings, echo=typer.echo)
        return
    from vigil.demo_room import setup_demo
    from vigil.services import open_watchlist

    typer.echo("setting up the demo (the first run converts dlib's network and builds four 100 s street clips)…")
    watchlist = open_watchlist(settings)
    room = setup_demo(settings, watchlist, say=typer.echo)
    typer.echo(f"watchlist ({room.source}): {len(room.subjects)} subjects; cameras: {', '.join(room.cameras)}")
    typer.echo("users (passwords are new at every start):")
    for username, password in room.passwords.items():
        typer.echo(f"  {username:11s} {password}")
    if not serve:
        return
    import uvicorn

    from vigil.services import open_control_room
    from vigil.web.app import server_config

    app = open_control_room(settings, watchlist=watchlist, host=host)
    typer.echo(f"\nVigil control room: http://{host}:{port}/  (log in as operator to see red flags; Ctrl-C stops)")
    typer.echo(
        "  a red flag arrives about 10 s after the cameras start and another every 25 s or so (each camera's "
        "walker comes back every 100 s); Grace Hopper is 'wanted': two people must confirm"
    )
    typer.echo(
        f"  on a phone: http://{host}:{port}/field (the officer's view); admins route red flags to webhooks and "
        "MQTT under Notifications; every user can switch the pages to Hindi (Language menu)"
    )
    uvicorn.Server(server_config(app, host, port)).run()
