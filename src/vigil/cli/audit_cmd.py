"""``vigil audit``: check the audit log's hash chain, export it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from vigil.cli.context import settings_from

app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


def _log(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from vigil.domain.audit import AuditLog
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    return AuditLog(open_database(settings), key_file=settings.resolved_audit_key_file)


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Check every entry's hash and link. Exit status 0 if intact, 1 naming the first broken entry."""
    result = _log(ctx).verify()
    if result.ok:
        typer.echo(f"audit log intact: {result.entries} entries; head {result.head}")
        typer.echo("(keep the head elsewhere: a chain cannot show that its newest entries were cut off)")
        return
    typer.echo(f"audit log BROKEN at entry {result.first_bad}: {result.reason}", err=True)
    raise typer.Exit(1)


@app.command("list")
def list_entries(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Newest entries to show.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The newest entries."""
    for entry in _log(ctx).entries(limit=limit):
        if as_json:
            typer.echo(json.dumps({**entry.__dict__, "at": entry.at.isoformat()}))
        else:
            obj = f" {entry.object_type} {entry.object_id}" if entry.object_type else ""
            typer.echo(f"{entry.id:6d}  {entry.at:%Y-%m-%d %H:%M:%S}Z  {entry.actor:12s} {entry.action}{obj}")
