"""``vigil retention``: delete what is due (also run hourly by ``vigil serve``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vigil.cli.context import cli_actor, settings_from

app = typer.Typer(
    help="Retention: crops, sightings and expired subjects' photos, deleted on schedule.", no_args_is_help=True
)


@app.command("run")
def run(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what is due; delete nothing.")] = False,
) -> None:
    """Delete everything whose retention period has passed; prints the counts (JSON). Audited."""
    from vigil.services import open_retention

    report = open_retention(settings_from(ctx)).run(dry_run=dry_run, actor=cli_actor())
    typer.echo(json.dumps(report.as_dict()))
