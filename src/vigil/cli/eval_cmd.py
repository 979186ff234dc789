"""``vigil eval``: measure the face engine on labelled data."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import progress_bar, settings_from
from vigil.eval.groups import read_groups
from vigil.eval.lfw import LfwDataset, evaluate_lfw, write_report
from vigil.vision.engine import FaceEngine

app = typer.Typer(help="Measure accuracy on labelled data.", no_args_is_help=True)


def deployed_threshold(engine: FaceEngine, watchlist_size: int, policy_per_1000: float = 1.0) -> float | None:
    """The single-face threshold a fresh install would deploy for a watchlist of this size (shipped curves,
    the default policy); None without shipped curves."""
    from vigil.recognition.calibration import CategoryPolicy, category_rule, shipped_curves

    curves = shipped_curves(engine.embedder.name, engine.embedder.version)
    if curves is None:
        return None
    rule, _ = category_rule(curves, CategoryPolicy(policy_per_1000, 1, None), watchlist_size, 1.0)
    return rule.threshold


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
    groups: Annotated[
        Path | None,
        typer.Option("--groups", help="CSV person,group supplied by the operator (LFW has none): FNIR/FPIR per group."),
    ] = None,
) -> None:
    """Full pipeline on LFW: View-2 verification (10-fold) and open-set 1:N identification (FNIR at FPIR)."""
    settings = settings_from(ctx)
    ks = tuple(gallery_images or [1])
    if any(k < 1 for k in ks):
        raise typer.BadParameter("--gallery-images must be at least 1")
    dataset = LfwDataset(data)
    engine = FaceEngine.from_settings(settings, detector=detector, embedder=embedder).prepare()
    labels = read_groups(groups)
    deployed = deployed_threshold(engine, len(dataset.people())) if labels else None
    with progress_bar("embedding LFW images") as progress:
        report = evaluate_lfw(
            engine,
            dataset,
            gallery_images=ks,
            max_pairs_per_fold=max_pairs_per_fold,
            max_people=max_people,
            progress=progress,
            groups=labels or None,
            deployed_threshold=deployed,
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


@app.command("walkby")
def walkby(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", help="LFW folder (images/<Name>/<Name>_NNNN.jpg).")],
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the JSON report.")],
    watchlist_size: Annotated[
        list[int] | None, typer.Option("--watchlist-size", help="Watchlist size N (repeat; default 10, 100, 1000).")
    ] = None,
    enrolled: Annotated[int, typer.Option("--enrolled", help="Enrolled people seen in a walk-by (K).", min=1)] = 100,
    distractors: Annotated[
        int, typer.Option("--distractors", help="Walk-bys of people enrolled nowhere (D).", min=1)
    ] = 200,
    policy: Annotated[
        float, typer.Option("--policy", help="False alerts per 1,000 passers-by the rule is set for.")
    ] = 1.0,
    groups: Annotated[
        Path | None, typer.Option("--groups", help="CSV person,group supplied by the operator: rates per group.")
    ] = None,
    clips: Annotated[
        Path | None, typer.Option("--clips", help="Folder for the rendered clips (reused; default beside --json).")
    ] = None,
    detector: Annotated[str | None, typer.Option(help="Detector backend.")] = None,
    embedder: Annotated[str | None, typer.Option(help="Embedder backend, or onnx:FILE.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the people drawn and the clips rendered.")] = 0,
    curves_file: Annotated[
        Path | None,
        typer.Option(
            "--curves",
            help="Error curves from `vigil eval curves` (default: the ones shipped for the embedder, else the "
            "calibration stored for it by `vigil models add` or `vigil calibrate`).",
        ),
    ] = None,
    sighting_templates: Annotated[
        bool,
        typer.Option(
            "--sighting-templates/--no-sighting-templates",
            help="Also measure a later walk-by (third photo) with the first walk-by's face added as a template.",
        ),
    ] = True,
    schedule: Annotated[
        str, typer.Option(help="Detection schedule of the live analysis: adaptive (the default) or full.")
    ] = "adaptive",
    varied_looks: Annotated[
        bool,
        typer.Option(
            "--varied-looks/--single-photo",
            help="Enrolled walk-bys show three further photos of the person in turn (people with >= 4 photos): "
            "pose and expression change as in real video. Default: one photo degraded as a camera would.",
        ),
    ] = False,
    workers: Annotated[
        int, typer.Option(help="Analysis processes (one model thread each; walk-bys shared among them).", min=1)
    ] = 1,
    compare: Annotated[
        list[Path] | None,
        typer.Option(
            "--compare",
            help="Curves files (`vigil eval curves --rule …`) whose track rules are replayed on the same walk-bys "
            "at the same false-alert rate (repeat; for choosing a rule).",
        ),
    ] = None,
) -> None:
    """Synthetic CCTV walk-bys through the live pipeline: enrolled from one photo, seen from another
    (docs/evaluation.md). Hit rate, wrong-subject rate and false alerts per 1,000 passers-by per watchlist
    size, beside today's vote rule and a per-frame rule at the same false-alert rate."""
    from vigil.eval.walkby import WalkbyConfig, run_walkby
    from vigil.pipeline.analyser import AnalysisSettings
    from vigil.recognition.calibration import load_curves_file, shipped_curves
    from vigil.vision.catalogue import default_threshold

    settings = settings_from(ctx)
    if schedule not in ("adaptive", "full"):
        raise typer.BadParameter(f"{schedule!r}: adaptive or full", param_hint="--schedule")
    sizes = tuple(watchlist_size or [10, 100, 1000])
    if any(n < 1 for n in sizes):
        raise typer.BadParameter("--watchlist-size must be at least 1")
    if not 0 < policy < 1000:
        raise typer.BadParameter("--policy must be between 0 and 1000 false alerts per 1,000 passers-by")
    engine = FaceEngine.from_settings(settings, detector=detector, embedder=embedder).prepare()
    curves = (
        load_curves_file(curves_file, engine.embedder)
        if curves_file is not None
        else shipped_curves(engine.embedder.name, engine.embedder.version)
    )
    if curves is None and curves_file is None:  # an added model: the curves `vigil models add` measured
        from vigil.domain.thresholds import load_curves
        from vigil.store.db import open_database

        curves = load_curves(open_database(settings), engine.embedder.name, engine.embedder.version)
    candidates = {}
    for path in compare or []:
        other = load_curves_file(path, engine.embedder)
        if other.looks is None:
            raise typer.BadParameter(f"{path}: no look model in these curves", param_hint="--compare")
        candidates[path.stem] = other
    config = WalkbyConfig(
        sizes,
        enrolled,
        distractors,
        policy,
        seed=seed,
        groups=read_groups(groups),
        sighting_templates=sighting_templates,
        analysis=AnalysisSettings.from_settings(settings.model_copy(update={"detect_schedule": schedule})),
        candidates=candidates,
        varied_looks=varied_looks,
        workers=workers,
    )
    report = run_walkby(
        engine,
        data,
        clips or json_out.parent / "walkby-clips",
        config,
        curves=curves,
        fallback_threshold=default_threshold(engine.embedder.name),
        progress=lambda message: typer.echo(message, err=True),
        engine_factory=functools.partial(
            FaceEngine.from_settings, settings.model_copy(update={"threads": 1}), detector=detector, embedder=embedder
        ),
    )
    report["workers"] = workers
    report["curves"] = curves.source if curves else "none: vote rule at the provisional threshold"
    if groups is not None:
        report["groups_file"] = str(groups)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(report, indent=2) + "\n")
    for row in report["results"]:
        typer.echo(
            f"N={row['watchlist_size']:>5}: hit {row['hit_rate']:.1%}, wrong subject {row['wrong_subject_rate']:.1%}, "
            f"false alerts {row['false_alerts_per_1000']:g}/1000 | at the same false-alert rate: "
            + (f"fused rule {row['fused_rule_hit_rate']:.1%}, " if row["fused_rule_hit_rate"] is not None else "")
            + f"today's rule {row['todays_rule_hit_rate']:.1%}, per-frame {row['per_frame_hit_rate']:.1%}"
            + "".join(f", {name} {c['hit_rate']:.1%}" for name, c in row["candidate_rules"].items())
        )


@app.command("curves")
def curves(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option("--data", help="LFW folder.")],
    out: Annotated[
        Path, typer.Option("--out", help="Curves file to write (package data: src/vigil/recognition/curves/).")
    ],
    people: Annotated[int, typer.Option(help="People enrolled from their first image.")] = 1500,
    looks: Annotated[
        int, typer.Option(help="CCTV-like stills per track (as many as a live track keeps: 10).", min=2)
    ] = 10,
    rule: Annotated[
        str, typer.Option(help="Track rule the track-level curve is measured for: looks+pooled, best-looks, pooled.")
    ] = "looks+pooled",
    best: Annotated[
        int, typer.Option(help="Looks that count in the best-looks evidence (1: the best look).", min=1)
    ] = 1,
    varied_looks: Annotated[
        bool,
        typer.Option(
            "--varied-looks/--single-photo",
            help="Tracks from several different photos of each person (>= 4 photos) instead of one photo "
            "degraded several ways (the cautious protocol the shipped curves use).",
        ),
    ] = False,
    embedder: Annotated[str | None, typer.Option(help="Embedder backend.")] = None,
) -> None:
    """Measure the error curves, the size-banded and pooled-face evidence and the track-level curve Vigil
    ships for an embedder (numbers only; docs/calibration.md)."""
    from vigil.eval.curves import curves_document, measure_and_fit
    from vigil.recognition.looks import RULES

    if rule not in RULES:
        raise typer.BadParameter(f"{rule!r}: one of {', '.join(RULES)}", param_hint="--rule")
    settings = settings_from(ctx)
    engine = FaceEngine.from_settings(settings, embedder=embedder).prepare()
    with progress_bar("measuring CCTV-like tracks", file=sys.stderr) as progress:
        fitted = measure_and_fit(
            engine,
            data,
            people=people,
            looks=looks,
            rule=rule,
            best=best,
            varied=varied_looks,
            min_quality=settings.live_min_quality,
            progress=progress,
        )
    command = f"vigil eval curves --data LFW --out {out.name} --people {people} --looks {looks} --rule {rule}"
    command += f" --best {best}" + (" --varied-looks" if varied_looks else "")
    if embedder:
        command += f" --embedder {embedder}"
    document = curves_document(engine, fitted, data="LFW (deep-funneled)", command=command)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document) + "\n")
    typer.echo(
        json.dumps(
            {
                k: document[k]
                for k in ("embedder", "version", "protocol", "rule", "templates", "tracks", "stills", "no_face")
            }
            | {"validated_floor": document["validated_floor"], "rho": fitted.looks.rho, "out": str(out)}
        )
    )
