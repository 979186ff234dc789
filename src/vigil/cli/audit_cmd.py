"""``vigil audit``: check the audit log's hash chain (against its last anchor), anchor it, list it."""

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
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        str | None,
        typer.Option(
            "--anchor",
            help="Also check against the last anchor in this file (or at this URL): detects newest entries "
            "cut off. Default: VIGIL_AUDIT_ANCHOR, if set.",
        ),
    ] = None,
) -> None:
    """Check every entry's hash and link. Exit status 0 if intact, 1 naming the first broken entry (or, against
    an anchor newer than a restored backup, the restore its newest entries were lost in)."""
    from vigil.domain.audit_anchor import AnchorError, last_anchor, verify_against

    log = _log(ctx)
    source = anchor or settings_from(ctx).audit_anchor
    if source:
        try:
            last = last_anchor(source)
            result = verify_against(log, last)
        except AnchorError as exc:
            typer.echo(f"audit log NOT VERIFIED: {exc}", err=True)
            raise typer.Exit(1) from None
    else:
        result = log.verify()
    if result.ok:
        typer.echo(f"audit log intact: {result.entries} entries; head {result.head}")
        if source:
            typer.echo(f"(the last anchor, {last.at}, saw {last.entries} entries: all still there)")
        else:
            typer.echo("(no anchor checked: `vigil audit anchor` keeps the head where it can't be rewritten)")
        return
    if result.lost_in_restore is not None:
        typer.echo(f"audit log INCOMPLETE after a restore: {result.reason}", err=True)
        raise typer.Exit(1)
    typer.echo(f"audit log BROKEN at entry {result.first_bad}: {result.reason}", err=True)
    raise typer.Exit(1)


@app.command("anchor")
def anchor(
    ctx: typer.Context,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="A file on another volume or host (one JSON line appended per anchor) or an http(s) URL "
            "(POSTed as JSON). Default: VIGIL_AUDIT_ANCHOR.",
        ),
    ] = None,
    every: Annotated[
        float | None, typer.Option("--every", min=10.0, help="Keep publishing every this many seconds (Ctrl-C stops).")
    ] = None,
) -> None:
    """Publish the audit log's signed head (entries, last hash, time, HMAC with the audit key)."""
    import time

    from vigil.domain.audit_anchor import AnchorError, make_anchor, publish

    target = to or settings_from(ctx).audit_anchor
    if not target:
        typer.echo("error: say where to publish: --to PATH|URL or VIGIL_AUDIT_ANCHOR", err=True)
        raise typer.Exit(2)
    log = _log(ctx)
    while True:
        try:
            made = make_anchor(log)
            publish(made, target)
        except AnchorError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo(f"anchored {made.entries} entries, head {made.head}, at {made.at} -> {target}")
        if every is None:
            return
        time.sleep(every)


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
