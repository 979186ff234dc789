"""The settings object created once by the top-level command and handed to every sub-command."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TextIO

import typer

from vigil.domain.audit import Actor
from vigil.domain.vocabulary import AuditAction
from vigil.settings import VigilSettings


def settings_from(ctx: typer.Context) -> VigilSettings:
    root = ctx.find_root()
    settings = root.obj
    if not isinstance(settings, VigilSettings):
        raise RuntimeError("settings were not initialised by the vigil callback")
    return settings


def active_settings(ctx: typer.Context) -> VigilSettings:
    """The settings with the database's active model (`vigil models use`) as the embedder, unless one
    was given explicitly with --embedder or VIGIL_EMBEDDER."""
    from vigil.domain.audit import AuditLog
    from vigil.domain.models import ModelRegistry
    from vigil.services import with_active_model
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    if "embedder" in settings.model_fields_set:
        return settings
    db = open_database(settings)
    return with_active_model(settings, ModelRegistry(db, AuditLog(db, key_file=settings.resolved_audit_key_file)))


def cli_actor() -> str:
    """Who is acting from the command line, for the audit log."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"[:64]
    except Exception:
        return "cli"


def cli_by() -> Actor:
    """The command line's user as the actor of a change a domain service audits with it."""
    return Actor(cli_actor(), "cli")


def audit(
    ctx: typer.Context, action: AuditAction, *, object_type: str = "", object_id: str = "", **details: object
) -> None:
    """Append an audit entry for a command that changed something."""
    from vigil.domain.audit import AuditLog
    from vigil.store.db import open_database

    settings = settings_from(ctx)
    AuditLog(open_database(settings), key_file=settings.resolved_audit_key_file).record(
        cli_actor(), action, object_type=object_type, object_id=object_id, source="cli", details=dict(details)
    )


@contextlib.contextmanager
def progress_bar(label: str, *, file: TextIO | None = None) -> Iterator[Callable[[int, int], None]]:
    """A progress bar fed by a ``progress(done, total)`` callback, as the long measurements report."""
    with typer.progressbar(length=1, label=label, file=file) as bar:
        shown = {"n": 0}

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - shown["n"])
            shown["n"] = done

        yield progress
