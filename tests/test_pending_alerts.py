"""A database outage loses no alert: what a camera raises meanwhile waits in a bounded on-disk queue and
is stored when the database returns — none lost, none doubled, a replay after a crash changes nothing."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.exc import OperationalError
from tests.helpers import NOW, Clock, alert_event, fields, jpeg, make_service

from vigil.domain.alerts import AlertRecorder
from vigil.domain.pending import PendingAlerts
from vigil.settings import VigilSettings
from vigil.store.db import Database
from vigil.store.models import Alert


def _unreachable() -> Database:
    """A database that cannot be opened: every session fails as an outage would (OperationalError)."""
    return Database(create_engine("sqlite:////proc/vigil-no-such-dir/vigil.db"))


def _wait(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_alerts_raised_in_an_outage_are_queued_on_disk_and_stored_once(tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    settings = VigilSettings(data_dir=tmp_path / "data")
    service = make_service(settings, engine, Clock(NOW))
    subject = service.enroll(fields("Eileen Collins"), [("a.jpg", jpeg(astronaut))]).subject_id
    pending = PendingAlerts(settings.data_dir / "pending-alerts", max_entries=3)
    recorder = AlertRecorder(service.db, service.media, pending=pending, drain_every_s=0.1)
    heard: list[tuple[str, str | None]] = []
    recorder.subscribe(lambda kind, event: heard.append((kind, event.alert_id)))
    live = recorder.db
    try:
        recorder.db = _unreachable()
        events = [alert_event(subject, track=f"t-{i}") for i in range(4)]
        for event in events[:3]:
            kept = recorder.raise_alert(event)
            assert kept is not None and kept.alert_id is None  # the track counts it raised; no id yet
        with pytest.raises(OperationalError):  # the queue is full: the named drop policy, counted
            recorder.raise_alert(events[3])
        assert pending.dropped == 1 and len(pending) == 3
        later = events[0].last_seen + 5
        recorder.update_alert(alert_event(subject, track="t-0", faces=9, last_seen=later))  # merged, not added
        assert len(pending) == 3 and pending.get(events[0].key).faces == 9  # type: ignore[union-attr]
        found = recorder.recent_alert("gate", subject, events[0].first_seen)
        assert found is not None and found.key == events[0].key
        for path in pending.folder.iterdir():
            assert path.stat().st_mode & 0o077 == 0, "a queued crop readable by others"
        assert heard == []  # nothing announced before it is stored

        recorder.db = live  # the database returns: the queue drains by itself
        assert _wait(lambda: len(pending) == 0), "the queue did not drain"
        with live.session() as session:
            rows = {a.key: a for a in session.scalars(select(Alert))}
        assert set(rows) == {e.key for e in events[:3]}
        assert rows[events[0].key].faces == 9
        assert all(service.media.read("crops", row.crop_name) for row in rows.values() if row.crop_name)
        assert sorted(kind for kind, _ in heard if kind == "raised") == ["raised"] * 3
        assert all(alert_id for _, alert_id in heard)

        # a crash after the store committed but before its file was deleted: the replay doubles nothing
        pending.put(events[1])
        assert recorder.drain() == 1 and len(pending) == 0
        # and a process that restarts with a queue left on disk drains it at start
        recorder.db = _unreachable()
        assert recorder.raise_alert(alert_event(subject, track="t-late")) is not None
        recorder.close()
        left = PendingAlerts(pending.folder)
        assert len(left) == 1
        restarted = AlertRecorder(live, service.media, pending=left, drain_every_s=0.1)
        assert _wait(lambda: len(left) == 0)
        restarted.close()
        with live.session() as session:
            keys = list(session.scalars(select(Alert.key)))
        assert len(keys) == len(set(keys)) == 4
    finally:
        recorder.close()
        service.db.dispose()
