"""``vigil calibrate`` and ``vigil thresholds``: operating thresholds from measured error rates."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import active_settings, cli_actor, progress_bar
from vigil.errors import DatasetError

thresholds_app = typer.Typer(
    help="Per-category thresholds, their expected error rates and history.", no_args_is_help=True
)
DEFAULT_TARGET = 0.001


def _service(ctx: typer.Context, engine=None):  # type: ignore[no-untyped-def]
    from vigil.domain.audit import AuditLog
    from vigil.domain.thresholds import ThresholdService
    from vigil.store.db import open_database
    from vigil.vision.catalogue import create_embedder

    settings = active_settings(ctx)
    db = open_database(settings)
    if engine is not None:
        embedder = engine.embedder
    else:
        embedder = create_embedder(settings.embedder, settings)
        embedder.prepare()  # its version is the weights' digest
    return ThresholdService(
        db, AuditLog(db, key_file=settings.resolved_audit_key_file), embedder.name, embedder.version
    )


def _targets(values: list[str] | None, categories: list[str]) -> dict[str, float]:
    targets = dict.fromkeys(categories, DEFAULT_TARGET)
    for item in values or []:
        name, sep, rate = item.partition("=")
        if not sep or name not in targets:
            raise typer.BadParameter(f"--target takes CATEGORY=RATE with a known category, got {item!r}")
        targets[name] = float(rate)
    return targets


def calibrate(
    ctx: typer.Context,
    data: Annotated[
        Path, typer.Option("--data", help="Labelled set in LFW layout (images/<Name>/<Name>_NNNN.jpg).")
    ] = Path("../shared/data/lfw"),
    people: Annotated[
        int, typer.Option(help="People whose first images are enrolled (second images become CCTV-like probes).")
    ] = 1500,
    looks: Annotated[
        int, typer.Option(help="CCTV-like stills per probe track (as many as a live track keeps).", min=2)
    ] = 10,
    target: Annotated[
        list[str] | None,
        typer.Option("--target", help=f"CATEGORY=RATE: false alerts per passer-by (default {DEFAULT_TARGET})."),
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Set the recommended thresholds (needs --reason).")] = False,
    reason: Annotated[str, typer.Option(help="Why the thresholds change (recorded).")] = "",
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the result here.")] = None,
    groups: Annotated[
        Path | None,
        typer.Option("--groups", help="CSV person,group supplied by the operator (LFW has none): rates per group."),
    ] = None,
) -> None:
    """Measure genuine and impostor scores for the active embedder — clean first photos enrolled, CCTV-like
    stills of second photos as probes (docs/calibration.md) — store the calibration (it replaces the
    shipped curves for this embedder), and recommend a threshold per category for its target false-alert
    rate at the current watchlist size."""
    from vigil.eval.curves import group_error_rates, measure_and_fit
    from vigil.eval.groups import read_groups
    from vigil.recognition.calibration import validated_floor
    from vigil.vision.engine import FaceEngine

    settings = active_settings(ctx)
    labels = read_groups(groups)
    engine = FaceEngine.from_settings(settings).prepare()
    service = _service(ctx, engine)
    with progress_bar("measuring CCTV-like tracks", file=sys.stderr) as progress:
        try:
            fitted = measure_and_fit(
                engine, data, people=people, looks=looks, min_quality=settings.live_min_quality, progress=progress
            )
        except ValueError as exc:  # too few scores to fit a curve
            raise DatasetError(f"{data}: {exc}; use a larger labelled set") from None
    scores, model = fitted.scores, fitted.model
    curve = service.store_calibration(
        scores.genuine, scores.impostor, str(data), cli_actor(), model=model, tracks=fitted.tracks, looks=fitted.looks
    )

    categories = [t.category for t in service.thresholds()]
    recommended = service.recommend(_targets(target, categories))
    size = service.watchlist_size()
    result = {
        "embedder": f"{service.embedder}@{service.version}",
        "data": str(data),
        "genuine_scores": curve.genuine,
        "impostor_scores": curve.impostor,
        "validated_floor": validated_floor(curve),
        "rho": model.rho,
        "rule": fitted.looks.rule,
        "rho_looks": fitted.looks.rho,
        "watchlist_size": size,
        "categories": {
            name: {"threshold": t, "expected_false_alert_rate": far, "expected_miss_rate": fnmr, "resolved": ok}
            for name, (t, far, fnmr, ok) in recommended.items()
        },
    }
    if labels:
        result["groups"] = {name: group_error_rates(scores, labels, t) for name, (t, *_r) in recommended.items()}
    typer.echo(
        f"{curve.genuine} genuine and {curve.impostor} impostor scores; validated floor "
        f"{validated_floor(curve):.3f}; watchlist size {size}"
    )
    for name, (t, far, fnmr, ok) in recommended.items():
        note = "" if ok else "  (target below what the sample resolves: highest impostor score used)"
        typer.echo(f"  {name:22s} threshold {t:.3f}  false alerts per passer-by {far:.2e}  miss rate {fnmr:.1%}{note}")
    if apply:
        if not reason:
            raise typer.BadParameter("--apply needs --reason")
        for name, (t, *_rest) in recommended.items():
            service.set(name, t, by=cli_actor(), reason=reason)
        typer.echo("thresholds set")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=2) + "\n")


@thresholds_app.command("list")
def list_thresholds(ctx: typer.Context) -> None:
    """Each category's threshold with the expected error rates at the current watchlist size."""
    for t in _service(ctx).thresholds():
        rates = (
            f"false alerts per passer-by {t.expected_false_alert_rate:.2e}, miss rate {t.expected_miss_rate:.1%}"
            if t.expected_false_alert_rate is not None and t.expected_miss_rate is not None
            else "no calibration yet"
        )
        source = {
            "set": "set by hand",
            "policy": f"policy {t.false_alerts_per_1000:g}/1000",
            "provisional": "embedder default",
        }[t.source]
        typer.echo(
            f"{t.category:22s} {t.threshold:.3f} ({source}, {t.rule} rule)  watchlist {t.watchlist_size}: {rates}"
        )


@thresholds_app.command("set")
def set_threshold(
    ctx: typer.Context,
    category: Annotated[str, typer.Argument(help="Category name.")],
    value: Annotated[float, typer.Argument(help="New similarity threshold.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with who, before and after).")],
) -> None:
    """Change a category's threshold; refused below the validated floor."""
    change = _service(ctx).set(category, value, by=cli_actor(), reason=reason)
    typer.echo(f"{category}: {change.before} -> {change.after:.3f}")


@thresholds_app.command("policy")
def set_policy(
    ctx: typer.Context,
    category: Annotated[str, typer.Argument(help="Category name.")],
    false_alerts_per_1000: Annotated[float, typer.Argument(help="False alerts per 1,000 passers-by.")],
    reason: Annotated[str, typer.Option(help="Why (recorded with who, before and after).")],
) -> None:
    """State a category's policy (false alerts per 1,000 passers-by); its threshold then follows the error
    curves and the watchlist size, and a threshold set by hand is cleared."""
    t = _service(ctx).set_policy(category, false_alerts_per_1000, by=cli_actor(), reason=reason)
    hit = "n/a" if t.expected_hit_rate is None else f"{t.expected_hit_rate:.1%}"
    typer.echo(
        f"{category}: policy {t.false_alerts_per_1000:g}/1000 at watchlist {t.watchlist_size} -> threshold "
        f"{t.threshold:.3f}; expected hit rate {hit}"
    )


@thresholds_app.command("history")
def history(ctx: typer.Context) -> None:
    """Every threshold change: when, who, why, before and after."""
    for c in _service(ctx).history():
        typer.echo(
            f"{c.at:%Y-%m-%d %H:%M}Z  {c.category:22s} {c.before} -> {c.after:.3f}  by {c.changed_by}: {c.reason}"
        )


@thresholds_app.command("live")
def live(ctx: typer.Context) -> None:
    """Observed false alerts (rejected per track analysed) per camera and category, against the expected rate."""
    for f in _service(ctx).live_figures():
        observed = "n/a" if f.observed_false_alert_rate is None else f"{f.observed_false_alert_rate:.2e}"
        expected = "n/a" if f.expected_false_alert_rate is None else f"{f.expected_false_alert_rate:.2e}"
        warning = "  WARNING: above the calibrated rate" if f.drift else ""
        typer.echo(
            f"{f.camera:16s} {f.category:22s} alerts {f.alerts} confirmed {f.confirmed} rejected {f.rejected} "
            f"inconclusive {f.inconclusive}; observed {observed} vs expected {expected}{warning}"
        )
