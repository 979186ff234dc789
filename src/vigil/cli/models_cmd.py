"""``vigil models``: which face models exist, where their weights come from, whether they are here, and
the lifecycle of a licensed recogniser (add, list, use, remove; docs/models.md)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vigil.cli.context import cli_by, settings_from
from vigil.errors import DatasetError, ModelRegistryError
from vigil.vision.catalogue import CATALOGUE, added_model_path

if TYPE_CHECKING:
    from vigil.domain.models import ModelRegistry
    from vigil.settings import VigilSettings
    from vigil.store.db import Database

app = typer.Typer(
    help="Face models: provenance, licence and availability; add, calibrate, switch to and remove a licensed "
    "recogniser.",
    no_args_is_help=True,
)

MIN_CALIBRATION_PEOPLE = 20
"""People with at least two photos that a calibration set needs (their second photos become the genuine
tracks; fewer leave the per-face and track curves without a usable tail)."""


def _registry(settings: VigilSettings) -> tuple[Database, ModelRegistry]:
    from vigil.domain.audit import AuditLog
    from vigil.domain.models import ModelRegistry
    from vigil.store.db import open_database

    db = open_database(settings)
    return db, ModelRegistry(db, AuditLog(db, key_file=settings.resolved_audit_key_file))


def check_labelled_set(data: Path, people: int) -> int:
    """How many of the first ``people`` people of an LFW-layout folder have two photos or more; a
    DatasetError when the folder is not labelled or holds too few of them."""
    from vigil.eval.lfw import LfwDataset

    if not data.is_dir():
        raise DatasetError(f"--calibrate-on {data}: no such folder")
    counts = LfwDataset(data).people()  # DatasetError without images/<Name>/
    if not counts:
        raise DatasetError(
            f"--calibrate-on {data}: no labelled photos (expected images/<Name>/<Name>_0001.jpg, one folder a person)"
        )
    usable = sum(1 for name in sorted(counts)[:people] if counts[name] >= 2)
    if usable < MIN_CALIBRATION_PEOPLE:
        raise DatasetError(
            f"--calibrate-on {data}: {usable} of the first {min(people, len(counts))} people have two or more "
            f"photos; calibration needs at least {MIN_CALIBRATION_PEOPLE} such people (a larger set or --people)"
        )
    return usable


def _progress_bar(label: str):  # type: ignore[no-untyped-def]
    """A progress bar on stderr and the (done, total) callback that moves it."""
    bar = typer.progressbar(length=1, label=label, file=sys.stderr)
    shown = {"n": 0}

    def progress(done: int, total: int) -> None:
        bar.length = max(total, 1)
        bar.update(done - shown["n"])
        shown["n"] = done

    return bar, progress


@app.command("list")
def list_models(ctx: typer.Context) -> None:
    """Each detector and embedder: weights, licence, training data, whether it can run here; then every
    added model (licence, source, checksum, when and on what calibrated) and which embedder is active."""
    settings = settings_from(ctx)
    _db, registry = _registry(settings)
    active = registry.active()
    active_name = active.name if active is not None else settings.embedder
    typer.echo(f"models directory: {settings.resolved_models_dir}")
    typer.echo(f"defaults: detector={settings.detector} embedder={settings.embedder}")
    if active is not None:
        typer.echo(
            f"active embedder: {active.name}@{active.version} since {active.since:%Y-%m-%d %H:%M}Z "
            f"(by {active.by}: {active.reason})"
        )
    else:
        typer.echo(f"active embedder: {settings.embedder} (none switched to with `vigil models use`)")
    typer.echo("")
    for spec in CATALOGUE:
        missing = spec.missing(settings)
        state = "available" if not missing else "NOT AVAILABLE"
        mark = "  ACTIVE" if spec.kind == "embedder" and spec.name == active_name else ""
        typer.echo(f"{spec.name}  [{spec.kind}]  {state}{mark}")
        typer.echo(f"  {spec.summary}")
        typer.echo(f"  weights:       {spec.weights}")
        typer.echo(f"  licence:       {spec.license}")
        typer.echo(f"  training data: {spec.training_data}")
        if missing:
            typer.echo(f"  to supply:     {spec.supply_hint}")
        typer.echo("")
    added = registry.list()
    typer.echo(f"added models ({len(added)}; `vigil models add`):")
    for model in added:
        present = added_model_path(settings, model.name).is_file()
        state = "available" if present else f"FILE MISSING ({added_model_path(settings, model.name)})"
        mark = "  ACTIVE" if model.name == active_name else ""
        typer.echo(f"{model.name}  [embedder]  {state}{mark}")
        typer.echo(f"  file:          {model.file_name} ({model.input_size}x{model.input_size} in, {model.dim}-d out)")
        typer.echo(f"  sha256:        {model.sha256}")
        typer.echo(f"  licence:       {model.licence}")
        typer.echo(f"  source:        {model.source or '(not stated)'}")
        typer.echo(f"  added:         {model.added_at:%Y-%m-%d %H:%M}Z by {model.added_by}")
        when = f"{model.calibrated_at:%Y-%m-%d %H:%M}Z" if model.calibrated_at else "?"
        typer.echo(f"  calibrated:    {when} on {model.calibrated_on} (calibration #{model.calibration_id})")
        typer.echo("")
    typer.echo("Any ArcFace-style ONNX file (input N x 3 x 112 x 112) can be used as --embedder onnx:FILE.")


@app.command("add")
def add(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The ArcFace-style ONNX file (N x 3 x S x S in, N x D out).")],
    name: Annotated[str, typer.Option("--name", help="Name to run it by (--embedder NAME, `models use NAME`).")],
    licence: Annotated[str, typer.Option("--licence", help="Under which licence the force holds the model.")],
    calibrate_on: Annotated[
        Path, typer.Option("--calibrate-on", help="Labelled set in LFW layout (images/<Name>/<Name>_NNNN.jpg).")
    ],
    source: Annotated[str, typer.Option("--source", help="Where it came from: vendor, version, training data.")] = "",
    people: Annotated[
        int, typer.Option("--people", min=2, help="People of the labelled set used (their first photos enrolled).")
    ] = 1500,
    looks: Annotated[
        int, typer.Option("--looks", min=2, help="CCTV-like stills per probe track (as many as a live track keeps).")
    ] = 10,
) -> None:
    """Check a licensed ArcFace-style ONNX file, record its SHA-256, copy it into the models folder and
    measure its error curves (per face, per size band, pooled face, track-level) on the labelled set, so
    it runs calibrated from its first minute. Nothing is stored when a check fails."""
    from vigil.domain.audit import AuditLog
    from vigil.domain.thresholds import ThresholdService
    from vigil.eval.curves import measure_and_fit
    from vigil.samples import sample_images
    from vigil.vision.catalogue import create_detector
    from vigil.vision.embedders.arcface_onnx import ArcFaceOnnxEmbedder
    from vigil.vision.embedders.check import check_embedder_file
    from vigil.vision.embedders.flip import FlipAugmentedEmbedder
    from vigil.vision.engine import FaceEngine
    from vigil.vision.onnx_utils import file_sha256
    from vigil.vision.types import central_face

    settings = settings_from(ctx)
    db, registry = _registry(settings)
    registry.check_new_name(name)
    if len(licence.strip()) < 3:
        raise ModelRegistryError("--licence: say under which licence the force holds this model")
    if not file.is_file():
        raise ModelRegistryError(f"{file}: no such file")
    check_labelled_set(calibrate_on, people)
    detector = create_detector(settings.detector, settings)
    detector.prepare()
    portrait = sample_images()[0]
    faces = detector.detect(portrait)
    face = faces[central_face(faces, portrait.shape[1], portrait.shape[0])]
    report = check_embedder_file(file, portrait, face.kps[0])
    typer.echo(
        f"checked {file.name}: input {report.input_size}x{report.input_size}, {report.dim}-d embedding, "
        f"repeatable (difference {report.repeat_difference:.1e}); sha256 {report.sha256}"
    )
    inner = ArcFaceOnnxEmbedder(file, name=name, threads=settings.threads)
    embedder = FlipAugmentedEmbedder(inner) if settings.embed_flip else inner
    engine = FaceEngine(detector, embedder).prepare()
    bar, progress = _progress_bar(f"calibrating {name} on {calibrate_on.name}")
    with bar:
        try:
            fitted = measure_and_fit(
                engine,
                calibrate_on,
                people=people,
                looks=looks,
                min_quality=settings.live_min_quality,
                progress=progress,
            )
        except ValueError as exc:  # too few scores to fit a curve
            raise DatasetError(f"--calibrate-on {calibrate_on}: {exc}; use a larger labelled set") from None
    destination = added_model_path(settings, name)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".part")
    shutil.copyfile(file, partial)
    try:
        if file_sha256(partial) != report.sha256:
            raise ModelRegistryError(f"{file} changed while it was being added; add it again")
        os.replace(partial, destination)
        thresholds = ThresholdService(
            db, AuditLog(db, key_file=settings.resolved_audit_key_file), embedder.name, embedder.version
        )
        curve = thresholds.store_calibration(
            fitted.scores.genuine,
            fitted.scores.impostor,
            str(calibrate_on),
            cli_by().username,
            model=fitted.model,
            tracks=fitted.tracks,
            looks=fitted.looks,
        )
        model = registry.add(
            name=name,
            file_name=file.name,
            sha256=report.sha256,
            version=embedder.version,
            licence=licence,
            source=source,
            input_size=report.input_size,
            dim=report.dim,
            calibration_id=thresholds.latest_calibration_id() or 0,
            calibrated_on=f"{calibrate_on} ({people} people, {looks} looks)",
            by=cli_by(),
        )
    except BaseException:
        partial.unlink(missing_ok=True)
        if registry.get(name) is None:
            destination.unlink(missing_ok=True)
        raise
    typer.echo(
        f"added {model.name} ({model.sha256[:12]}): {curve.genuine} genuine and {curve.impostor} impostor scores, "
        f"rule {fitted.looks.rule}; copied to {destination}"
    )
    typer.echo(f"switch to it with: vigil models use {model.name} --reason '…'")


@app.command("remove")
def remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="An added model's name.")]) -> None:
    """Forget an added model and delete its copied file and its templates (refused while it is active)."""
    settings = settings_from(ctx)
    _db, registry = _registry(settings)
    model = registry.remove(name, by=cli_by())
    added_model_path(settings, name).unlink(missing_ok=True)
    typer.echo(f"removed {model.name} ({model.sha256[:12]})")


@app.command("use")
def use(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An added model's name, or a bundled embedder (e.g. dlib-resnet).")],
    reason: Annotated[str, typer.Option("--reason", help="Why the model changes (recorded in the audit log).")],
) -> None:
    """Switch every process to a model: re-embed every enrolled photo with it (resumable; the old templates
    stay and matching goes on until the new ones are complete), let each category's threshold follow the
    new curves at its policy and the watchlist size, and record one audit entry."""
    from vigil.services import switch_active_model

    settings = settings_from(ctx)
    bar, progress = _progress_bar(f"re-embedding enrolled photos with {name}")
    with bar:
        switched = switch_active_model(settings, name, reason=reason, by=cli_by(), progress=progress)
    typer.echo(f"{switched.embedded} photos embedded with {switched.name}@{switched.version}")
    for category, value in switched.after.items():
        was = switched.before.get(category)
        typer.echo(f"  {category:22s} threshold {'?' if was is None else f'{was:.3f}'} -> {value:.3f}")
    typer.echo(
        f"active model: {switched.name} (running `vigil serve`, `vigil run` and `vigil worker` processes switch "
        "to it within seconds; one that cannot load it — its file missing or different — says so in its log and "
        "runs no camera until it can)"
    )
