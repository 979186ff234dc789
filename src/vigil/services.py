"""Wiring: builds the long-lived services from the settings (one place, used by every command)."""

from __future__ import annotations

from vigil.domain.watchlist import Clock, WatchlistService, system_clock
from vigil.settings import VigilSettings
from vigil.store.db import open_database
from vigil.store.media import MediaStore
from vigil.vision.catalogue import default_threshold
from vigil.vision.engine import FaceEngine


def open_watchlist(
    settings: VigilSettings, *, engine: FaceEngine | None = None, clock: Clock = system_clock, start: bool = True
) -> WatchlistService:
    """The watchlist over the configured database, media folder and face engine."""
    db = open_database(settings)
    face_engine = engine or FaceEngine.from_settings(settings).prepare()
    service = WatchlistService(
        db,
        MediaStore(settings.data_dir / "media"),
        face_engine,
        settings,
        duplicate_threshold=default_threshold(face_engine.embedder.name),
        clock=clock,
    )
    if start:
        service.start()
    return service
