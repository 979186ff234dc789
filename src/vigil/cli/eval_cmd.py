"""``vigil eval``: measure the face engine on labelled data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import settings_from
from vigil.eval.lfw import LfwDataset, evaluate_lfw, write_report
from vigil.vision.engine import FaceEngine

app = typer.Typer(help="Measure accuracy on labelled data.", no_args_is_help=True)


@app.command("lfw")
def lfw(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", help="LFW folder (images/ and pairs.txt).")],
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the JSON report (DET plot beside it).")],
    detector: Annotated[str | None, typer.Option(help="Detector backend.")] = None,
    embedder: Annotated[str | None, typer.Option(help="Embedder backend, or onnx:FILE.")] = None,
    gallery_images: Annotated[
        list[int] | None,
        typer.Option(
            "--gallery-images",
            help="Gallery images per person, K (repeat for several; the first is reported at the top level).",
        ),
    ] = None,
    max_pairs_per_fold: Annotated[
        int | None, typer.Option(help="Use only this many pairs per fold (quick runs).")
    ] = None,
    max_people: Annotated[int | None, typer.Option(help="Use only the first N people for 1:N (quick runs).")] = None,
) -> None:
    """Full pipeline on LFW: View-2 verification (10-fold) and open-set 1:N identification (FNIR at FPIR)."""
    settings = settings_from(ctx)
    ks = tuple(gallery_images or [1])
    if any(k < 1 for k in ks):
        raise typer.BadParameter("--gallery-images must be at least 1")
    dataset = LfwDataset(data)
    engine = FaceEngine.from_settings(settings, detector=detector, embedder=embedder).prepare()
    with typer.progressbar(length=1, label="embedding LFW images") as bar:
        state = {"shown": 0}

        def progress(done: int, total: int) -> None:
            bar.length = total
            bar.update(done - state["shown"])
            state["shown"] = done

        report = evaluate_lfw(
            engine,
            dataset,
            gallery_images=ks,
            max_pairs_per_fold=max_pairs_per_fold,
            max_people=max_people,
            progress=progress,
        )
    write_report(report, json_out)
    summary = {
        key: report[key]
        for key in (
            "detector",
            "embedder",
            "images",
            "no_face",
            "verification_accuracy",
            "verification_std",
            "rank1",
            "fnir_at_fpir_1pct",
            "fnir_at_fpir_0_1pct",
            "seconds",
            "det_plot",
        )
    }
    typer.echo(json.dumps(summary, indent=2))
