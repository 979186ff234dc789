"""The cameras as the control room sees them, whichever process runs them.

``CameraFleet`` is what the web layer is given (by ``vigil.services``): each camera's live state, and
what to do when an admin adds or removes one. ``EmbeddedFleet`` wraps the ``LiveRunner`` of this
process (``vigil serve`` in the embedded default); ``LeasedFleet`` reads what the ``vigil worker``
processes holding the cameras' leases last reported (scaled out, or ``serve --no-cameras``), and
leaves starting and stopping to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from vigil.domain.cameras import CameraRegistry
from vigil.domain.leases import assignments
from vigil.pipeline.analyser import AnalysisCounters
from vigil.pipeline.runtime import LiveRunner
from vigil.store.db import Database


@dataclass(frozen=True)
class CameraLive:
    """A camera's state now; frame and face counts only where this process runs it."""

    state: str
    analysed_fps: float | None = None
    dropped_frames: int | None = None
    last_frame_at: datetime | None = None
    worker: str | None = None  # scaled out: the worker holding its lease
    frames: int | None = None
    faces: int | None = None
    detection: DetectionCounts | None = None  # where this process runs it: the detection scheduler's choices


@dataclass(frozen=True)
class DetectionCounts:
    """What the detection scheduler did on one camera since it started (counts only)."""

    full_passes: int
    region_passes: int
    quiet_frames: int
    pixels_detected: int
    pixels_seen: int
    settled_skips: int  # faces not embedded because their track was already decided

    @property
    def detected_share(self) -> float:
        return self.pixels_detected / self.pixels_seen if self.pixels_seen else 0.0

    def as_json(self) -> dict[str, int]:
        return dict(self.__dict__)


def detection_counts(counters: AnalysisCounters) -> DetectionCounts:
    """A camera analyser's scheduler counts, as the control room shows them."""
    plans = counters.schedule
    return DetectionCounts(
        plans.full_passes,
        plans.region_passes,
        plans.quiet_frames,
        plans.pixels_detected,
        plans.pixels_seen,
        counters.settled_skips,
    )


class CameraFleet(Protocol):
    @property
    def embedded(self) -> bool:
        """Whether the cameras run in this process (their alerts then need no catch-up from the database)."""
        ...

    def live(self) -> dict[str, CameraLive]: ...

    def start(self) -> None: ...

    def camera_added(self, name: str) -> None:
        """A camera was registered: start it here if this process runs cameras."""
        ...

    def camera_removed(self, name: str) -> None: ...

    def zones_changed(self, name: str) -> None:
        """A camera's zones or masks changed: apply them where it runs."""
        ...

    def close(self) -> None: ...


class EmbeddedFleet:
    """The cameras of this process's runner."""

    def __init__(self, runner: LiveRunner, registry: CameraRegistry) -> None:
        self.runner = runner
        self.registry = registry

    @property
    def embedded(self) -> bool:
        return True

    def start(self) -> None:
        self.runner.start()

    def live(self) -> dict[str, CameraLive]:
        counters = self.runner.counters()
        out = {}
        for h in self.runner.health():
            n = counters.get(h.camera)
            out[h.camera] = CameraLive(
                state=h.state.value,
                analysed_fps=round(h.analysed_fps, 2),
                dropped_frames=h.dropped_frames,
                last_frame_at=datetime.fromtimestamp(h.last_frame_at, UTC) if h.last_frame_at else None,
                frames=None if n is None else n.frames,
                faces=None if n is None else n.faces,
                detection=None if n is None else detection_counts(n),
            )
        return out

    def camera_added(self, name: str) -> None:
        for config in self.registry.configs([name], loop=True):
            self.runner.add_camera(config)

    def camera_removed(self, name: str) -> None:
        self.runner.remove_camera(name)

    def zones_changed(self, name: str) -> None:
        for camera, zones in self.registry.zones([name]).items():
            self.runner.set_zones(camera, zones)

    def close(self) -> None:
        self.runner.close()


class LeasedFleet:
    """The cameras as the workers holding their leases last reported them."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def embedded(self) -> bool:
        return False

    def start(self) -> None:
        return None

    def live(self) -> dict[str, CameraLive]:
        now = datetime.now(UTC)
        out = {}
        for name, a in assignments(self.db).items():
            held = a.lease_until is not None and a.lease_until > now
            out[name] = CameraLive(
                state=(a.state or "unassigned") if held else "unassigned",
                analysed_fps=a.analysed_fps,
                dropped_frames=a.dropped_frames,
                last_frame_at=a.last_frame_at,
                worker=a.worker_id if held else None,
                detection=DetectionCounts(**a.detection) if held and a.detection else None,
            )
        return out

    def camera_added(self, name: str) -> None:
        return None  # a worker claims it at its next heartbeat

    def camera_removed(self, name: str) -> None:
        return None  # its lease row goes with it; the worker stops it at its next heartbeat

    def zones_changed(self, name: str) -> None:
        return None  # the worker running it reads its zones at its next heartbeat

    def close(self) -> None:
        return None
