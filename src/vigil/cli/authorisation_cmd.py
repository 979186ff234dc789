"""``vigil authorisation``: the authorisations cameras scan under (add, list, end, due)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

import typer

from vigil.cli.context import cli_actor, settings_from
from vigil.domain.authorisations import AuthorisationError, AuthorisationService, AuthorisationView

app = typer.Typer(
    help="Authorisations: a camera analyses only while one covering it is active, and matches only the "
    "subjects in its scope.",
    no_args_is_help=True,
)


def _service(ctx: typer.Context) -> AuthorisationService:
    from vigil.domain.audit import AuditLog
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    db = open_database(settings)
    return AuthorisationService(db, AuditLog(db, key_file=settings.resolved_audit_key_file))


def _instant(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise AuthorisationError("authorisation-period", f"{option} {text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise AuthorisationError(
            "authorisation-period", f"{option} {text!r} has no timezone: add one (e.g. +05:30 or Z)"
        )
    return value


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]


def as_json(view: AuthorisationView, at: datetime | None = None) -> dict[str, Any]:
    from vigil.clock import system_clock

    return {
        "id": view.id,
        "state": view.state(at or system_clock()),
        "purpose": view.purpose,
        "reason": view.reason,
        "requested_by": view.requested_by,
        "authorised_by": view.authorised_by,
        "cameras": list(view.cameras),
        "camera_groups": list(view.camera_groups),
        "categories": list(view.categories),
        "subjects": list(view.subjects),
        "starts_at": view.starts_at.isoformat(),
        "ends_at": view.ends_at.isoformat(),
        "review_date": None if view.review_date is None else view.review_date.isoformat(),
        "ended_at": None if view.ended_at is None else view.ended_at.isoformat(),
        "ended_by": view.ended_by,
        "end_reason": view.end_reason,
        "thresholds": view.thresholds,
    }


def _line(view: AuthorisationView) -> str:
    from vigil.clock import system_clock

    where = ",".join([*view.cameras, *(f"group:{g}" for g in view.camera_groups)])
    scope = ",".join([*view.categories, *(f"subject:{s}" for s in view.subjects)])
    review = f"  review {view.review_date}" if view.review_date else ""
    return (
        f"{view.id}  {view.state(system_clock())}  {view.starts_at.isoformat()} → {view.until.isoformat()}  "
        f"cameras {where}  scope {scope}  authorised by {view.authorised_by} (asked by {view.requested_by})"
        f"{review}  — {view.purpose}"
    )


@app.command("add")
def add(
    ctx: typer.Context,
    cameras: Annotated[
        list[str] | None, typer.Option("--cameras", help="NAME[,NAME…]: the cameras it covers (repeatable).")
    ] = None,
    groups: Annotated[
        list[str] | None, typer.Option("--groups", help="GROUP[,GROUP…]: camera groups it covers (repeatable).")
    ] = None,
    categories: Annotated[
        list[str] | None, typer.Option("--categories", help="CAT[,CAT…]: watchlist categories in its scope.")
    ] = None,
    subjects: Annotated[
        list[str] | None, typer.Option("--subjects", help="ID[,ID…]: named subjects in its scope.")
    ] = None,
    starts: Annotated[str, typer.Option("--from", help="Start, ISO 8601 with a timezone (inclusive).")] = "",
    until: Annotated[str, typer.Option("--until", help="End, ISO 8601 with a timezone (exclusive).")] = "",
    purpose: Annotated[str, typer.Option("--purpose", help="Why scanning is needed (shown and published).")] = "",
    requested_by: Annotated[str, typer.Option("--requested-by", help="Username of the supervisor asking.")] = "",
    authorised_by: Annotated[
        str, typer.Option("--authorised-by", help="Username of the authoriser (never the requester).")
    ] = "",
    reason: Annotated[str, typer.Option("--reason", help="The authoriser's reasons.")] = "",
    review: Annotated[
        str, typer.Option("--review", help="Review date (YYYY-MM-DD); needed for periods over 31 days.")
    ] = "",
) -> None:
    """Record a signed authorisation and print its id. The thresholds in force now are recorded with it."""
    from vigil.cli.calibrate_cmd import _service as threshold_service
    from vigil.domain.authorisations import threshold_snapshot

    if not starts or not until:
        raise AuthorisationError("authorisation-period", "give --from and --until")
    review_date = None
    if review:
        try:
            review_date = date.fromisoformat(review)
        except ValueError:
            raise AuthorisationError("authorisation-review", f"--review {review!r} is not YYYY-MM-DD") from None
    service = _service(ctx)
    view = service.add(
        cameras=_split(cameras),
        camera_groups=_split(groups),
        categories=_split(categories),
        subjects=_split(subjects),
        starts_at=_instant(starts, "--from"),
        ends_at=_instant(until, "--until"),
        purpose=purpose,
        requested_by=requested_by,
        authorised_by=authorised_by,
        reason=reason,
        review_date=review_date,
        thresholds=threshold_snapshot(threshold_service(ctx).thresholds()),
        source="cli",
    )
    typer.echo(view.id)


@app.command("list")
def list_authorisations(
    ctx: typer.Context, json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False
) -> None:
    """Every authorisation, newest start first, with its state (scheduled, active, ended, expired)."""
    for view in _service(ctx).all():
        typer.echo(json.dumps(as_json(view)) if json_lines else _line(view))


@app.command("end")
def end(
    ctx: typer.Context,
    authorisation_id: Annotated[str, typer.Argument(help="Authorisation id.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it ends early.")] = "ended from the command line",
) -> None:
    """End an authorisation now: its cameras stop scanning within a second or two."""
    view = _service(ctx).end(authorisation_id, by=cli_actor(), reason=reason, source="cli")
    typer.echo(_line(view))


@app.command("due")
def due(ctx: typer.Context, days: Annotated[float, typer.Option(help="Look this many days ahead.")] = 30.0) -> None:
    """Authorisations whose end or review date falls within the next DAYS days (or has passed), soonest first."""
    for view in _service(ctx).due(days):
        typer.echo(_line(view))
