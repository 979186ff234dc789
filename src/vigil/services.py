"""Wiring: builds the long-lived services from the settings (one place, used by every command)."""

from __future__ import annotations

from collections.abc import Callable

from vigil.domain.alerts import AlertRecorder
from vigil.domain.matching import WatchlistMatcher
from vigil.domain.watchlist import Clock, WatchlistService, system_clock
from vigil.pipeline.analyser import AnalysisSettings
from vigil.pipeline.runtime import CameraConfig, LiveRunner, StreamPolicy
from vigil.settings import VigilSettings
from vigil.store.db import open_database
from vigil.store.media import MediaStore
from vigil.video.camera import CameraStatus
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


def open_live(
    settings: VigilSettings,
    watchlist: WatchlistService,
    cameras: list[CameraConfig],
    *,
    on_status: Callable[[CameraStatus], None] | None = None,
) -> tuple[LiveRunner, AlertRecorder, WatchlistMatcher]:
    """A runner for ``cameras`` against the watchlist, the recorder its alerts go through, and the
    matcher (whose ``refresh`` picks up watchlist changes made by other processes)."""
    recorder = AlertRecorder(watchlist.db, watchlist.media)
    matcher = WatchlistMatcher(watchlist)
    runner = LiveRunner(
        cameras,
        watchlist.engine,
        matcher,
        recorder,
        analysis=AnalysisSettings(min_quality=settings.live_min_quality, max_faces=settings.live_max_faces),
        policy=StreamPolicy(stall_timeout_s=settings.stall_timeout_s, backoff_cap_s=settings.reconnect_max_s),
        on_status=on_status,
    )
    return runner, recorder, matcher
