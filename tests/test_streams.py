"""Camera streams against real servers: MJPEG over HTTP (in-process sockets), RTSP (gst-rtsp-server in
its own process), files and missing devices. States, reconnection, stalls, drops and credentials."""

from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from tests.conftest import VIDEO, needs_video
from tests.helpers import authorised_gate, live_fields, live_service, live_settings
from tests.helpers.streaming import MjpegServer, RtspServer, read_clip, rtsp_server_missing, write_clip

from vigil.domain.alerts import AlertRecorder
from vigil.domain.matching import WatchlistMatcher
from vigil.pipeline.analyser import AnalysisSettings
from vigil.pipeline.runtime import CameraConfig, LiveRunner, StreamPolicy
from vigil.store.models import Alert
from vigil.video.camera import CameraState, CameraStatus, CameraStream
from vigil.video.sources import parse_source

pytestmark = [pytest.mark.slow]

CARPHONE = VIDEO / "carphone_176x144.mp4"


def _wait_for(predicate, timeout: float, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def _drain(stream: CameraStream, stop_after: float) -> int:
    """Consume frames like an analyser would; returns how many were taken."""
    taken, deadline = 0, time.monotonic() + stop_after
    while time.monotonic() < deadline:
        if stream.slot.get(0.05) is not None:
            taken += 1
            stream.mark_analysed()
    return taken


def _states(stream: CameraStream) -> list[CameraState]:
    return [status.state for status in stream.history]


def _frames(n: int = 8) -> list[np.ndarray]:
    return [np.full((96, 128, 3), 30 * i % 255, np.uint8) for i in range(n)]


def test_mjpeg_stream_samples_at_the_analysis_rate_and_drops_when_the_analyser_is_slow() -> None:
    server = MjpegServer(_frames(), fps=25).start()
    stream = CameraStream("mjpeg", parse_source(server.url), analysis_fps=10)
    try:
        stream.start()
        assert _wait_for(lambda: stream.state == CameraState.STREAMING, 10)
        time.sleep(1.0)  # nobody takes frames: the slot keeps the newest, counts the rest as dropped
        assert stream.slot.dropped >= 5
        dropped = stream.slot.dropped
        taken = _drain(stream, 2.0)
        assert 12 <= taken <= 24  # about 10 per second were offered, not 25
        assert stream.slot.dropped - dropped <= 2
        health = stream.health()
        assert health.state == CameraState.STREAMING and 6 <= health.analysed_fps <= 14
        assert health.last_frame_at is not None and time.time() - health.last_frame_at < 1
    finally:
        stream.stop()
        stream.join(10)
        server.stop()
    assert stream.state == CameraState.STOPPED


def test_a_stalled_stream_is_restarted_by_the_watchdog_and_streams_again() -> None:
    server = MjpegServer(_frames(), fps=25).start()
    stream = CameraStream("stall", parse_source(server.url), analysis_fps=5, stall_timeout_s=1.0, backoff_base_s=0.1)
    try:
        stream.start()
        assert _wait_for(lambda: stream.state == CameraState.STREAMING, 10)
        server.paused.set()
        assert _wait_for(lambda: stream.check_stalled() or CameraState.STALLED in _states(stream), 5)
        assert _wait_for(lambda: CameraState.RECONNECTING in _states(stream), 5)
        server.paused.clear()
        assert _wait_for(lambda: _states(stream)[-1] == CameraState.STREAMING, 10)
        assert stream.reconnects >= 1
    finally:
        stream.stop()
        stream.join(10)
        server.stop()
    states = _states(stream)
    assert states.index(CameraState.STALLED) < states.index(CameraState.RECONNECTING)


def test_refused_credentials_stop_the_camera_without_retrying_or_showing_the_password(caplog, capfd) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    server = MjpegServer(_frames(), credentials="viewer:right-one").start()
    url = server.url.replace("http://", "http://viewer:Sup3rSecret@")
    stream = CameraStream("auth", parse_source(url), analysis_fps=5, backoff_base_s=0.05)
    try:
        stream.start()
        assert _wait_for(lambda: stream.state == CameraState.STOPPED, 10)
    finally:
        stream.stop()
        stream.join(5)
        server.stop()
    # one attempt (FFmpeg asks once without, once with the credentials); a configuration error is not retried
    assert server.requests <= 2 and stream.reconnects == 0
    assert "401" in stream.history[-1].detail
    out, err = capfd.readouterr()
    shown = " ".join([caplog.text, out, err, *(s.detail for s in stream.history)])
    assert "Sup3rSecret" not in shown and "viewer:***@" in shown


def test_unreachable_stream_retries_with_backoff_and_never_logs_credentials(caplog, capfd) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    from tests.helpers.streaming import free_port

    url = f"rtsp://operator:Pa55w0rd%21@127.0.0.1:{free_port()}/cam1"
    seen: list[CameraStatus] = []
    stream = CameraStream(
        "down",
        parse_source(url),
        analysis_fps=5,
        on_status=seen.append,
        backoff_base_s=0.05,
        backoff_cap_s=0.2,
        open_timeout_s=2,
    )
    try:
        stream.start()
        assert _wait_for(lambda: stream.reconnects >= 3, 15)
    finally:
        stream.stop()
        stream.join(10)
    states = [s.state for s in seen]
    assert states[:3] == [CameraState.CONNECTING, CameraState.RECONNECTING, CameraState.CONNECTING]
    assert CameraState.STREAMING not in states and states[-1] == CameraState.STOPPED
    out, err = capfd.readouterr()
    shown = " ".join([caplog.text, out, err, *(s.detail for s in seen)])
    assert "Pa55w0rd" not in shown and "operator:***@127.0.0.1" in shown


def test_a_missing_file_stops_the_camera_with_the_reason(tmp_path: Path) -> None:
    stream = CameraStream("gone", parse_source(str(tmp_path / "nope.mp4")), analysis_fps=5)
    stream.start()
    stream.join(10)
    assert stream.state == CameraState.STOPPED and "not found" in stream.history[-1].detail
    assert stream.reconnects == 0


@needs_video
def test_files_play_at_their_own_rate_and_loop() -> None:
    spec = parse_source(str(CARPHONE), loop=True)  # 4.0 s at 29.97 frames/s
    stream = CameraStream("file", spec, analysis_fps=30)
    timestamps: list[float] = []
    started = time.monotonic()
    stream.start()
    try:
        while time.monotonic() - started < 5.5:
            frame = stream.slot.get(0.1)
            if frame is not None:
                timestamps.append(frame.timestamp)
    finally:
        stream.stop()
        stream.join(10)
    assert 4.6 <= timestamps[-1] <= 5.6  # real time, and past the clip's end: it looped
    assert all(b > a for a, b in itertools.pairwise(timestamps))
    assert stream.slot.dropped <= 3


@needs_video
def test_rtsp_server_stopped_mid_stream_reconnects_within_10s_with_one_alert(tmp_path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    missing = rtsp_server_missing()
    if missing:
        pytest.skip(missing)
    frames = read_clip(CARPHONE)
    clip = write_clip(frames, tmp_path / "carphone_x8.mp4", fps=30, repeat=8)  # 32 s
    service = live_service(live_settings(tmp_path, settings), engine)
    from tests.helpers import jpeg

    subject = service.enroll(live_fields("Caller"), [("caller.jpg", jpeg(frames[0]))]).subject_id
    server = RtspServer(clip).start()
    statuses: list[CameraStatus] = []
    recorder = AlertRecorder(service.db, service.media)
    raised: list[str] = []
    recorder.subscribe(lambda kind, event: raised.append(kind))
    runner = LiveRunner(
        [CameraConfig("door", parse_source(server.url), 5.0)],
        engine,
        WatchlistMatcher(service),
        recorder,
        gate=authorised_gate(service.db, ["door"]),
        analysis=AnalysisSettings(),
        policy=StreamPolicy(stall_timeout_s=3.0, open_timeout_s=3.0),  # the default backoff
        on_status=statuses.append,
    )
    try:
        runner.start()
        assert _wait_for(lambda: "raised" in raised, 20), "no alert before the outage"
        server.kill()
        assert _wait_for(lambda: any(s.state == CameraState.RECONNECTING for s in statuses), 10)
        time.sleep(6.0)  # long enough for the backoff to grow towards its cap
        server.start()
        back = time.monotonic()
        assert _wait_for(lambda: statuses[-1].state == CameraState.STREAMING, 10), statuses[-3:]
        recovery = time.monotonic() - back
        assert recovery <= 10.0
        print(f"streaming again {recovery:.1f} s after the RTSP server came back")
        time.sleep(4.0)  # the caller is on screen again after the restart
    finally:
        runner.close()
        server.kill()
    assert runner.errors() == {}
    with service.db.session() as session:
        alerts = session.scalars(select(Alert)).all()
    assert [a.subject_id for a in alerts] == [subject]  # one alert, not one per connection
    assert raised.count("raised") == 1
    assert runner.counters()["door"].frames > 20


def test_a_missing_webcam_stops_with_the_reason() -> None:
    stream = CameraStream("cam", parse_source("webcam:57"), analysis_fps=5, backoff_base_s=0.05)
    stream.start()
    stream.join(15)
    assert stream.state == CameraState.STOPPED and "/dev/video57" in stream.history[-1].detail
    assert stream.reconnects == 0


@needs_video
def test_two_cameras_at_once_each_raise_their_own_alert(tmp_path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import jpeg

    frames = read_clip(CARPHONE)
    service = live_service(live_settings(tmp_path, settings), engine)
    subject = service.enroll(live_fields("Caller"), [("caller.jpg", jpeg(frames[0]))]).subject_id
    recorder = AlertRecorder(service.db, service.media)
    runner = LiveRunner(
        [
            CameraConfig("east", parse_source(str(CARPHONE), realtime=False), 5.0),
            CameraConfig("west", parse_source(str(CARPHONE), realtime=False), 5.0),
        ],
        engine,
        WatchlistMatcher(service),
        recorder,
        gate=authorised_gate(service.db, ["east", "west"]),
    )
    runner.start()
    assert runner.wait(120)
    runner.close()
    with service.db.session() as session:
        alerts = session.scalars(select(Alert).order_by(Alert.camera)).all()
    assert [(a.camera, a.subject_id) for a in alerts] == [("east", subject), ("west", subject)]
    assert all(a.faces >= 3 and a.best_score >= a.threshold for a in alerts)
    assert {h.camera: h.analysed_frames for h in runner.health()} == {"east": 20, "west": 20}


@needs_video
def test_a_failed_alert_write_is_retried_and_the_camera_goes_on(tmp_path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.exc import OperationalError
    from tests.helpers import jpeg

    frames = read_clip(CARPHONE)
    service = live_service(live_settings(tmp_path, settings), engine)
    subject = service.enroll(live_fields("Caller"), [("caller.jpg", jpeg(frames[0]))]).subject_id

    class FlakyRecorder(AlertRecorder):
        failures = 1

        def raise_alert(self, event):  # type: ignore[no-untyped-def]
            if self.failures:
                self.failures -= 1
                raise OperationalError("INSERT", {}, Exception("database is locked"))
            return super().raise_alert(event)

    runner = LiveRunner(
        [CameraConfig("east", parse_source(str(CARPHONE), realtime=False), 5.0)],
        engine,
        WatchlistMatcher(service),
        FlakyRecorder(service.db, service.media),
        gate=authorised_gate(service.db, ["east"]),
    )
    runner.start()
    assert runner.wait(120)
    runner.close()
    assert runner.errors() == {} and runner.runs["east"].failed_frames == 1
    with service.db.session() as session:
        assert [a.subject_id for a in session.scalars(select(Alert))] == [subject]


@needs_video
def test_a_restarted_camera_folds_the_same_person_into_the_open_alert(tmp_path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    """The re-arm window survives a restart of the analysis (a new runner, as after `vigil serve` restarts)."""
    from tests.helpers import jpeg

    frames = read_clip(CARPHONE)
    service = live_service(live_settings(tmp_path, settings), engine)
    subject = service.enroll(live_fields("Caller"), [("caller.jpg", jpeg(frames[0]))]).subject_id
    gate = authorised_gate(service.db, ["east"])
    for _run in range(2):
        runner = LiveRunner(
            [CameraConfig("east", parse_source(str(CARPHONE), realtime=False), 5.0)],
            engine,
            WatchlistMatcher(service),
            AlertRecorder(service.db, service.media),
            gate=gate,
        )
        runner.start()
        assert runner.wait(120)
        runner.close()
    with service.db.session() as session:
        alerts = session.scalars(select(Alert)).all()
    assert [a.subject_id for a in alerts] == [subject]
    assert alerts[0].last_seen > alerts[0].first_seen


def test_frames_no_analysis_needs_are_not_decoded_and_the_rest_are_unchanged(tmp_path: Path) -> None:
    """Issue 13: sampling 5 of 25 frames/s, non-reference frames (B-frames here) are skipped undecoded;
    every frame handed over is pixel for pixel the frame a full decode gives at that time."""
    import av

    from vigil.samples import sample_images, street_scene_clip
    from vigil.video.sources import AvSource

    clip = street_scene_clip(
        tmp_path / "b.mp4", np.ascontiguousarray(sample_images()[0]), size=(320, 180), seconds=4.0, crossing=(0.5, 3.5)
    )
    with av.open(str(clip)) as container:
        types = [int(f.pict_type) for f in container.decode(container.streams.video[0])]
    assert types.count(3) > 30  # AV_PICTURE_TYPE_B: x264's defaults make B-frames, most not referenced
    everything = {}
    source = AvSource(parse_source(str(clip), realtime=False))
    source.open()
    for frame in source.frames(every_s=0.0):  # every frame, nothing skipped
        everything[round(frame.timestamp, 3)] = frame.image
    source.close()
    assert len(everything) == len(types)
    sampled = []
    source.open()
    for frame in source.frames(every_s=0.2):
        sampled.append(frame)
    source.close()
    assert 18 <= len(sampled) <= 21  # still 5 frames/s of a 4 s clip
    assert all(b.timestamp - a.timestamp < 0.25 for a, b in itertools.pairwise(sampled))
    for frame in sampled:
        assert np.array_equal(frame.image, everything[round(frame.timestamp, 3)])  # not corrupted
