"""Alert latency, embedded against scaled out: the same cameras, clips and watchlist, first in one process
(SQLite, in-process bus), then spread over worker processes (PostgreSQL, Redis) on the same machine.

Latency is the alert's own record: stored at (``created_at``) minus the capture time of the frame that
completed the evidence (``decisive_capture_at``). Each round starts fresh cameras (one alert each), so
a run of R rounds over C cameras gives R × C alerts per mode.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from vigil.bench.embed import machine_description
from vigil.domain.cameras import CameraRegistry
from vigil.domain.enrollment import SubjectFields
from vigil.domain.watchlist import WatchlistService
from vigil.pipeline.analyser import encode_jpeg
from vigil.pipeline.runtime import CameraConfig
from vigil.services import open_live, open_watchlist
from vigil.store.models import Alert
from vigil.video.sources import parse_source
from vigil.vision.engine import FaceEngine


def _people(watchlist: WatchlistService, clips_dir: Path) -> list[Path]:
    """Enroll the two bundled portraits; returns a walking clip of each."""
    from datetime import UTC, datetime, timedelta

    from vigil.domain.users import ensure_supervisors
    from vigil.samples import portrait_clip, sample_images

    proposer, approver = ensure_supervisors(watchlist.db, "bench.proposer", "bench.approver")
    clips = []
    for seed, (name, image) in enumerate(zip(("Eileen Collins", "Grace Hopper"), sample_images(), strict=True), 1):
        fields = SubjectFields(
            display_name=name,
            category="wanted",
            legal_basis_type="benchmark",
            legal_basis_reference="BENCH-LATENCY",
            approved_by=approver,
            expires_at=datetime.now(UTC) + timedelta(days=1),
            proposed_by=proposer,
        )
        watchlist.enroll(fields, [(f"{seed}.jpg", encode_jpeg(image))])
        clip = clips_dir / f"walk_{seed}.mp4"
        if not clip.exists():
            portrait_clip(np.ascontiguousarray(image), clip, seconds=6.0, seed=seed)
        clips.append(clip)
    return clips


def _authorise(watchlist: WatchlistService, cameras: list[str]) -> None:
    """The benchmark's cameras scan under an authorisation like any other (its own two users)."""
    import contextlib
    import secrets
    from datetime import UTC, datetime, timedelta

    from vigil.domain.audit import AuditLog
    from vigil.domain.authorisations import AuthorisationService
    from vigil.domain.users import UserError, UserService
    from vigil.domain.vocabulary import Role

    users = UserService(watchlist.db)
    for username, role in (("bench.requester", Role.SUPERVISOR), ("bench.authoriser", Role.AUTHORISER)):
        with contextlib.suppress(UserError):
            users.add(username, secrets.token_urlsafe(16), role)
    now = datetime.now(UTC)
    AuthorisationService(watchlist.db, AuditLog(watchlist.db, key_file=watchlist.settings.resolved_audit_key_file)).add(
        cameras=cameras,
        categories=["wanted"],
        starts_at=now - timedelta(minutes=1),
        ends_at=now + timedelta(days=1),
        purpose="alert latency benchmark on recorded clips",
        requested_by="bench.requester",
        authorised_by="bench.authoriser",
        source="bench",
    )


def _latencies_ms(watchlist: WatchlistService) -> list[float]:
    with watchlist.db.session() as session:
        rows = session.execute(select(Alert.created_at, Alert.decisive_capture_at)).all()
    return sorted(1000 * (stored - captured).total_seconds() for stored, captured in rows)


def _wait_alerts(watchlist: WatchlistService, cameras: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with watchlist.db.session() as session:
            seen = set(session.scalars(select(Alert.camera).where(Alert.camera.in_(cameras))))
        if len(seen) == len(cameras):
            return
        time.sleep(0.2)
    raise TimeoutError(f"only some of {len(cameras)} cameras raised their alert within {timeout_s:.0f} s")


def _rounds(
    watchlist: WatchlistService,
    clips: list[Path],
    start: Callable[[list[tuple[str, Path]]], None],
    stop: Callable[[list[str]], object],
    *,
    cameras: int,
    rounds: int,
    timeout_s: float,
) -> list[float]:
    for r in range(rounds):
        batch = [(f"r{r}-cam{i:02d}", clips[i % len(clips)]) for i in range(cameras)]
        _authorise(watchlist, [name for name, _ in batch])
        start(batch)
        _wait_alerts(watchlist, [name for name, _ in batch], timeout_s)
        stop([name for name, _ in batch])
    return _latencies_ms(watchlist)


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "alerts": len(values),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p95_ms": round(float(np.percentile(values, 95)), 1),
        "max_ms": round(max(values), 1),
        "all_ms": [round(v, 1) for v in values],
    }


def run_embedded(
    settings: Any, engine: FaceEngine, work: Path, *, cameras: int, rounds: int, fps: float, timeout_s: float
) -> list[float]:
    local = settings.model_copy(
        update={"data_dir": work / "embedded", "database_url": None, "media_store": "files", "redis_url": None}
    )
    (work / "embedded" / "cache").parent.mkdir(parents=True, exist_ok=True)
    watchlist = open_watchlist(local, engine=engine)
    clips = _people(watchlist, work / "clips")
    runner, _, _ = open_live(local, watchlist, [])
    runner.start()
    try:

        def start(batch: list[tuple[str, Path]]) -> None:
            for name, clip in batch:
                runner.add_camera(CameraConfig(name, parse_source(str(clip), loop=True), fps))

        return _rounds(
            watchlist, clips, start, runner.remove_cameras, cameras=cameras, rounds=rounds, timeout_s=timeout_s
        )
    finally:
        runner.close()


def run_scaled_out(
    settings: Any,
    engine: FaceEngine,
    work: Path,
    *,
    admin_url: str,
    redis_url: str,
    workers: int,
    cameras: int,
    rounds: int,
    fps: float,
    timeout_s: float,
) -> list[float]:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin.rsplit('/', 1)[0]}/{name}"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        shared = settings.model_copy(update={"database_url": url, "media_store": "database", "redis_url": redis_url})
        watchlist = open_watchlist(shared, engine=engine)
        clips = _people(watchlist, work / "clips")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        env.update(
            VIGIL_DATA_DIR=str(settings.data_dir),  # the converted models are cached there
            VIGIL_DATABASE_URL=url,
            VIGIL_REDIS_URL=redis_url,
            VIGIL_MEDIA_STORE="database",
            VIGIL_THREADS=str(settings.threads),  # the same model threading as the embedded run
        )
        for i in range(workers):
            log = (work / f"worker{i}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "vigil.cli.main", "worker", "--id", f"bench-{i}"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        registry = CameraRegistry(watchlist.db)

        def start(batch: list[tuple[str, Path]]) -> None:
            for camera, clip in batch:
                registry.add(camera, str(clip), latitude=0.0, longitude=0.0, analysis_fps=fps)

        def stop(names: list[str]) -> None:
            for camera in names:
                registry.remove(camera)

        latencies = _rounds(watchlist, clips, start, stop, cameras=cameras, rounds=rounds, timeout_s=timeout_s)
        watchlist.db.dispose()
        return latencies
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_latency(
    settings: Any,
    *,
    admin_url: str,
    redis_url: str,
    workers: int = 3,
    cameras: int = 12,
    rounds: int = 3,
    fps: float = 2.0,
    timeout_s: float = 120.0,
) -> dict[str, Any]:
    engine = FaceEngine.from_settings(settings).prepare()
    with tempfile.TemporaryDirectory(prefix="vigil-latency-") as tmp:
        work = Path(tmp)
        (work / "clips").mkdir()
        common = {"cameras": cameras, "rounds": rounds, "fps": fps, "timeout_s": timeout_s}
        embedded = run_embedded(settings, engine, work, **common)  # type: ignore[arg-type]
        scaled = run_scaled_out(
            settings,
            engine,
            work,
            admin_url=admin_url,
            redis_url=redis_url,
            workers=workers,
            **common,  # type: ignore[arg-type]
        )
    a, b = _summary(embedded), _summary(scaled)
    return {
        "benchmark": "alert latency (frame captured to alert stored), embedded vs scaled out",
        "machine": machine_description(),
        "date": time.strftime("%Y-%m-%d"),
        "cameras_per_round": cameras,
        "rounds": rounds,
        "analysis_fps": fps,
        "embedded": {"mode": "one process, SQLite", **a},
        "scaled_out": {"mode": f"{workers} worker processes, PostgreSQL + Redis", **b},
        "p95_ratio": round(b["p95_ms"] / a["p95_ms"], 2),
    }
