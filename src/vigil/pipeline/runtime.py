"""Runs cameras: per camera a reader thread (``CameraStream``) and an analysis thread (``CameraAnalyser``),
plus one watchdog thread that restarts stalled streams and keeps cameras to their authorisations.

A camera runs only while an authorisation covers it (``vigil.pipeline.gate``): the watchdog asks the gate
every half second, starts the stream of a camera that became covered and stops (and stops decoding) one
that no longer is; such a camera is ``idle`` in its health, with the reason. The analyser checks every
frame as well, so no frame seen outside an authorisation is analysed even before its stream has stopped.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from vigil.errors import RepeatedFailure
from vigil.logs import bind
from vigil.pipeline.analyser import AnalysisCounters, AnalysisSettings, CameraAnalyser, Matcher
from vigil.pipeline.events import AlertSink
from vigil.pipeline.gate import Coverage, ScanGate
from vigil.video.camera import CameraHealth, CameraState, CameraStatus, CameraStream
from vigil.video.sources import SourceSpec
from vigil.video.zones import CameraZones
from vigil.vision.engine import FaceEngine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraConfig:
    name: str
    spec: SourceSpec
    analysis_fps: float
    zones: CameraZones | None = None  # where faces are looked for (None: the whole frame)


@dataclass(frozen=True)
class StreamPolicy:
    stall_timeout_s: float = 5.0
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 8.0
    open_timeout_s: float = 10.0


class _CameraRun:
    """One camera while it runs: its reader (the stream) and its analysis thread."""

    def __init__(self, stream: CameraStream, analyser: CameraAnalyser) -> None:
        self.stream = stream
        self.analyser = analyser
        self.thread = threading.Thread(target=self._run, name=f"analyse-{stream.name}", daemon=True)
        self.error: BaseException | None = None
        self.failed_frames = 0
        self._last_failure_log = -math.inf

    def _run(self) -> None:
        bind(camera=self.stream.name)  # on this thread's log lines
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
        recorder: AlertSink,
        *,
        gate: ScanGate,
        analysis: AnalysisSettings | None = None,
        policy: StreamPolicy | None = None,
        on_status: Callable[[CameraStatus], None] | None = None,
        on_coverage: Callable[[str, Coverage], None] | None = None,
        counts_sink: Callable[..., None] | None = None,
        authorisation_counts_sink: Callable[..., None] | None = None,
        counts_every_s: float = 30.0,
    ) -> None:
        names = [c.name for c in cameras]
        if len(set(names)) != len(names):
            raise ValueError("camera names must be unique")
        self.engine = engine
        self.matcher = matcher
        self.recorder = recorder
        self.gate = gate
        self.analysis = analysis
        self.policy = policy or StreamPolicy()
        self.on_status = on_status
        self.on_coverage = on_coverage  # (camera, coverage) when a camera starts or stops scanning
        self.counts_sink = counts_sink  # (camera, frames=, faces=, tracks=, embedded=): counts only
        self.authorisation_counts_sink = authorisation_counts_sink  # (authorisation id, camera, frames=, …)
        self.counts_every_s = counts_every_s
        self._flushed: dict[str, tuple[int, int, int, int]] = {}
        self._flushed_authorised: dict[tuple[str, str], tuple[int, int, int]] = {}
        self._counts_lock = threading.Lock()
        self.configs: dict[str, CameraConfig] = {}
        self.analysers: dict[str, CameraAnalyser] = {}  # one per camera, kept while it is idle
        self.runs: dict[str, _CameraRun] = {}  # cameras whose stream runs (or ran to its end)
        self.idle: dict[str, Coverage] = {}  # cameras kept idle, and why
        self._lock = threading.Lock()
        self._gate_lock = threading.RLock()  # re-entrant: stop() may come from a signal handler
        self._started = False
        for config in cameras:
            self._register(config)
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="camera-watchdog", daemon=True)

    def _register(self, config: CameraConfig) -> None:
        self.configs[config.name] = config
        self.analysers[config.name] = CameraAnalyser(
            config.name, self.engine, self.matcher, self.recorder, self.analysis, gate=self.gate, zones=config.zones
        )
        self.idle[config.name] = Coverage(why_not="not started")

    def _new_run(self, config: CameraConfig) -> _CameraRun:
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
        return _CameraRun(stream, self.analysers[config.name])

    def start(self) -> None:
        with self._lock:
            self._started = True
        self.apply_authorisations()
        self._watchdog.start()

    def add_camera(self, config: CameraConfig) -> None:
        """Run one more camera (started at once if the runner is running and an authorisation covers it)."""
        with self._lock:
            if config.name in self.configs:
                raise ValueError(f"camera {config.name!r} is running already")
            self._register(config)
            started = self._started
        if started:
            self.apply_authorisations([config.name])

    def apply_authorisations(self, names: list[str] | None = None) -> None:
        """Start the idle cameras an authorisation now covers; stop the running ones none covers."""
        now = time.time()
        with self._gate_lock:
            with self._lock:
                if not self._started or self._stop.is_set():
                    return
                wanted = list(self.configs) if names is None else [n for n in names if n in self.configs]
                idle = {n: n in self.idle for n in wanted}
            for name in wanted:
                coverage = self.gate.coverage(name, now)
                if idle[name] and coverage:
                    self._begin(name, coverage)
                elif not idle[name] and not coverage:
                    self._end(name, coverage)
                elif idle[name] and self.idle.get(name) != coverage:
                    self._set_idle(name, coverage)

    def _begin(self, name: str, coverage: Coverage) -> None:
        with self._lock:
            config = self.configs.get(name)
            if config is None:
                return
            run = self._new_run(config)
            self.runs[name] = run
            self.idle.pop(name, None)
        run.thread.start()
        run.stream.start()
        log.info("camera %s: scanning under %s", name, ", ".join(coverage.authorisation_ids))
        if self.on_coverage is not None:
            self.on_coverage(name, coverage)

    def _end(self, name: str, coverage: Coverage, timeout: float = 15.0) -> None:
        with self._lock:
            run = self.runs.get(name)
        if run is not None:
            run.stream.stop()
            run.thread.join(timeout)
            run.stream.join(timeout)
        with self._lock:
            self.runs.pop(name, None)
        self._set_idle(name, coverage)
        log.info("camera %s: idle (%s)", name, coverage.why_not)
        if self.on_coverage is not None:
            self.on_coverage(name, coverage)

    def _set_idle(self, name: str, coverage: Coverage) -> None:
        with self._lock:
            if name not in self.configs:
                return
            self.idle[name] = coverage
        if self.on_status is not None:
            self.on_status(CameraStatus(name, CameraState.IDLE, time.time(), coverage.why_not))

    def set_zones(self, name: str, zones: CameraZones | None) -> None:
        """Look for faces on this camera only where ``zones`` say, from its next frame on."""
        with self._lock:
            analyser = self.analysers.get(name)
            config = self.configs.get(name)
            if analyser is None or config is None:
                return
            self.configs[name] = replace(config, zones=zones)
            analyser.scheduler.set_zones(zones)

    def remove_camera(self, name: str, timeout: float = 15.0) -> bool:
        """Stop a camera and forget it; returns whether it was running."""
        return bool(self.remove_cameras([name], timeout))

    def remove_cameras(self, names: list[str], timeout: float = 15.0) -> list[str]:
        """Stop cameras (all at once, then wait for each) and forget them; returns those that were running."""
        with self._gate_lock:
            with self._lock:
                runs = {name: self.runs[name] for name in names if name in self.runs}
            for run in runs.values():
                run.stream.stop()
            for run in runs.values():
                run.thread.join(timeout)
                run.stream.join(timeout)
            self.flush_counts()
            with self._lock:
                for name in names:
                    self.runs.pop(name, None)
                    self.configs.pop(name, None)
                    self.analysers.pop(name, None)
                    self.idle.pop(name, None)
            with self._counts_lock:
                for name in names:
                    self._flushed.pop(name, None)
                for key in [k for k in self._flushed_authorised if k[1] in names]:
                    self._flushed_authorised.pop(key)
        return list(runs)

    def _watch(self) -> None:
        last_flush = time.monotonic()
        failures = RepeatedFailure(log, "could not apply the authorisations (cameras keep their state)")
        while not self._stop.wait(0.5):
            try:
                self.gate.refresh()
                self.apply_authorisations()
                failures.ok()
            except Exception:
                failures.failed()
            with self._lock:
                runs = list(self.runs.values())
            for run in runs:
                run.stream.check_stalled()
            if time.monotonic() - last_flush >= self.counts_every_s:
                last_flush = time.monotonic()
                self.flush_counts()

    def flush_counts(self) -> None:
        """Hand each camera's counts since the last flush to ``counts_sink`` (and, per authorisation, to
        ``authorisation_counts_sink``)."""
        with self._counts_lock:
            counters = self.counters()
            if self.counts_sink is not None:
                for name, c in counters.items():
                    now = (c.frames, c.faces, c.tracks, c.embedded)
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
            if self.authorisation_counts_sink is not None:
                for name, c in counters.items():
                    for authorisation_id, values in list(c.by_authorisation.items()):
                        key = (authorisation_id, name)
                        counted = (values[0], values[1], values[2])
                        before3 = self._flushed_authorised.get(key, (0, 0, 0))
                        d = [a - b for a, b in zip(counted, before3, strict=True)]
                        if not any(d):
                            continue
                        try:
                            self.authorisation_counts_sink(authorisation_id, name, frames=d[0], faces=d[1], tracks=d[2])
                        except Exception:
                            log.exception("could not store the counts analysed under an authorisation")
                            continue
                        self._flushed_authorised[key] = counted

    def stop(self) -> None:
        self._stop.set()
        # a camera being started now is in ``runs`` once the gate lock is acquired
        with self._gate_lock, self._lock:
            runs = list(self.runs.values())
        for run in runs:
            run.stream.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every camera has stopped and its analysis has finished (or ``timeout``). A camera
        idle until a scheduled authorisation starts counts as not finished."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            runs = list(self.runs.values())
            waiting = any(c.resumes_at is not None for c in self.idle.values())
        for run in runs:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            run.thread.join(remaining)
            if run.thread.is_alive():
                return False
        if waiting and not self._stop.is_set():
            if deadline is not None:
                self._stop.wait(max(0.0, deadline - time.monotonic()))
            return False
        return True

    def close(self, timeout: float = 15.0) -> None:
        self.stop()
        self.wait(timeout)
        with self._lock:
            runs = list(self.runs.values())
        for run in runs:
            run.stream.join(timeout)
        self.flush_counts()

    def health(self) -> list[CameraHealth]:
        with self._lock:
            runs = dict(self.runs)
            idle = dict(self.idle)
            names = list(self.configs)
        out = []
        for name in names:
            if name in runs:
                out.append(runs[name].stream.health())
            elif name in idle:
                frames = self.analysers[name].counters.frames if name in self.analysers else 0
                out.append(CameraHealth(name, CameraState.IDLE, 0.0, frames, 0, 0, None, idle[name].why_not))
        return out

    def counters(self) -> dict[str, AnalysisCounters]:
        with self._lock:
            return {name: analyser.counters for name, analyser in self.analysers.items()}

    def errors(self) -> dict[str, BaseException]:
        return {name: w.error for name, w in self.runs.items() if w.error is not None}
