"""A camera's stream: an explicit state machine that reconnects, notices stalls and drops late frames.

States: ``connecting`` → ``streaming`` ⇄ ``stalled`` → ``reconnecting`` → ``connecting`` … → ``stopped``.

* Connection errors (:class:`~vigil.video.sources.ConnectionLost`) lead to ``reconnecting`` with
  exponential backoff and full jitter; any other error stops the camera with the reason.
* A watchdog (:meth:`CameraStream.check_stalled`, called periodically) marks a stream that delivered no
  frame for ``stall_timeout_s`` as ``stalled`` and restarts it.
* Frames are sampled at the camera's analysis rate and handed over through a one-frame slot: when the
  analyser is still busy the older frame is dropped (and counted), so latency stays bounded. Files read
  with ``realtime=False`` hand over every sampled frame instead (for evaluation: nothing dropped).
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vigil.logs import bind
from vigil.video.sources import AvSource, ConnectionLost, Frame, SourceError, SourceSpec

log = logging.getLogger(__name__)

HISTORY_LIMIT = 256


class CameraState(enum.StrEnum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    IDLE = "idle"  # not read at all: no authorisation covers the camera now (set by the runner, not the stream)


# The transitions the state machine allows; anything else is a bug (and raises).
TRANSITIONS: dict[CameraState, set[CameraState]] = {
    CameraState.CONNECTING: {CameraState.STREAMING, CameraState.RECONNECTING, CameraState.STOPPED},
    CameraState.STREAMING: {CameraState.STALLED, CameraState.RECONNECTING, CameraState.STOPPED},
    CameraState.STALLED: {CameraState.RECONNECTING, CameraState.STREAMING, CameraState.STOPPED},
    CameraState.RECONNECTING: {CameraState.CONNECTING, CameraState.STOPPED},
    CameraState.STOPPED: set(),
    CameraState.IDLE: set(),
}


@dataclass(frozen=True)
class CameraStatus:
    """A published state change. ``detail`` never holds credentials."""

    camera: str
    state: CameraState
    at: float
    detail: str = ""


@dataclass(frozen=True)
class CameraHealth:
    camera: str
    state: CameraState
    analysed_fps: float
    analysed_frames: int
    dropped_frames: int
    reconnects: int
    last_frame_at: float | None
    detail: str


def backoff_delay(attempt: int, *, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full-jitter exponential backoff: uniform in [0, min(cap, base · 2^attempt)]; never below 10 ms."""
    ceiling = min(cap_s, base_s * (2 ** min(attempt, 30)))
    return max(0.01, rng.uniform(0.0, ceiling))


class FrameSlot:
    """A bounded hand-over of at most one frame. ``lossless`` makes :meth:`put` wait instead of dropping."""

    def __init__(self, *, lossless: bool = False) -> None:
        self.lossless = lossless
        self._frame: Frame | None = None
        self._closed = False
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self.lossless:
                while self._frame is not None and not self._closed:
                    self._cond.wait(0.1)
            elif self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        """The waiting frame, or None after ``timeout`` (or at once when closed and empty)."""
        with self._cond:
            if self._frame is None and not self._closed:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


class CameraStream:
    """Reads one camera in its own thread and offers sampled frames through :attr:`slot`."""

    def __init__(
        self,
        name: str,
        spec: SourceSpec,
        *,
        analysis_fps: float,
        on_status: Callable[[CameraStatus], None] | None = None,
        stall_timeout_s: float = 5.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        open_timeout_s: float = 10.0,
        rng: random.Random | None = None,
    ) -> None:
        if analysis_fps <= 0:
            raise ValueError("analysis_fps must be positive")
        self.name = name
        self.spec = spec
        self.analysis_fps = analysis_fps
        self.stall_timeout_s = stall_timeout_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self._on_status = on_status
        self._rng = rng or random.Random()
        # The watchdog notices a stall after stall_timeout_s; the blocked read gives up at twice that.
        self._source = AvSource(spec, open_timeout_s=open_timeout_s, read_timeout_s=2 * stall_timeout_s)
        self.slot = FrameSlot(lossless=not spec.is_live and not spec.realtime)
        self._lock = threading.Lock()
        self._state = CameraState.CONNECTING
        self._detail = ""
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._thread: threading.Thread | None = None
        self.reconnects = 0
        self.last_frame_at: float | None = None  # monotonic clock
        self.last_frame_wall: float | None = None
        self._analysed: deque[float] = deque(maxlen=256)
        self.analysed_frames = 0
        self.history: deque[CameraStatus] = deque(maxlen=HISTORY_LIMIT)  # recent changes; a camera runs for months

    # ------------------------------------------------------------ state
    @property
    def state(self) -> CameraState:
        return self._state

    def _set_state(self, state: CameraState, detail: str = "") -> None:
        with self._lock:
            if state == self._state and detail == self._detail:
                return
            if state != self._state and state not in TRANSITIONS[self._state]:
                raise RuntimeError(f"camera {self.name}: illegal transition {self._state} -> {state}")
            self._state, self._detail = state, detail
            status = CameraStatus(self.name, state, time.time(), detail)
            self.history.append(status)
        log.info("camera %s: %s%s", self.name, state.value, f" ({detail})" if detail else "")
        if self._on_status is not None:
            self._on_status(status)

    # ------------------------------------------------------------ control
    def start(self) -> None:
        self._status_initial()
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.name}", daemon=True)
        self._thread.start()

    def _status_initial(self) -> None:
        status = CameraStatus(self.name, CameraState.CONNECTING, time.time(), "")
        self.history.append(status)
        if self._on_status is not None:
            self._on_status(status)

    def stop(self) -> None:
        self._stop.set()
        self.slot.close()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def check_stalled(self, now: float | None = None) -> bool:
        """Watchdog: a streaming camera without a frame for ``stall_timeout_s`` is stalled and restarted."""
        now = time.monotonic() if now is None else now
        if self._state != CameraState.STREAMING or self.last_frame_at is None:
            return False
        if now - self.last_frame_at <= self.stall_timeout_s:
            return False
        self._set_state(CameraState.STALLED, f"no frame for {now - self.last_frame_at:.1f} s")
        self._restart.set()
        return True

    def mark_analysed(self, at: float | None = None) -> None:
        """The analyser finished a frame (feeds the analysed-frames/s figure)."""
        self._analysed.append(time.monotonic() if at is None else at)
        self.analysed_frames += 1

    def health(self) -> CameraHealth:
        now = time.monotonic()
        recent = [t for t in self._analysed if now - t <= 10.0]
        fps = 0.0
        if len(recent) >= 2:
            fps = (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)
        return CameraHealth(
            camera=self.name,
            state=self._state,
            analysed_fps=fps,
            analysed_frames=self.analysed_frames,
            dropped_frames=self.slot.dropped,
            reconnects=self.reconnects,
            last_frame_at=self.last_frame_wall,
            detail=self._detail,
        )

    # ------------------------------------------------------------ reader thread
    def _run(self) -> None:
        bind(camera=self.name)  # on this thread's log lines
        attempt = 0
        try:
            while not self._stop.is_set():
                if self._state in (CameraState.RECONNECTING,):
                    self._set_state(CameraState.CONNECTING)
                try:
                    self._source.open()
                    ended = self._pump()
                except ConnectionLost as exc:
                    self._source.close()
                    if self._stop.is_set():
                        break
                    if self._state in (CameraState.STREAMING, CameraState.STALLED):
                        attempt = 0  # it had been working: start the backoff afresh
                    delay = backoff_delay(attempt, base_s=self.backoff_base_s, cap_s=self.backoff_cap_s, rng=self._rng)
                    attempt += 1
                    self.reconnects += 1
                    self._set_state(CameraState.RECONNECTING, f"{exc}; retry in {delay:.1f} s")
                    self._stop.wait(delay)
                    continue
                except SourceError as exc:
                    self._set_state(CameraState.STOPPED, str(exc))
                    return
                self._source.close()
                if ended:
                    self._set_state(CameraState.STOPPED, "end of file")
                    return
                if self._restart.is_set():  # the watchdog asked for a fresh connection
                    self._restart.clear()
                    self.reconnects += 1
                    self._set_state(CameraState.RECONNECTING, "restarting a stalled stream")
                    attempt = 0
            self._set_state(CameraState.STOPPED, "stopped")
        except Exception as exc:  # a bug must not pass silently, nor leave the analyser waiting
            log.exception("camera %s: reader failed", self.name)
            if self._state != CameraState.STOPPED:
                self._state = CameraState.STOPPED
                self._detail = f"internal error: {type(exc).__name__}"
        finally:
            self._source.close()
            self.slot.close()

    def _pump(self) -> bool:
        """Read until the source ends (True), or a stop or restart is asked for (False)."""
        for frame in self._source.frames(every_s=1.0 / self.analysis_fps):
            self.last_frame_at = time.monotonic()
            self.last_frame_wall = frame.captured_at
            if self._state != CameraState.STREAMING:
                self._set_state(CameraState.STREAMING)
            if self._stop.is_set() or self._restart.is_set():
                return False
            self.slot.put(frame)
        return True
