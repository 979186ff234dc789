"""``vigil watchlist``: enroll, review, suspend and remove the people Vigil looks for."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import audit, cli_by, settings_from
from vigil.domain.enrollment import SubjectFields
from vigil.domain.importer import ImportDefaults, ImportRow, csv_jobs, folder_jobs, parse_expiry, run_import
from vigil.domain.vocabulary import AuditAction, SubjectStatus
from vigil.store.models import Subject

app = typer.Typer(help="The watchlist: subjects with a legal basis, an approver and an expiry.", no_args_is_help=True)


def _service(ctx: typer.Context):  # type: ignore[no-untyped-def]
    from vigil.services import open_watchlist

    return open_watchlist(settings_from(ctx))


def _split_legal_basis(text: str) -> tuple[str, str]:
    """'court order: CO-2026-114' -> ('court order', 'CO-2026-114'); no colon: a generic type."""
    basis_type, _, reference = text.partition(":")
    if not reference.strip():
        return "legal instrument", text.strip()
    return basis_type.strip(), reference.strip()


def _summary(subject: Subject) -> str:
    from vigil.domain.watchlist import subject_state

    pending = (
        f"  (waiting for approval: {subject.pending_action}, asked by {subject.pending_by})"
        if subject.pending_action
        else ""
    )
    return (
        f"{subject.id}  {subject.display_name}  [{subject.category}]  {subject_state(subject)}  "
        f"expires {subject.expires_at:%Y-%m-%d %H:%M}Z  photos {len(subject.photos)}{pending}"
    )


ProposedBy = Annotated[
    str, typer.Option("--proposed-by", help="Username of the supervisor proposing (an active supervisor).")
]
ApprovedBy = Annotated[
    str,
    typer.Option(
        "--approved-by", help="Username of the supervisor approving: an active supervisor other than the proposer."
    ),
]


@app.command("add")
def add(
    ctx: typer.Context,
    photos: Annotated[list[Path], typer.Argument(help="One or more photos of the person (each with one face).")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    category: Annotated[str, typer.Option("--category", help="Category (see `vigil watchlist categories`).")],
    legal_basis: Annotated[
        str, typer.Option("--legal-basis", help="Instrument and reference, e.g. 'court order: CO-2026-114'.")
    ],
    proposed_by: ProposedBy,
    approved_by: ApprovedBy,
    expires: Annotated[
        str,
        typer.Option(
            "--expires",
            help="Expiry: YYYY-MM-DD (end of day, UTC) or ISO 8601; within the category's longest validity.",
        ),
    ],
    review: Annotated[str | None, typer.Option("--review", help="Review date, YYYY-MM-DD.")] = None,
    ref: Annotated[str | None, typer.Option("--ref", help="External reference (e.g. the police record id).")] = None,
    notes: Annotated[str, typer.Option("--notes", help="Free-text notes.")] = "",
) -> None:
    """Enroll a person, proposed and approved by two different supervisors (both recorded and audited):
    the entry matches at once. Prints the new subject's id. Any broken rule: nothing is stored, exit status 2.
    (In the control room one supervisor proposes and another approves later.)"""
    basis_type, basis_ref = _split_legal_basis(legal_basis)
    fields = SubjectFields(
        display_name=name,
        category=category,
        legal_basis_type=basis_type,
        legal_basis_reference=basis_ref,
        approved_by=approved_by,
        expires_at=parse_expiry(expires),
        review_date=date.fromisoformat(review) if review else None,
        notes=notes,
        external_ref=ref,
        proposed_by=proposed_by,
    )
    payload = []
    for path in photos:
        try:
            payload.append((path.name, path.read_bytes()))
        except OSError as exc:
            from vigil.domain.enrollment import EnrollmentError

            raise EnrollmentError("photo-format", f"{path.name}: cannot be read ({exc.strerror})") from exc
    result = _service(ctx).enroll(fields, payload, by=cli_by())
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(result.subject_id)


@app.command("import")
def import_(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(help="A folder with one sub-folder of photos per person, or a CSV file.")],
    proposed_by: ProposedBy,
    approved_by: ApprovedBy,
    category: Annotated[str | None, typer.Option(help="Folder import: category for everyone.")] = None,
    legal_basis: Annotated[
        str | None, typer.Option("--legal-basis", help="Folder import: legal basis for everyone.")
    ] = None,
    expires: Annotated[str | None, typer.Option(help="Folder import: expiry (YYYY-MM-DD or ISO 8601).")] = None,
    report: Annotated[Path | None, typer.Option(help="Write the per-file report here (JSON lines).")] = None,
) -> None:
    """Bulk enrollment, every entry proposed and approved by the two supervisors named (matching at once).
    Resumable and idempotent: re-running enrolls nothing twice.

    CSV columns: photo, name, category, legal_basis_type, legal_basis_reference, expires, and optionally
    ref, review_date, notes (photo paths relative to the CSV file). An approved_by column, if present,
    must name the --approved-by supervisor on every row.
    """
    from vigil.domain.enrollment import EnrollmentError

    if source.is_dir():
        if not (category and legal_basis and expires):
            raise EnrollmentError("legal-basis", "a folder import needs --category, --legal-basis and --expires")
        basis_type, basis_ref = _split_legal_basis(legal_basis)
        defaults = ImportDefaults(
            category, basis_type, basis_ref, approved_by, parse_expiry(expires), proposed_by=proposed_by
        )
        jobs = folder_jobs(source, defaults)
    elif source.is_file():
        jobs = csv_jobs(source, proposed_by=proposed_by, approved_by=approved_by)
    else:
        raise EnrollmentError("photo-format", f"{source} is neither a folder nor a CSV file")
    service = _service(ctx)
    handle = report.open("w") if report else None
    try:
        with typer.progressbar(length=len(jobs), label="enrolling", file=None) as bar:

            def progress(row: ImportRow) -> None:
                bar.update(1)
                if handle:
                    handle.write(json.dumps(row.__dict__) + "\n")
                    handle.flush()
                if row.status == "rejected":
                    typer.echo(f"\nrejected {row.source}: [{row.rule}] {row.message}", err=True)

            rows = run_import(service, jobs, progress=progress, by=cli_by())
    finally:
        if handle:
            handle.close()
    counts = Counter(row.status for row in rows)
    reasons = Counter(row.rule for row in rows if row.status == "rejected")
    audit(
        ctx,
        AuditAction.WATCHLIST_IMPORTED,
        enrolled=counts["enrolled"],
        skipped=counts["skipped"],
        rejected=counts["rejected"],
        proposed_by=proposed_by,
        approved_by=approved_by,
    )
    warned = sum(1 for row in rows if row.status == "enrolled" and row.message)
    typer.echo(
        f"{len(rows)} files: {counts['enrolled']} enrolled ({warned} with a resemblance warning), "
        f"{counts['skipped']} already enrolled, {counts['rejected']} rejected"
    )
    for rule, count in reasons.most_common():
        typer.echo(f"  rejected [{rule}]: {count}")


@app.command("list")
def list_(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help=f"Only this status ({', '.join(tuple(SubjectStatus))}).")] = None,
    category: Annotated[str | None, typer.Option(help="Only this category.")] = None,
    search: Annotated[str | None, typer.Option(help="Name contains this text.")] = None,
) -> None:
    """One line per subject."""
    for subject in _service(ctx).list_subjects(status=status, category=category, search=search):
        typer.echo(_summary(subject))


@app.command("show")
def show(ctx: typer.Context, subject_id: Annotated[str, typer.Argument(help="Subject id.")]) -> None:
    """Everything recorded about one subject (photos by stored name and quality)."""
    subject = _service(ctx).get(subject_id)
    out = {
        "id": subject.id,
        "name": subject.display_name,
        "category": subject.category,
        "status": subject.status,
        "legal_basis": {"type": subject.legal_basis_type, "reference": subject.legal_basis_reference},
        "approved_by": subject.approved_by,
        "review_date": subject.review_date.isoformat() if subject.review_date else None,
        "expires_at": subject.expires_at.isoformat(),
        "external_ref": subject.external_ref,
        "notes": subject.notes,
        "created_at": subject.created_at.isoformat(),
        "photos": [
            {
                "id": p.id,
                "file": p.media_name,
                "source": p.source_name,
                "quality": round(p.quality, 3),
                "inter_eye_px": round(p.inter_eye_px, 1),
            }
            for p in subject.photos
        ],
    }
    typer.echo(json.dumps(out, indent=2))


@app.command("due")
def due(ctx: typer.Context, days: Annotated[float, typer.Option(help="Look this many days ahead.")] = 30.0) -> None:
    """Entries whose expiry or review date falls within the next DAYS days (or has passed), soonest first."""
    for subject in _service(ctx).due(days):
        review = f"  review {subject.review_date}" if subject.review_date else ""
        typer.echo(_summary(subject) + review)


@app.command("suspend")
def suspend(ctx: typer.Context, subject_id: Annotated[str, typer.Argument(help="Subject id.")]) -> None:
    """Stop matching a subject until reinstated."""
    typer.echo(_summary(_service(ctx).suspend(subject_id, by=cli_by())))


@app.command("reinstate")
def reinstate(
    ctx: typer.Context,
    subject_id: Annotated[str, typer.Argument(help="Subject id.")],
    requested_by: Annotated[str, typer.Option("--requested-by", help="Username of the supervisor asking.")],
    approved_by: ApprovedBy,
) -> None:
    """Make a suspended, unexpired subject match again: asked for by one supervisor, approved by another."""
    service = _service(ctx)
    typer.echo(_summary(service.reinstate(subject_id, requested_by=requested_by, approved_by=approved_by, by=cli_by())))


@app.command("renew")
def renew(
    ctx: typer.Context,
    subject_id: Annotated[str, typer.Argument(help="Subject id.")],
    expires: Annotated[str, typer.Option("--expires", help="The new expiry: YYYY-MM-DD or ISO 8601.")],
    requested_by: Annotated[str, typer.Option("--requested-by", help="Username of the supervisor asking.")],
    approved_by: ApprovedBy,
) -> None:
    """Give an entry a new expiry (within its category's longest validity): a renewal is a new approval."""
    subject = _service(ctx).renew(
        subject_id, parse_expiry(expires), requested_by=requested_by, approved_by=approved_by, by=cli_by()
    )
    typer.echo(_summary(subject))


@app.command("approve")
def approve(
    ctx: typer.Context,
    subject_id: Annotated[str, typer.Argument(help="Subject id.")],
    approved_by: ApprovedBy,
) -> None:
    """Approve the change waiting on an entry (a proposal from the control room, a reinstatement, a renewal)."""
    subject = _service(ctx).approve(subject_id, approver=approved_by, by=cli_by())
    typer.echo(_summary(subject))


@app.command("add-sighting")
def add_sighting(
    ctx: typer.Context, alert_id: Annotated[str, typer.Argument(help="A confirmed alert (sighting).")]
) -> None:
    """Add the matched face of a confirmed sighting to its subject's templates (the face at the crop's centre
    only, and only if it resembles the subject's photos; removed with the subject)."""
    from vigil.domain.thresholds import template_floor

    service = _service(ctx)
    embedder = service.engine.embedder
    result = service.add_sighting_template(
        alert_id, min_similarity=template_floor(service.db, embedder.name, embedder.version), by=cli_by()
    )
    typer.echo(f"{result.subject_id}: added the face of sighting {alert_id} as a template")


@app.command("remove")
def remove(ctx: typer.Context, subject_id: Annotated[str, typer.Argument(help="Subject id.")]) -> None:
    """Delete a subject with its photos and embeddings."""
    deleted = _service(ctx).remove(subject_id, by=cli_by())
    typer.echo(f"removed {subject_id} ({deleted} photos deleted)")


@app.command("reembed")
def reembed(ctx: typer.Context) -> None:
    """Embed stored photos with the current embedder (after a model change), without re-enrolling."""
    service = _service(ctx)
    added = service.reembed()
    audit(ctx, AuditAction.WATCHLIST_REEMBEDDED, model=service.model, version=service.version, photos=added)
    typer.echo(f"{added} photos embedded with {service.model}@{service.version}")


@app.command("category-add")
def category_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Slug, e.g. 'bail-conditions'.")],
    label: Annotated[str, typer.Option("--label", help="Human-readable name.")],
    description: Annotated[str, typer.Option(help="What the category is for.")] = "",
    high_risk: Annotated[bool, typer.Option("--high-risk", help="Confirmations need a supervisor.")] = False,
    max_validity_days: Annotated[
        int, typer.Option("--max-validity-days", min=1, max=3660, help="An entry's longest validity.")
    ] = 365,
) -> None:
    """Add a category to the configurable list."""
    service = _service(ctx)
    category = service.add_category(name, label, description=description, high_risk=high_risk, by=cli_by())
    service.set_max_validity(category.name, max_validity_days, by=cli_by())
    typer.echo(f"{category.name}: {category.label}")


@app.command("category-validity")
def category_validity(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Category.")],
    days: Annotated[int, typer.Argument(help="The longest validity of a new entry or renewal, in days.")],
) -> None:
    """Set a category's longest validity (entries already approved keep their expiry)."""
    category = _service(ctx).set_max_validity(name, days, by=cli_by())
    typer.echo(f"{category.name}: entries valid for at most {category.max_validity_days} days")


@app.command("categories")
def categories(ctx: typer.Context) -> None:
    """The configured categories."""
    for category in _service(ctx).categories():
        flag = "  (high risk: confirmation needs a supervisor)" if category.high_risk else ""
        typer.echo(f"{category.name}: {category.label}  (at most {category.max_validity_days} days){flag}")
