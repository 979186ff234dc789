"""``vigil report``: the transparency report for a period."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import cli_actor, settings_from
from vigil.domain.vocabulary import AuditAction


def report(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), included.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for report.html, the CSV files, charts and report.pdf.")],
) -> None:
    """Counts only: faces analysed, alerts and outcomes, false-alert share by camera, category and day;
    threshold history; watchlist size; retention runs. Audited."""
    from vigil.domain.audit import AuditLog
    from vigil.domain.transparency import collect
    from vigil.reports import write_report
    from vigil.store.db import open_database

    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD ({exc})") from None
    if last < first:
        raise typer.BadParameter("--to is before --from")
    settings = settings_from(ctx)
    db = open_database(settings)
    audit = AuditLog(db, key_file=settings.resolved_audit_key_file)
    files = write_report(collect(db, audit, first, last), out)
    audit.record(cli_actor(), AuditAction.REPORT_GENERATED, source="cli", details={"from": start, "to": end})
    typer.echo(f"transparency report {first} – {last}: {out / 'report.html'} ({len(files.all)} files)")
