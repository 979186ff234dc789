"""``vigil bench``: speed measurements, always beside the reference in the same run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from vigil.cli.context import settings_from

app = typer.Typer(help="Benchmarks (results as JSON; see BENCHMARKS.md).", no_args_is_help=True)

DEFAULT_VIDEO = Path("../shared/data/video/crowd_walk_1080p.mp4")


def _write(result: dict[str, object], json_out: Path) -> None:
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps(result, indent=2) + "\n")
    typer.echo(json.dumps(result, indent=2))


@app.command("embed")
def embed(
    ctx: typer.Context,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    threads: Annotated[int, typer.Option(help="CPU cores for both dlib and Vigil (the process is pinned).")] = 1,
    chips: Annotated[int, typer.Option(help="Number of face chips.")] = 64,
    images: Annotated[Path | None, typer.Option(help="Folder of face photos (default: sample portraits).")] = None,
    seconds: Annotated[float, typer.Option(help="Minimum timing per engine.")] = 5.0,
    embedder: Annotated[str, typer.Option(help="Vigil embedder to compare with dlib.")] = "dlib-resnet",
) -> None:
    """Faces/s of dlib's compute_face_descriptor and of Vigil's embedder on the same chips and cores."""
    from vigil.bench.embed import bench_embed

    result = bench_embed(
        settings_from(ctx),
        threads=threads,
        chips_count=chips,
        images_dir=images,
        min_seconds=seconds,
        embedder_name=embedder,
    )
    _write(result, json_out)


@app.command("detect")
def detect(
    ctx: typer.Context,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    video: Annotated[Path, typer.Option(help="Video clip to decode and analyse.")] = DEFAULT_VIDEO,
    detector: Annotated[
        list[str] | None, typer.Option("--detector", help="Detector(s) to measure (default: all known).")
    ] = None,
    frames: Annotated[int, typer.Option(help="Frames to analyse per detector and resolution.")] = 50,
    reference_frames: Annotated[int, typer.Option(help="Frames for the slow dlib pipelines.")] = 8,
) -> None:
    """Frames/s and faces/frame per detector at 1080p and 720p, with the face_recognition reference."""
    from vigil.bench.detect import bench_detect
    from vigil.vision.catalogue import detector_names

    result = bench_detect(
        settings_from(ctx),
        video,
        detectors=detector or detector_names(),
        frames=frames,
        reference_frames=reference_frames,
    )
    _write(result, json_out)


@app.command("search")
def search(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    size: Annotated[int, typer.Option(help="Gallery size (synthetic 128-d vectors, one per person).")] = 100_000,
    queries: Annotated[int, typer.Option(help="Probe queries.")] = 1000,
    ef_search: Annotated[
        list[int] | None, typer.Option("--ef-search", help="Also measure these HNSW search breadths (repeatable).")
    ] = None,
) -> None:
    """Gallery build time, memory, single-query p50/p99, batched throughput and recall@1 vs exact search."""
    from vigil.bench.search import bench_search

    if size < 1 or queries < 1:
        raise typer.BadParameter("--size and --queries must be positive")
    _write(bench_search(size, queries=queries, ef_search=tuple(ef_search or ())), json_out)


@app.command("live")
def live(
    ctx: typer.Context,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    video: Annotated[Path, typer.Option(help="Video clip to analyse.")] = DEFAULT_VIDEO,
    threads: Annotated[int, typer.Option(help="CPU cores (the process is pinned).")] = 1,
    fps: Annotated[float, typer.Option(help="Analysis rate the frames are sampled at.")] = 5.0,
    reference_frames: Annotated[int, typer.Option(help="Frames for the slow face_recognition pipeline.")] = 8,
) -> None:
    """Analysed frames/s per core at 1080p and 720p, beside the face_recognition-style per-frame pipeline."""
    from vigil.bench.live import bench_throughput

    settings = settings_from(ctx)
    _write(bench_throughput(settings, video, threads=threads, fps=fps, reference_frames=reference_frames), json_out)


@app.command("soak")
def soak(
    ctx: typer.Context,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    video: Annotated[Path, typer.Option(help="Video clip, played in a loop in real time.")] = DEFAULT_VIDEO,
    minutes: Annotated[float, typer.Option(help="How long to run.")] = 10.0,
    fps: Annotated[float, typer.Option(help="Analysis rate.")] = 5.0,
    enroll: Annotated[int, typer.Option(help="People enrolled from an early frame of the clip.")] = 4,
) -> None:
    """Alert latency (frame captured → alert stored, p50/p95) and memory over a looped real-time run."""
    from vigil.bench.live import bench_soak

    def progress(elapsed: float, alerts: int, rss_mb: float) -> None:
        typer.echo(f"{elapsed / 60:.1f} min: {alerts} alerts, RSS {rss_mb:.0f} MB", err=True)

    settings = settings_from(ctx)
    _write(bench_soak(settings, video, seconds=60 * minutes, fps=fps, enroll=enroll, progress=progress), json_out)


@app.command("cameras")
def cameras(
    ctx: typer.Context,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    video: Annotated[
        Path, typer.Option(help="Clip every camera streams (looped at its own frame rate).")
    ] = DEFAULT_VIDEO,
    height: Annotated[int, typer.Option(help="Stream resolution (lines); the clip is transcoded to it.")] = 720,
    fps: Annotated[float, typer.Option(help="Analysed frames/s per camera.")] = 5.0,
    count: Annotated[list[int] | None, typer.Option("--cameras", help="Camera counts to try.")] = None,
    cores: Annotated[int, typer.Option(help="CPU cores to pin the process to.")] = 1,
    seconds: Annotated[float, typer.Option(help="Measured seconds per camera count.")] = 30.0,
    scene: Annotated[
        str,
        typer.Option(
            help="crowd (the --video clip), passer-by (one person crossing a quiet street 8 s in every 12) "
            "or empty (a quiet street with sensor noise and slow light change, nobody in it); the street "
            "scenes are synthesised from a bundled portrait, no download."
        ),
    ] = "crowd",
    schedule: Annotated[
        list[str] | None,
        typer.Option(help="Detection schedule(s) to measure, in order: adaptive, full (default: both)."),
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(
            help="Track rule(s) to run, in order: votes (the landed default of this benchmark), fused (issue 12) "
            "or looks (round two: best looks and the pooled face, what a fresh install runs)."
        ),
    ] = None,
) -> None:
    """Live cameras one process sustains on CORES cores at FPS analysed frames/s each (capacity planning).

    Every schedule runs in the same process on the same clip; the JSON keeps the first schedule's figures
    at the top (runs, cameras_sustained, cameras_per_core) and every schedule's under "schedules"."""
    from vigil.bench.cameras import SCENES, TRACK_RULES, bench_cameras, scene_clip

    if scene not in SCENES:
        raise typer.BadParameter(f"{scene!r}: one of {', '.join(SCENES)}", param_hint="--scene")
    schedules = tuple(schedule or ["adaptive", "full"])
    for name in schedules:
        if name not in ("adaptive", "full"):
            raise typer.BadParameter(f"{name!r}: adaptive or full", param_hint="--schedule")
    rules = tuple(rule or ["votes"])
    for name in rules:
        if name not in TRACK_RULES:
            raise typer.BadParameter(f"{name!r}: one of {', '.join(TRACK_RULES)}", param_hint="--rule")
    settings = settings_from(ctx)
    clip = scene_clip(scene, video, settings.cache_dir / "bench", height)
    result = bench_cameras(
        settings,
        clip,
        counts=count or [1, 2, 3, 4],
        fps=fps,
        cores=cores,
        seconds=seconds,
        schedules=schedules,
        rules=rules,
    )
    result["resolution"] = f"{height}p"
    result["scene"] = scene
    _write(result, json_out)


@app.command("recall")
def recall(
    ctx: typer.Context,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    clip: Annotated[
        list[Path] | None,
        typer.Option(help="Clips to compare on (default: the shared crowd and single-face clips)."),
    ] = None,
    fps: Annotated[float, typer.Option(help="Analysed frames/s.")] = 5.0,
) -> None:
    """Face tracks the adaptive detection schedule finds of those full-frame detection on every analysed
    frame finds, and the alerts each raises (JSON keys track_recall, same_alerts; docs/capacity.md)."""
    from vigil.bench.recall import bench_recall

    clips = clip or [DEFAULT_VIDEO, DEFAULT_VIDEO.parent / "carphone_176x144.mp4"]
    for path in clips:
        if not path.is_file():
            raise typer.BadParameter(f"{path}: no such clip", param_hint="--clip")
    _write(bench_recall(settings_from(ctx), clips, fps=fps), json_out)


@app.command("latency")
def latency(
    ctx: typer.Context,
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    postgres: Annotated[
        str, typer.Option(help="PostgreSQL URL with the right to create a scratch database (dropped afterwards).")
    ] = "postgresql://postgres@127.0.0.1:5432/postgres",
    redis: Annotated[str, typer.Option(help="Redis URL for the scaled-out run.")] = "redis://127.0.0.1:6379/12",
    workers: Annotated[int, typer.Option(help="Worker processes in the scaled-out run.")] = 3,
    cameras: Annotated[int, typer.Option(help="Cameras per round (each raises one alert).")] = 12,
    rounds: Annotated[int, typer.Option(help="Rounds of fresh cameras per mode.")] = 3,
    fps: Annotated[float, typer.Option(help="Analysed frames/s per camera.")] = 2.0,
) -> None:
    """Alert latency p50/p95 of the embedded mode and of WORKERS workers on PostgreSQL + Redis, same machine."""
    from vigil.bench.latency import bench_latency

    result = bench_latency(
        settings_from(ctx),
        admin_url=postgres,
        redis_url=redis,
        workers=workers,
        cameras=cameras,
        rounds=rounds,
        fps=fps,
    )
    _write(result, json_out)


@app.command("notify")
def notify(
    json_out: Annotated[Path, typer.Option("--json", help="Where to write the result.")],
    webhooks: Annotated[int, typer.Option(help="Webhook endpoints (receivers started here, on loopback).")] = 8,
    mqtt: Annotated[int, typer.Option(help="MQTT endpoints (on the broker given).")] = 2,
    alerts: Annotated[int, typer.Option(help="Alerts stored.")] = 100,
    rate: Annotated[float, typer.Option(help="Alerts stored per second.")] = 10.0,
    down_s: Annotated[float, typer.Option("--down-s", help="One webhook receiver is down this long at first.")] = 5.0,
    broker: Annotated[str, typer.Option(help="The MQTT broker.")] = "mqtt://127.0.0.1:1883",
) -> None:
    """Alert stored → webhook received and → MQTT message received (p50/p95/max), with sent, received and
    lost, through the real outbox and deliverer; one endpoint down for part of the run."""
    from vigil.bench.notify import bench_notify

    result = bench_notify(webhooks=webhooks, mqtt=mqtt, alerts=alerts, rate=rate, down_s=down_s, broker_url=broker)
    _write(result, json_out)
