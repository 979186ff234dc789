"""Runs cameras: per camera a reader thread (``CameraStream``) and an analysis thread (``CameraAnalyser``),
plus one watchdog thread that restarts stalled streams.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from vigil.domain.alerts import AlertRecorder
from vigil.pipeline.analyser import AnalysisCounters, AnalysisSettings, CameraAnalyser, Matcher
from vigil.video.camera import CameraHealth, CameraStatus, CameraStream
from vigil.video.sources import SourceSpec
from vigil.vision.engine import FaceEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraConfig:
    name: str
    spec: SourceSpec
    analysis_fps: float


@dataclass(frozen=True)
class StreamPolicy:
    stall_timeout_s: float = 5.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0
    open_timeout_s: float = 10.0


class _CameraWorker:
    def __init__(self, stream: CameraStream, analyser: CameraAnalyser) -> None:
        self.stream = stream
        self.analyser = analyser
        self.thread = threading.Thread(target=self._run, name=f"analyse-{stream.name}", daemon=True)
        self.error: BaseException | None = None
        self.failed_frames = 0
        self._last_failure_log = -math.inf

    def _run(self) -> None:
        try:
            while True:
                frame = self.stream.slot.get(timeout=0.5)
                if frame is None:
                    if self.stream.slot.closed:
                        break
                    continue
                try:
                    self.analyser.process(frame)
                except Exception:
                    # e.g. the database is briefly unavailable: the frame is lost, the camera goes on, and a
                    # track whose alert could not be stored raises it again on its next frame.
                    self.failed_frames += 1
                    now = time.monotonic()
                    if now - self._last_failure_log >= 60.0:
                        self._last_failure_log = now
                        log.exception(
                            "camera %s: analysis of a frame failed (%d so far)", self.stream.name, self.failed_frames
                        )
                    continue
                self.stream.mark_analysed()
        except BaseException as exc:
            self.error = exc
            log.exception("camera %s: analysis failed", self.stream.name)
            self.stream.stop()
        finally:
            self.analyser.finish()


class LiveRunner:
    def __init__(
        self,
        cameras: list[CameraConfig],
        engine: FaceEngine,
        matcher: Matcher,
        recorder: AlertRecorder,
        *,
        analysis: AnalysisSettings | None = None,
        policy: StreamPolicy | None = None,
        on_status: Callable[[CameraStatus], None] | None = None,
        counts_sink: Callable[..., None] | None = None,
        counts_every_s: float = 30.0,
    ) -> None:
        names = [c.name for c in cameras]
        if len(set(names)) != len(names):
            raise ValueError("camera names must be unique")
        self.engine = engine
        self.matcher = matcher
        self.recorder = recorder
        self.analysis = analysis
        self.policy = policy or StreamPolicy()
        self.on_status = on_status
        self.counts_sink = counts_sink  # (camera, frames=, faces=, tracks=, embedded=): counts only
        self.counts_every_s = counts_every_s
        self._flushed: dict[str, tuple[int, int, int, int]] = {}
        self._counts_lock = threading.Lock()
        self.workers: dict[str, _CameraWorker] = {}
        self._lock = threading.Lock()
        self._started = False
        for config in cameras:
            self.workers[config.name] = self._worker(config)
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="camera-watchdog", daemon=True)

    def _worker(self, config: CameraConfig) -> _CameraWorker:
        policy = self.policy
        stream = CameraStream(
            config.name,
            config.spec,
            analysis_fps=config.analysis_fps,
            on_status=self.on_status,
            stall_timeout_s=policy.stall_timeout_s,
            backoff_base_s=policy.backoff_base_s,
            backoff_cap_s=policy.backoff_cap_s,
            open_timeout_s=policy.open_timeout_s,
        )
        analyser = CameraAnalyser(config.name, self.engine, self.matcher, self.recorder, self.analysis)
        return _CameraWorker(stream, analyser)

    def start(self) -> None:
        with self._lock:
            self._started = True
            for worker in self.workers.values():
                worker.thread.start()
                worker.stream.start()
        self._watchdog.start()

    def add_camera(self, config: CameraConfig) -> None:
        """Run one more camera (started at once if the runner is running)."""
        with self._lock:
            if config.name in self.workers:
                raise ValueError(f"camera {config.name!r} is running already")
            worker = self._worker(config)
            self.workers[config.name] = worker
            if self._started:
                worker.thread.start()
                worker.stream.start()

    def remove_camera(self, name: str, timeout: float = 15.0) -> bool:
        """Stop a camera and forget it; returns whether it was running."""
        return bool(self.remove_cameras([name], timeout))

    def remove_cameras(self, names: list[str], timeout: float = 15.0) -> list[str]:
        """Stop cameras (all at once, then wait for each) and forget them; returns those that were running."""
        with self._lock:
            workers = {name: self.workers[name] for name in names if name in self.workers}
        for worker in workers.values():
            worker.stream.stop()
        for worker in workers.values():
            worker.thread.join(timeout)
            worker.stream.join(timeout)
        self.flush_counts()
        with self._lock:
            for name in workers:
                self.workers.pop(name, None)
        with self._counts_lock:
            for name in workers:
                self._flushed.pop(name, None)
        return list(workers)

    def _watch(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.wait(0.5):
            with self._lock:
                workers = list(self.workers.values())
            for worker in workers:
                worker.stream.check_stalled()
            if time.monotonic() - last_flush >= self.counts_every_s:
                last_flush = time.monotonic()
                self.flush_counts()

    def flush_counts(self) -> None:
        """Hand each camera's counts since the last flush to ``counts_sink``."""
        if self.counts_sink is None:
            return
        with self._counts_lock:
            for name, counters in self.counters().items():
                now = (counters.frames, counters.faces, counters.tracks, counters.embedded)
                before = self._flushed.get(name, (0, 0, 0, 0))
                delta = [a - b for a, b in zip(now, before, strict=True)]
                if not any(delta):
                    continue
                try:
                    self.counts_sink(name, frames=delta[0], faces=delta[1], tracks=delta[2], embedded=delta[3])
                except Exception:
                    log.exception("could not store analysis counts")
                    continue
                self._flushed[name] = now

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.stream.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every camera has stopped and its analysis has finished (or ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            worker.thread.join(remaining)
            if worker.thread.is_alive():
                return False
        return True

    def close(self, timeout: float = 15.0) -> None:
        self.stop()
        self.wait(timeout)
        with self._lock:
            workers = list(self.workers.values())
        for worker in workers:
            worker.stream.join(timeout)
        self.flush_counts()

    def health(self) -> list[CameraHealth]:
        with self._lock:
            workers = list(self.workers.values())
        return [worker.stream.health() for worker in workers]

    def counters(self) -> dict[str, AnalysisCounters]:
        with self._lock:
            return {name: worker.analyser.counters for name, worker in self.workers.items()}

    def errors(self) -> dict[str, BaseException]:
        return {name: w.error for name, w in self.workers.items() if w.error is not None}
