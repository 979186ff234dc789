"""``vigil backup`` and ``vigil restore``: the whole deployment in one archive sealed with a passphrase."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import cli_actor, settings_from
from vigil.errors import ConfigurationError

PassphraseEnv = Annotated[
    str,
    typer.Option(
        "--passphrase-env",
        metavar="VAR",
        help="Name of the environment variable holding the passphrase (never the passphrase itself).",
    ),
]


def _passphrase(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        raise ConfigurationError(f"environment variable {var} is not set (or empty): it must hold the passphrase")
    return value


def _progress(message: str) -> None:
    typer.echo(message, err=True)


def backup(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The archive to write (replaced only once complete).")],
    passphrase_env: PassphraseEnv,
) -> None:
    """Back up the database, media, audit key and evidence-signing key into one encrypted archive (safe
    while serving). Audited."""
    from vigil.domain.backup import make_backup

    result = make_backup(settings_from(ctx), out, _passphrase(passphrase_env), actor=cli_actor(), progress=_progress)
    m = result.manifest
    typer.echo(
        f"backup written: {result.path} ({result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s); "
        f"migration {m.migration_head}; {m.counts.get('subjects', 0)} subjects, {m.counts.get('alerts', 0)} alerts, "
        f"{sum(1 for p in m.parts if p.startswith('media/'))} media files; "
        f"audit {m.audit_entries} entries, head {m.audit_head}"
    )
    typer.echo(f"archive sha256 {result.sha256}")
    if not m.audit_intact:
        typer.echo("warning: the audit log in this backup does NOT verify (`vigil audit verify` says where)", err=True)


def restore(
    ctx: typer.Context,
    archive: Annotated[Path, typer.Argument(help="An archive `vigil backup` wrote.")],
    passphrase_env: PassphraseEnv,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Restore into a data directory and database that hold data (their files are moved to "
            "<data-dir>/replaced-<time>/; a PostgreSQL database's contents are dropped).",
        ),
    ] = False,
) -> None:
    """Restore an archive into the configured data directory and database (stop the server first).

    Refuses a damaged or truncated archive, a wrong passphrase, a newer schema and a target holding data
    (without --force), touching nothing. Migrates an older archive, verifies the audit chain, records the
    restore in it, and runs retention before anything is served."""
    from vigil.domain.backup import restore_backup
    from vigil.services import open_retention

    settings = settings_from(ctx)
    result = restore_backup(
        settings,
        archive,
        _passphrase(passphrase_env),
        retention=lambda db: open_retention(settings, db),
        force=force,
        actor=cli_actor(),
        progress=_progress,
    )
    m = result.manifest
    if result.replaced is not None:
        typer.echo(f"what the target held was moved to {result.replaced}")
    if result.migrated_from != result.migrated_to:
        typer.echo(f"schema migrated from {result.migrated_from} to {result.migrated_to}")
    typer.echo(
        f"restored {archive.name} (made {m.created_at}): {m.counts.get('subjects', 0)} subjects, "
        f"{m.counts.get('alerts', 0)} alerts, {m.counts.get('users', 0)} users, "
        f"{sum(1 for p in m.parts if p.startswith('media/'))} media files"
    )
    chain = result.audit
    state = "intact" if chain.ok else f"BROKEN at entry {chain.first_bad}: {chain.reason}"
    typer.echo(f"audit log as in the archive: {state}; {chain.entries} entries; head {chain.head}")
    typer.echo(f"restore recorded as audit entry {result.restore_entry}")
    r = result.retention
    typer.echo(
        f"retention: {r.rejected_crops} rejected crops, {r.sightings} sightings, {r.subjects_expired} subjects "
        f"expired, {r.photos} photos deleted"
    )
    if not chain.ok:
        raise typer.Exit(1)
