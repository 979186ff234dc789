"""The ``vigil`` command."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from vigil import __version__
from vigil.cli import (
    audit_cmd,
    authorisation_cmd,
    backup_cmd,
    bench_cmd,
    calibrate_cmd,
    camera_cmd,
    demo_cmd,
    eval_cmd,
    evidence_cmd,
    faces_cmd,
    models_cmd,
    notify_cmd,
    report_cmd,
    retention_cmd,
    run_cmd,
    serve_cmd,
    users_cmd,
    watchlist_cmd,
    worker_cmd,
)
from vigil.errors import ConfigurationError, VigilError
from vigil.logs import configure_logging
from vigil.settings import load_settings

app = typer.Typer(
    name="vigil",
    help="Vigil — accountable live face-watchlist system for city camera networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(models_cmd.app, name="models")
app.add_typer(eval_cmd.app, name="eval")
app.add_typer(bench_cmd.app, name="bench")
app.add_typer(watchlist_cmd.app, name="watchlist")
app.add_typer(camera_cmd.app, name="camera")
app.add_typer(authorisation_cmd.app, name="authorisation")
app.command("run")(run_cmd.run)
app.add_typer(users_cmd.app, name="users")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(evidence_cmd.app, name="evidence")
app.add_typer(retention_cmd.app, name="retention")
app.add_typer(notify_cmd.app, name="notify")
app.add_typer(calibrate_cmd.thresholds_app, name="thresholds")
app.command("calibrate")(calibrate_cmd.calibrate)
app.command("report")(report_cmd.report)
app.command("serve")(serve_cmd.serve)
app.command("worker")(worker_cmd.worker)
app.command("demo")(demo_cmd.demo)
app.command("detect")(faces_cmd.detect)
app.command("backup")(backup_cmd.backup)
app.command("restore")(backup_cmd.restore)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vigil {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", envvar="VIGIL_DATA_DIR", help="Where Vigil keeps its database, media and converted models."
        ),
    ] = None,
    models_dir: Annotated[
        Path | None,
        typer.Option(
            "--models-dir",
            envvar="VIGIL_MODELS_DIR",
            help="Folder with user-supplied model files (default: <data-dir>/models).",
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", envvar="VIGIL_THREADS", help="CPU threads per model; 0 = automatic.")
    ] = None,
    embedder: Annotated[
        str | None,
        typer.Option(
            "--embedder",
            envvar="VIGIL_EMBEDDER",
            help="Face model every command runs: a bundled embedder (dlib-resnet), an added model's name (`vigil "
            "models add`) or onnx:FILE (default: the active model, `vigil models use`). Before the command: "
            "`vigil --embedder NAME serve`.",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress to stderr.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    try:
        ctx.obj = load_settings(data_dir=data_dir, models_dir=models_dir, threads=threads, embedder=embedder)
    except ValidationError as exc:  # one line naming each bad setting (never its value: it may be a secret)
        problems = "; ".join(
            f"VIGIL_{str(e['loc'][0]).upper()}: {e['msg']}" if e["loc"] else str(e["msg"]) for e in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None
    configure_logging(ctx.obj.log_format, logging.INFO if verbose else logging.WARNING)


def main() -> None:
    """Entry point: Vigil's own errors become one clear line on stderr and exit status 2."""
    try:
        app()  # standalone mode: usage errors print click's message and exit 2
    except VigilError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
