"""``vigil models``: which face models exist, where their weights come from, and whether they are here."""

from __future__ import annotations

import typer

from vigil.cli.context import settings_from
from vigil.vision.catalogue import CATALOGUE

app = typer.Typer(help="Face models: provenance, licence and availability.", no_args_is_help=True)


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Each detector and embedder: weights, licence, training data, and whether it can run here."""
    settings = settings_from(ctx)
    typer.echo(f"models directory: {settings.resolved_models_dir}")
    typer.echo(f"defaults: detector={settings.detector} embedder={settings.embedder}\n")
    for spec in CATALOGUE:
        missing = spec.missing(settings)
        state = "available" if not missing else "NOT AVAILABLE"
        typer.echo(f"{spec.name}  [{spec.kind}]  {state}")
        typer.echo(f"  {spec.summary}")
        typer.echo(f"  weights:       {spec.weights}")
        typer.echo(f"  licence:       {spec.license}")
        typer.echo(f"  training data: {spec.training_data}")
        if missing:
            typer.echo(f"  to supply:     {spec.supply_hint}")
        typer.echo("")
    typer.echo("Any ArcFace-style ONNX file (input N x 3 x 112 x 112) can be used as --embedder onnx:FILE.")
