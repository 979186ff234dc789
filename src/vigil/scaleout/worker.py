"""``vigil worker``: a stateless process that runs the cameras it holds leases on.

Every ``heartbeat_s`` it renews its leases, stops any camera it lost, reports its cameras' health,
hands back cameras above its fair share and claims free ones up to it (see :mod:`vigil.domain.leases`).
If it cannot reach the database for long enough that its leases may have expired, it stops all its
cameras before another worker can take them over (self-fencing), so a camera is never analysed by two
workers at once for longer than one lease period.

Alerts go to PostgreSQL (idempotent key) and then onto the bus, from which every web server pushes them.
Faces that match nobody never leave this process.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vigil.bus import Bus
from vigil.domain.cameras import CameraRegistry
from vigil.domain.fleet import detection_counts
from vigil.domain.health import HealthChecks
from vigil.domain.leases import LeaseBook
from vigil.domain.outbox import Deliverer, Outbox
from vigil.domain.replica import GalleryReplica
from vigil.logs import bind_process
from vigil.pipeline.runtime import LiveRunner
from vigil.settings import VigilSettings
from vigil.store.media import media_folder

if TYPE_CHECKING:
    from vigil.domain.alerts import AlertRecorder
    from vigil.domain.models import ModelFollower
    from vigil.scaleout.health import HealthServer

log = logging.getLogger(__name__)


class Worker:
    """One worker's heartbeat loop. Its collaborators are given (``vigil.services.open_worker`` builds
    them), so it runs in a test without processes: ``beat()`` is one heartbeat."""

    def __init__(
        self,
        settings: VigilSettings,
        *,
        worker_id: str,
        runner: LiveRunner,
        leases: LeaseBook,
        replica: GalleryReplica,
        registry: CameraRegistry,
        bus: Bus,
        loop_files: bool = True,
        deliverer: Deliverer | None = None,
        health: HealthChecks | None = None,
        model_check: Callable[[], str | None] | None = None,
        model: tuple[str, str, str] | Callable[[], tuple[str, str, str]] = ("", "", ""),
        follower: ModelFollower | None = None,
        recorder: AlertRecorder | None = None,
        outbox: Outbox | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.worker_id = worker_id
        self.loop_files = loop_files
        self.runner = runner
        self.leases = leases
        self.replica = replica
        self.registry = registry
        self.bus = bus
        self.deliverer = deliverer  # this process also sends the outbox (every process may)
        self.running: dict[str, int] = {}  # camera → lease token
        self._renewed_at = -float("inf")  # monotonic time a renewal last started and succeeded
        self._stop = threading.Event()
        self.fenced = 0
        self.health = health  # served on settings.worker_health_port, if set
        self._health_server: HealthServer | None = None
        self._looped_at: float | None = None  # monotonic time the heartbeat loop last turned
        self.model_check = model_check  # why this process may not run cameras with its model, or None
        self.model_refusal: str | None = None
        self._taking_up: str | None = None  # the switch the follower is taking up (logged once)
        # takes the active model up live (`vigil models use`): started and stopped with the heartbeat loop
        self.follower = follower
        # what /metrics reports besides the runner: the model (name, version, file SHA-256; asked each time,
        # so a live switch shows), the alerts queued on disk, the outbox's backlog and the disks written to
        self._model = model
        self.recorder = recorder
        self.outbox = outbox
        self.volumes: dict[str, Path] = {}
        if data_dir is not None:
            self.volumes["data"] = data_dir
        if settings.media_store == "files":
            self.volumes["media"] = media_folder(settings)
        self.renewals = {"ok": 0, "failed": 0}

    @property
    def model(self) -> tuple[str, str, str]:
        """The model this process runs now: name, version and its file's SHA-256 (empty: bundled)."""
        return self._model() if callable(self._model) else self._model

    # ------------------------------------------------------------ health
    def stalled(self) -> str | None:
        """Why this worker is not alive (its heartbeat loop stopped turning), or None: liveness."""
        limit = max(60.0, 10 * self.settings.heartbeat_s)
        if self._looped_at is not None and time.monotonic() - self._looped_at > limit:
            return f"the heartbeat loop has not turned for {time.monotonic() - self._looped_at:.0f} s"
        return None

    def heartbeat_age(self) -> float:
        """Seconds since the heartbeat loop last turned (0 before it first did)."""
        return time.monotonic() - self._looped_at if self._looped_at is not None else 0.0

    def _serve_health(self) -> None:
        port = self.settings.worker_health_port
        if port is None or self.health is None:
            return
        from vigil.scaleout.health import HealthServer
        from vigil.scaleout.metrics import render_worker

        self._health_server = HealthServer(
            self.health,
            host=self.settings.worker_health_host,
            port=port,
            alive=self.stalled,
            metrics=lambda: render_worker(self),
            metrics_token=self.settings.metrics_token,
        ).start()

    # ------------------------------------------------------------ life cycle
    def run(self) -> None:
        """Work until :meth:`stop` (or SIGTERM through the CLI); hands every camera back on the way out."""
        bind_process(worker=self.worker_id)  # on every log line of this process
        self._serve_health()  # first: a gallery of a million templates takes minutes to load
        self.replica.load()  # no sweep of media: this process enrolls nobody
        self.replica.follow()
        self.runner.start()
        if self.follower is not None:
            self.follower.start()
        if self.deliverer is not None:
            self.deliverer.start()
        self.leases.register(socket.gethostname(), os.getpid())
        log.info("worker %s started", self.worker_id)
        # one heartbeat's grace so that workers started together see each other before claiming
        self._stop.wait(self.settings.heartbeat_s)
        try:
            while not self._stop.is_set():
                started = self._looped_at = time.monotonic()
                self.beat()
                self._stop.wait(max(0.0, self.settings.heartbeat_s - (time.monotonic() - started)))
        finally:
            self._shutdown()

    def stop(self) -> None:
        self._stop.set()

    def _shutdown(self) -> None:
        if self.follower is not None:
            self.follower.close()
        self._stop_cameras(list(self.running))
        try:
            self.leases.retire()
        except Exception:
            log.exception("could not hand the cameras back; their leases expire in %.0f s", self.settings.lease_s)
        self.runner.close()
        if self.deliverer is not None:
            self.deliverer.close()
        self.replica.close()
        self.bus.close()
        if self._health_server is not None:
            self._health_server.close()
        if self.health is not None:
            self.health.close()
        log.info("worker %s stopped", self.worker_id)

    # ------------------------------------------------------------ one heartbeat
    def beat(self) -> None:
        started = time.monotonic()
        if self.running and started - self._renewed_at > self._fence_after():
            self._fence("no lease renewal for %.1f s" % (started - self._renewed_at))
        try:
            held = self.leases.renew()
        except Exception as exc:
            self.renewals["failed"] += 1
            log.warning("worker %s: could not renew leases (%s)", self.worker_id, exc)
            if self.running and time.monotonic() - self._renewed_at > self._fence_after():
                self._fence("the database is unreachable")
            return
        self._renewed_at = started
        self.renewals["ok"] += 1
        lost = [c for c, token in self.running.items() if held.get(c) != token]
        if lost:
            log.warning("worker %s: leases on %s lost; stopping them", self.worker_id, ", ".join(lost))
            self._stop_cameras(lost)
        try:
            if self._model_refused():
                return
            idle = {c: token for c, token in held.items() if c not in self.running}
            if idle:  # held but not running: after fencing, once the database answers again
                self._start_cameras(idle)
            counters = self.runner.counters()
            self.leases.report(
                [h for h in self.runner.health() if h.camera in held],
                {c: detection_counts(n).as_json() for c, n in counters.items() if c in held},
            )
            self._refresh_zones()
            share = self.leases.fair_share()
            if len(held) > share:
                surplus = sorted(held)[share:]
                self._stop_cameras(surplus)
                self.leases.release(surplus)
                log.info("worker %s: handed back %d cameras (fair share %d)", self.worker_id, len(surplus), share)
            elif len(held) < share:
                claimed = self.leases.claim(share - len(held))
                if claimed:
                    self._start_cameras(claimed)
        except Exception:
            log.exception("worker %s: heartbeat failed", self.worker_id)

    def _model_refused(self) -> bool:
        """Whether the active model (``vigil models use``) is no longer what this process runs: then it hands
        every camera back and claims none, with one error naming the file and both checksums. While this
        process's follower is taking the new model up (it loads the new gallery as the old model goes on
        matching, then swaps between two frames), the cameras keep running: only a model it cannot take up
        (its file missing or different here) is a refusal."""
        refusal = self.model_check() if self.model_check is not None else None
        if refusal is not None and self.follower is not None and self.follower.following and not self.follower.refused:
            if refusal != self._taking_up:
                log.info("worker %s: %s; taking it up live, the cameras keep running", self.worker_id, refusal)
            self._taking_up, self.model_refusal = refusal, None
            return False
        self._taking_up = None
        if refusal is not None and (refusal != self.model_refusal or self.running):
            log.error(
                "worker %s: %s; claiming no cameras (handing back %d)", self.worker_id, refusal, len(self.running)
            )
        self.model_refusal = refusal
        if refusal is not None and self.running:
            cameras = list(self.running)
            self._stop_cameras(cameras)
            self.leases.release(cameras)
        return refusal is not None

    def _fence_after(self) -> float:
        """Stop everything this long after the last renewal that succeeded: a heartbeat and a second (to
        stop the streams) before the leases can expire."""
        return max(self.settings.heartbeat_s, self.settings.lease_s - self.settings.heartbeat_s - 1.0)

    def _fence(self, why: str) -> None:
        log.error(
            "worker %s: %s; stopping all %d cameras before their leases expire", self.worker_id, why, len(self.running)
        )
        self.fenced += 1
        self._stop_cameras(list(self.running))

    def _refresh_zones(self) -> None:
        """Apply zones an admin changed since the last heartbeat to the cameras running here."""
        for camera, zones in self.registry.zones(list(self.running)).items():
            config = self.runner.configs.get(camera)
            if config is not None and config.zones != zones:
                self.runner.set_zones(camera, zones)
                log.info("worker %s: camera %s zones changed", self.worker_id, camera)

    def _stop_cameras(self, cameras: list[str]) -> None:
        self.runner.remove_cameras(cameras)
        for camera in cameras:
            self.running.pop(camera, None)

    def _start_cameras(self, claimed: dict[str, int]) -> None:
        configs = {c.name: c for c in self.registry.configs(list(claimed), loop=self.loop_files)}
        for camera, token in claimed.items():
            if camera not in configs:  # removed meanwhile; its lease row goes with it
                continue
            try:
                self.runner.add_camera(configs[camera])
            except Exception:
                log.exception("worker %s: camera %s could not start", self.worker_id, camera)
                self.leases.release([camera])
                continue
            self.running[camera] = token
            log.info("worker %s: runs camera %s (lease %d)", self.worker_id, camera, token)
