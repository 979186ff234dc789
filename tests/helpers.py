"""Helpers shared by the watchlist tests: a controllable clock, photo encoding, valid fields, and a
snapshot of everything the watchlist stores (rows and files) to prove a failure changed nothing."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from vigil.domain.alerts import AlertEvent
from vigil.domain.enrollment import SubjectFields
from vigil.domain.watchlist import WatchlistService
from vigil.settings import VigilSettings
from vigil.store.db import open_database
from vigil.store.media import FolderMediaStore
from vigil.store.models import Photo, PhotoEmbedding, Subject

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def fields(name: str = "Eileen Collins", **changes: object) -> SubjectFields:
    values: dict[str, object] = {
        "display_name": name,
        "category": "missing-person",
        "legal_basis_type": "missing person report",
        "legal_basis_reference": "MP-2026-0042",
        "approved_by": "Insp. A. Lee",
        "expires_at": NOW + timedelta(days=90),
    }
    values.update(changes)
    return SubjectFields(**values)  # type: ignore[arg-type]


def snapshot(service: WatchlistService) -> tuple[int, int, int, list[str]]:
    with service.db.session() as session:
        counts = tuple(session.scalar(select(func.count()).select_from(t)) for t in (Subject, Photo, PhotoEmbedding))
    files = (
        sorted(str(p.relative_to(service.media.root)) for p in service.media.root.rglob("*") if p.is_file())
        if service.media.root.exists()
        else []
    )
    return (*counts, files)  # type: ignore[return-value]


def make_service(settings: VigilSettings, engine: object, clock: Clock) -> WatchlistService:
    """A started watchlist over the settings' database and media folder."""
    service = WatchlistService(
        open_database(settings),
        FolderMediaStore(settings.data_dir / "media"),
        engine,  # type: ignore[arg-type]
        settings,
        duplicate_threshold=0.956,
        clock=clock,
    )
    service.start()
    return service


def live_settings(tmp_path: object, base: VigilSettings) -> VigilSettings:
    """Settings for a live test: a data dir of its own (the session's engine is passed in, already loaded)."""
    from pathlib import Path

    data_dir = Path(str(tmp_path)) / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    return base.model_copy(update={"data_dir": data_dir})


def live_service(settings: VigilSettings, engine: object) -> WatchlistService:
    """A started watchlist on the real clock (live tests search at the frames' wall-clock time)."""
    from vigil.clock import system_clock

    return make_service(settings, engine, system_clock)  # type: ignore[arg-type]


def live_fields(name: str, category: str = "wanted") -> SubjectFields:
    return fields(name, category=category, expires_at=datetime.now(UTC) + timedelta(days=90))


def enroll_lfw_people(service: WatchlistService, lfw_dir: object, count: int) -> int:
    """Enroll the first photo of LFW people (alphabetical) until ``count`` are enrolled; returns how many."""
    from pathlib import Path

    from vigil.domain.enrollment import EnrollmentError

    enrolled = 0
    for folder in sorted(p for p in (Path(str(lfw_dir)) / "images").iterdir() if p.is_dir()):
        photo = min(folder.glob("*.jpg"))
        try:
            service.enroll(
                live_fields(folder.name.replace("_", " "), category="missing-person"),
                [(photo.name, photo.read_bytes())],
            )
        except EnrollmentError:
            continue
        enrolled += 1
        if enrolled >= count:
            break
    return enrolled


def alert_event(subject_id: str, *, camera: str = "gate", track: str = "t-1", **changes: object) -> AlertEvent:
    """A plausible alert for ``subject_id`` as the pipeline would hand it over (with a crop)."""
    import time
    from dataclasses import replace

    from vigil.domain.alerts import alert_key
    from vigil.pipeline.analyser import encode_jpeg

    now = time.time()
    event = AlertEvent(
        key=alert_key(camera, track, subject_id),
        subject_id=subject_id,
        subject_name="Eileen Collins",
        category="wanted",
        camera=camera,
        track_id=track,
        first_seen=now - 2,
        last_seen=now - 1,
        score=0.97,
        evidence=0.965,
        threshold=0.956,
        faces=3,
        decisive_capture_at=now - 0.2,
        crop_jpeg=encode_jpeg(np.full((40, 40, 3), 128, np.uint8)),
    )
    return replace(event, **changes)  # type: ignore[arg-type]
