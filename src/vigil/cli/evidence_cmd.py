"""``vigil evidence``: signed evidence packs of confirmed alerts, their public key, and their check."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import cli_by, settings_from

app = typer.Typer(help="Signed evidence packs of confirmed alerts for court (docs/evidence.md).", no_args_is_help=True)


@app.command("export")
def export(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="The confirmed alert's id.")],
    out: Annotated[Path, typer.Option("--out", help="The ZIP file to write (not overwritten).")],
    reason: Annotated[
        str, typer.Option("--reason", help="Why it is exported (case, court order); kept in the audit log.")
    ],
) -> None:
    """Write the signed evidence pack of a confirmed alert: crop, the track's stored faces and scene frame,
    enrolled photos, decisions, outcome, authorisation, threshold, evidence band, model (name, version,
    SHA-256) and rule in force, the audit entries with their anchored head, a PDF summary and the
    BSA 2023 s.63(4)(c) certificate (Parts A and B, English and Hindi), a SHA-256 manifest and its
    Ed25519 signature. The export is recorded in the audit log (who, why, the pack's SHA-256)."""
    from vigil.services import open_evidence

    if out.exists():
        typer.echo(f"error: {out} exists: choose another file", err=True)
        raise typer.Exit(2)
    pack = open_evidence(settings_from(ctx)).export(alert_id, cli_by(), reason)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pack.data)
    typer.echo(f"evidence pack of alert {alert_id}: {out} ({len(pack.data):,} bytes, {len(pack.files) + 2} files)")
    typer.echo(f"SHA-256 {pack.sha256}")
    typer.echo(f"signed by key {pack.fingerprint}; recorded as audit entry {pack.audit_entry}")
    if pack.anchor_published is None:
        typer.echo(
            "note: no VIGIL_AUDIT_ANCHOR is set: the pack's anchored head was made at export and published "
            "nowhere else",
            err=True,
        )


@app.command("key")
def key(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Also write the public key (PEM) to this file.")] = None,
) -> None:
    """Print the public key evidence packs are signed with (PEM) and its fingerprint; the private key is
    made on first use in VIGIL_EVIDENCE_KEY_FILE (default <data-dir>/evidence.key)."""
    from vigil.domain.evidence import fingerprint, load_signing_key, public_key_pem

    public = load_signing_key(settings_from(ctx).resolved_evidence_key_file).public_key()
    pem = public_key_pem(public)
    typer.echo(pem, nl=False)
    typer.echo(f"fingerprint (SHA-256) {fingerprint(public)}")
    if out is not None:
        out.write_text(pem)


@app.command("verify")
def verify(
    ctx: typer.Context,
    pack: Annotated[Path, typer.Argument(help="The evidence pack (ZIP).", exists=True, dir_okay=False)],
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key", help="The force's public key (from `vigil evidence key`), obtained apart from the pack."
        ),
    ] = None,
    audit_key: Annotated[
        Path | None,
        typer.Option("--audit-key", help="The audit chain's key file: also recompute each audit entry's own hash."),
    ] = None,
    against_log: Annotated[
        bool,
        typer.Option("--against-log", help="Also compare the pack's audit entries with this installation's audit log."),
    ] = False,
) -> None:
    """Check a pack offline: the signature, every file's SHA-256, nothing added or removed, and the audit
    entries' links to the anchored head. Exit status 0 if intact, 1 naming each part that changed."""
    from vigil.domain.evidence import read_public_key, verify_pack

    data = pack.read_bytes()
    key = read_public_key(public_key.read_bytes()) if public_key is not None else None
    secret = bytes.fromhex(audit_key.read_text().strip()) if audit_key is not None else None
    result = verify_pack(data, public_key=key, audit_key=secret)
    problems = list(result.problems)
    if against_log:
        from vigil.domain.audit import AuditLog
        from vigil.domain.evidence import entries_against_log
        from vigil.store.db import open_database

        settings = settings_from(ctx)
        problems += entries_against_log(
            data, AuditLog(open_database(settings), key_file=settings.resolved_audit_key_file)
        )
    if problems:
        typer.echo(f"evidence pack NOT INTACT: {pack}", err=True)
        for problem in problems:
            typer.echo(f"CHANGED {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(
        f"evidence pack intact: alert {result.alert_id}, {result.files} files, {result.audit_entries} audit entries "
        f"linked to the anchored head (entry {result.anchor_entries}); signed by key {result.key_fingerprint}"
    )
    if result.checked_entry_hashes:
        typer.echo("each audit entry's hash recomputed with the audit key: all match")
    for note in result.notes:
        typer.echo(f"note: {note}")
