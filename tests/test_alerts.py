"""Alert storage on SQLite and PostgreSQL: idempotent keys (also under concurrency), updates, crops,
and the camera registry's migration."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import select
from tests.helpers import alert_event, jpeg, live_fields, live_service

from vigil.domain.alerts import AlertRecorder, JsonLinesWriter
from vigil.domain.cameras import CameraRegistry
from vigil.pipeline.events import TrackMatch
from vigil.settings import VigilSettings
from vigil.store.models import Alert


def _event(subject_id: str, track: str = "s1-1", **changes: object) -> TrackMatch:
    return alert_event(subject_id, track=track, **changes)


def test_the_same_alert_twice_is_stored_once(database_url, tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    service = live_service(VigilSettings(data_dir=tmp_path / "data", database_url=database_url), engine)
    subject = service.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    recorder = AlertRecorder(service.db, service.media)
    seen: list[tuple[str, dict[str, object]]] = []
    recorder.subscribe(lambda kind, e: seen.append((kind, e.as_json())))
    first = recorder.raise_alert(_event(subject))
    assert first is not None and first.alert_id and first.stored_at is not None
    assert first.stored_at >= first.decisive_capture_at
    assert recorder.raise_alert(_event(subject)) is None
    # Several camera threads racing with the same key: still one row.
    results: list[object] = []
    racers = [
        threading.Thread(target=lambda: results.append(recorder.raise_alert(_event(subject, "s1-2")))) for _ in range(4)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sum(r is not None for r in results) == 1
    with service.db.session() as session:
        rows = session.scalars(select(Alert).order_by(Alert.created_at)).all()
    assert len(rows) == 2
    crops = list((tmp_path / "data" / "media" / "crops").iterdir())
    assert sorted(c.name for c in crops) == sorted(r.crop_name for r in rows)  # no orphan crop from a lost race
    assert [kind for kind, _ in seen] == ["raised", "raised"]
    assert seen[0][1]["subject_id"] == subject and seen[0][1]["latency_ms"] is not None


def test_update_extends_the_alert_and_keeps_one_crop(database_url, tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    service = live_service(VigilSettings(data_dir=tmp_path / "data", database_url=database_url), engine)
    subject = service.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    recorder = AlertRecorder(service.db, service.media)
    raised = recorder.raise_alert(_event(subject))
    assert raised is not None
    later = _event(subject, last_seen=raised.last_seen + 5, faces=6, score=0.99)
    recorder.update_alert(later)
    with service.db.session() as session:
        row = session.scalars(select(Alert)).one()
        assert row.faces == 6 and abs(row.best_score - 0.99) < 1e-9
        assert row.last_seen.timestamp() == later.last_seen or abs(row.last_seen.timestamp() - later.last_seen) < 1e-3
    crops = list((tmp_path / "data" / "media" / "crops").iterdir())
    assert len(crops) == 1 and crops[0].name == row.crop_name


def test_json_lines_have_the_documented_fields(tmp_path: Path) -> None:
    writer = JsonLinesWriter(tmp_path / "a.jsonl")
    writer("raised", _event("abc"))
    writer("updated", _event("abc"))
    writer.close()
    import json

    (line,) = (tmp_path / "a.jsonl").read_text().splitlines()
    record = json.loads(line)
    for key in ("subject_id", "subject_name", "camera", "first_seen", "last_seen", "score", "faces"):
        assert key in record
    assert record["first_seen"] < record["last_seen"] and record["first_seen"].endswith("+00:00")


def test_camera_registry_on_both_databases(database_url, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from vigil.store.db import open_database

    registry = CameraRegistry(open_database(VigilSettings(data_dir=tmp_path / "data", database_url=database_url)))
    registry.add("gate", "rtsp://u:p@10.0.0.1/s", latitude=51.5, longitude=-0.12, analysis_fps=4)
    registry.add("lobby", "webcam:0", latitude=51.5, longitude=-0.13)
    assert [(c.name, c.url) for c in registry.cameras()] == [
        ("gate", "rtsp://u:***@10.0.0.1/s"),
        ("lobby", "webcam:0"),
    ]
    (gate, lobby) = registry.sources()
    assert gate[1].url == "rtsp://u:p@10.0.0.1/s" and gate[2] == 4 and lobby[2] == 5.0


def test_two_decisions_racing_on_one_alert_one_wins(database_url, tmp_path: Path, engine, astronaut) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: on SQLite (where FOR UPDATE does nothing) two decisions on one alert could both succeed."""
    from sqlalchemy import func

    from vigil.domain.adjudication import AdjudicationError, AlertService
    from vigil.domain.users import UserService
    from vigil.store.models import Adjudication

    service = live_service(VigilSettings(data_dir=tmp_path / "data", database_url=database_url), engine)
    subject = service.enroll(live_fields("Eileen Collins", "missing-person"), [("c.jpg", jpeg(astronaut))])
    users = UserService(service.db)
    deciders = [users.add(f"op.{i}", "correct horse battery", "operator") for i in range(4)]
    alerts = AlertService(service.db)
    recorder = AlertRecorder(service.db, service.media)
    for round_ in range(5):
        stored = recorder.raise_alert(_event(subject.subject_id, track=f"race-{round_}"))
        assert stored is not None and stored.alert_id is not None
        barrier = threading.Barrier(len(deciders))
        outcomes: list[str] = []

        def decide(who, decision: str, alert_id=stored.alert_id, barrier=barrier, outcomes=outcomes) -> None:  # type: ignore[no-untyped-def]
            barrier.wait()
            try:
                alerts.decide(alert_id, who, decision, "checked against the photo")
                outcomes.append("decided")
            except AdjudicationError as exc:
                outcomes.append(exc.rule)

        threads = [
            threading.Thread(target=decide, args=(who, "confirmed" if i % 2 else "rejected"))
            for i, who in enumerate(deciders)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(outcomes) == ["closed", "closed", "closed", "decided"], outcomes
        with service.db.session() as session:
            decisions = session.scalar(
                select(func.count()).select_from(Adjudication).where(Adjudication.alert_id == stored.alert_id)
            )
        assert decisions == 1
    service.db.dispose()
