"""Pure parts of the live pipeline: redaction, backoff, the frame slot, the tracker and the decision rule."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest

from vigil.recognition.decision import DecisionRule, decide, per_frame_flags
from vigil.redaction import redact_url, scrub
from vigil.video.camera import TRANSITIONS, CameraState, FrameSlot, backoff_delay
from vigil.video.sources import Frame, SourceError, parse_source
from vigil.video.tracker import FaceTracker


# ----------------------------------------------------------------- redaction
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/stream1", "rtsp://admin:***@10.0.0.5:554/stream1"),
        ("rtsp://token-only@cam/x", "rtsp://***@cam/x"),
        ("http://cam/video.mjpg?user=a&password=hunter2", "http://cam/video.mjpg?user=a&password=***"),
        ("rtsp://10.0.0.5/stream", "rtsp://10.0.0.5/stream"),
        ("/videos/clip.mp4", "/videos/clip.mp4"),
    ],
)
def test_redact_url_hides_passwords_and_tokens(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_scrub_masks_the_url_and_its_secrets_in_library_messages() -> None:
    url = "rtsp://admin:hunter2@10.0.0.5/s"
    text = scrub(f"Connection refused: '{url}' (auth admin:hunter2)", url)
    assert "hunter2" not in text and "admin:***@10.0.0.5" in text


# ----------------------------------------------------------------- sources
def test_parse_source_kinds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert parse_source("rtsp://cam/s").kind == "rtsp"
    assert parse_source("https://cam/mjpg").kind == "http"
    assert parse_source("webcam:2").url == "/dev/video2"
    assert parse_source("/dev/video0").kind == "webcam"
    spec = parse_source(f"file://{tmp_path}/a.mp4", loop=True)
    assert (spec.kind, spec.url, spec.loop) == ("file", f"{tmp_path}/a.mp4", True)
    for bad in ("", "ftp://x/y", "webcam:x", "rtsp:///nohost"):
        with pytest.raises(SourceError):
            parse_source(bad)


# ----------------------------------------------------------------- camera pieces
def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(30.0, 0.5 * 2**attempt)
        delays = [backoff_delay(attempt, base_s=0.5, cap_s=30.0, rng=rng) for _ in range(200)]
        assert all(0.01 <= d <= ceiling for d in delays)
        assert max(delays) > 0.7 * ceiling  # jitter spreads over the whole range
    assert len({round(backoff_delay(3, base_s=0.5, cap_s=30, rng=rng), 6) for _ in range(50)}) > 40


def test_state_machine_has_no_way_out_of_stopped_and_reconnects_through_connecting() -> None:
    assert TRANSITIONS[CameraState.STOPPED] == set()
    assert TRANSITIONS[CameraState.RECONNECTING] == {CameraState.CONNECTING, CameraState.STOPPED}
    assert CameraState.RECONNECTING in TRANSITIONS[CameraState.STALLED]


def _frame(i: int) -> Frame:
    return Frame(np.zeros((2, 2, 3), np.uint8), i, float(i), float(i), float(i))


def test_slot_keeps_only_the_newest_frame_and_counts_drops() -> None:
    slot = FrameSlot()
    for i in range(5):
        slot.put(_frame(i))
    got = slot.get(0.01)
    assert got is not None and got.index == 4
    assert slot.dropped == 4
    assert slot.get(0.01) is None


def test_lossless_slot_waits_for_the_consumer() -> None:
    slot = FrameSlot(lossless=True)
    received: list[int] = []

    def consume() -> None:
        while len(received) < 20:
            frame = slot.get(1.0)
            if frame is not None:
                received.append(frame.index)

    consumer = threading.Thread(target=consume)
    consumer.start()
    for i in range(20):
        slot.put(_frame(i))
    consumer.join(5)
    assert received == list(range(20)) and slot.dropped == 0


# ----------------------------------------------------------------- tracker
def _box(cx: float, cy: float, size: float = 60.0) -> list[float]:
    return [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2]


def test_tracker_follows_crossing_faces_by_their_motion() -> None:
    tracker = FaceTracker()
    ids_a, ids_b = [], []
    for step in range(10):
        t = step * 0.2
        a = _box(100 + 40 * step, 300)  # moving right
        b = _box(500 - 40 * step, 300 + 5 * step)  # moving left, they cross mid-way
        update = tracker.update(np.array([a, b]), t)
        ids_a.append(update.track_ids[0])
        ids_b.append(update.track_ids[1])
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1 and ids_a[0] != ids_b[0]


def test_tracker_ends_tracks_not_seen_for_a_while_and_starts_new_ones() -> None:
    tracker = FaceTracker(max_missed_s=1.0)
    first = tracker.update(np.array([_box(100, 100)]), 0.0).track_ids[0]
    assert tracker.update(np.zeros((0, 4)), 0.5).ended == []
    update = tracker.update(np.array([_box(900, 500)]), 2.0)
    assert [t.track_id for t in update.ended] == [first]
    assert update.track_ids[0] != first
    assert [t.track_id for t in tracker.end_all()] == update.track_ids


# ----------------------------------------------------------------- decision
RULES = {"a": DecisionRule(0.9, 3), "b": DecisionRule(0.9, 3)}


def test_decide_needs_the_minimum_number_of_voting_faces() -> None:
    scores = np.array([[0.95, 0.5], [0.94, 0.5]])
    assert decide([0.8, 0.8], ["a", "b"], scores, RULES) is None
    verdict = decide([0.8, 0.8, 0.6], ["a", "b"], np.vstack([scores, [0.97, 0.4]]), RULES)
    assert verdict is not None
    assert (verdict.subject_id, verdict.votes, verdict.best_face) == ("a", 3, 2)
    assert verdict.best_score == pytest.approx(0.97)


def test_decide_weighs_the_whole_track_by_quality() -> None:
    # Three faces pass on their own, but the track's better faces do not resemble "a": no flag.
    scores = np.array([[0.91], [0.91], [0.91], [0.70], [0.72]])
    qualities = [0.3, 0.3, 0.3, 0.9, 0.9]
    assert decide(qualities, ["a"], scores, {"a": DecisionRule(0.9, 3)}) is None
    assert per_frame_flags(scores[:, 0], np.full(5, 0.9)).sum() == 3  # per-frame matching flags three times
    # The same faces with the good ones agreeing: flagged.
    scores[3:] = 0.93
    assert decide(qualities, ["a"], scores, {"a": DecisionRule(0.9, 3)}) is not None


def test_decide_counts_only_faces_whose_best_match_is_the_subject() -> None:
    scores = np.array([[0.95, 0.97], [0.95, 0.97], [0.95, 0.97], [0.96, 0.93]])
    verdict = decide([1, 1, 1, 1], ["a", "b"], scores, RULES)
    assert verdict is not None and verdict.subject_id == "b" and verdict.votes == 3
    strict = {"a": DecisionRule(0.9, 1), "b": DecisionRule(0.9, 4)}
    chosen = decide([1, 1, 1, 1], ["a", "b"], scores, strict)
    assert chosen is not None and chosen.subject_id == "a"
