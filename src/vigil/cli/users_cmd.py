"""``vigil users``: local accounts (the first admin is created here)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from vigil.cli.context import cli_by, settings_from

app = typer.Typer(
    help="Local users and their roles (admin, supervisor, operator, auditor, authoriser).", no_args_is_help=True
)


def _service(ctx: typer.Context):  # type: ignore[no-untyped-def]
    """The users, their every change audited in its own transaction."""
    from vigil.domain.audit import AuditLog
    from vigil.domain.users import UserService
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    db = open_database(settings)
    return UserService(db, audit=AuditLog(db, key_file=settings.resolved_audit_key_file))


@app.command("add")
def add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name (lower case).")],
    role: Annotated[str, typer.Option("--role", help="admin, supervisor, operator, auditor or authoriser.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")] = "",
    password_env: Annotated[
        str | None, typer.Option("--password-env", help="Read the password from this environment variable.")
    ] = None,
) -> None:
    """Create a user; the password is asked for (or read from --password-env), never taken as an argument.
    The server's administrator at the command line adds users directly; in the control room an admin
    proposes and a second admin approves."""
    if password_env:
        password = os.environ.get(password_env, "")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    created = _service(ctx).add(username, password, role, display_name=name, by=cli_by())
    typer.echo(f"{created.username}  {created.role}  {created.user_id}")


@app.command("list")
def list_users(ctx: typer.Context) -> None:
    """Every user with their role."""
    for user in _service(ctx).all_users():
        state = "" if user.active else "  (inactive)"
        pending = (
            f"  (waiting for a second admin: {user.pending_role}, asked by {user.requested_by})"
            if user.pending_role
            else ""
        )
        typer.echo(f"{user.username}  {user.role}  {user.display_name}{state}{pending}")


@app.command("deactivate")
def deactivate(ctx: typer.Context, username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Deactivate a user: their sessions and tokens end at once (the last active admin cannot be)."""
    _service(ctx).set_active(username, False, by=cli_by())
    typer.echo(f"deactivated {username}")


@app.command("reactivate")
def reactivate(ctx: typer.Context, username: Annotated[str, typer.Argument(help="Login name.")]) -> None:
    """Let a deactivated user log in again."""
    _service(ctx).set_active(username, True, by=cli_by())
    typer.echo(f"reactivated {username}")


@app.command("role")
def role(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.")],
    new_role: Annotated[
        str, typer.Argument(metavar="ROLE", help="admin, supervisor, operator, auditor or authoriser.")
    ],
) -> None:
    """Change a user's role; their sessions and tokens end (the last active admin keeps the role)."""
    changed = _service(ctx).set_role(username, new_role, by=cli_by())
    typer.echo(f"{changed.username}  {changed.role}")


@app.command("groups")
def groups(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.")],
    group: Annotated[
        list[str] | None,
        typer.Argument(
            help="Camera groups (police-station areas) whose red flags the user's field view lists; none: all."
        ),
    ] = None,
) -> None:
    """Set the camera groups a user (an officer of a station) follows on the phone view (/field)."""
    chosen = _service(ctx).set_groups(username, group or [], by=cli_by())
    typer.echo(f"{username}: " + (", ".join(chosen) if chosen else "every area"))


@app.command("locale")
def locale(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="Login name.")],
    language: Annotated[str, typer.Argument(help="en or hi; 'browser' to follow the browser's language.")],
) -> None:
    """Set the language of a user's pages (English or Hindi)."""
    chosen = _service(ctx).set_locale(username, None if language == "browser" else language, by=cli_by())
    typer.echo(f"{username}: {chosen or 'the language of the browser'}")
