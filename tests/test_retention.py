"""Retention deletes exactly what is due and nothing else (controllable clock, SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, update
from tests.helpers import NOW, Clock, alert_event, fields, jpeg, make_service

from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import AuditLog
from vigil.domain.retention import RetentionPolicy, RetentionService
from vigil.settings import VigilSettings
from vigil.store.models import Alert, Photo, PhotoEmbedding, Subject


def _alert(recorder: AlertRecorder, subject: str, track: str) -> str:
    stored = recorder.raise_alert(alert_event(subject, track=track))
    assert stored is not None and stored.alert_id
    return stored.alert_id


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_retention_deletes_exactly_what_is_due(database_url, tmp_path: Path, engine, astronaut, hopper) -> None:  # type: ignore[no-untyped-def]
    settings = VigilSettings(data_dir=tmp_path / "data", database_url=database_url)
    clock = Clock(NOW - timedelta(days=30))
    service = make_service(settings, engine, clock)
    keep = service.enroll(fields("Keeps", expires_at=NOW + timedelta(days=10)), [("a.jpg", jpeg(astronaut))]).subject_id
    lapsed = service.enroll(fields("Lapsed", expires_at=NOW - timedelta(days=1)), [("h.jpg", jpeg(hopper))]).subject_id
    gone = service.enroll(
        fields("Gone", expires_at=NOW - timedelta(days=8)), [("m.jpg", jpeg(np.ascontiguousarray(astronaut[:, ::-1])))]
    ).subject_id
    recorder = AlertRecorder(service.db, service.media)
    ids = {
        name: _alert(recorder, keep, name)
        for name in ("rej_old", "rej_new", "inc_old", "conf_old", "conf_new", "pending")
    }
    states = {
        "rej_old": ("rejected", NOW - timedelta(hours=25)),
        "rej_new": ("rejected", NOW - timedelta(hours=23)),
        "inc_old": ("inconclusive", NOW - timedelta(hours=30)),
        "conf_old": ("confirmed", NOW - timedelta(days=31)),
        "conf_new": ("confirmed", NOW - timedelta(days=29)),
        "pending": ("pending", NOW - timedelta(days=60)),
    }
    with service.db.session() as session:
        for name, (status, at) in states.items():
            session.execute(
                update(Alert).where(Alert.id == ids[name]).values(status=status, updated_at=at, last_seen=at)
            )
        crops = {a.id: a.crop_name for a in session.scalars(select(Alert))}

    audit = AuditLog(service.db, bytes(32))
    retention = RetentionService(service.db, service.media, audit, RetentionPolicy(24, 30, 7), clock=lambda: NOW)
    files_before = _files(service.media.root)
    dry = retention.run(dry_run=True)
    assert dry.as_dict() == {
        "dry_run": True,
        "rejected_crops": 2,
        "sightings": 1,
        "subjects_expired": 2,
        "subjects_purged": 1,
        "photos": 1,
        "login_failures": 0,
    }
    assert _files(service.media.root) == files_before

    done = retention.run()
    assert done.as_dict() == {**dry.as_dict(), "dry_run": False}
    with service.db.session() as session:
        alerts = {a.id: a for a in session.scalars(select(Alert))}
        subjects = {s.id: s.status for s in session.scalars(select(Subject))}
        photos = {p.subject_id for p in session.scalars(select(Photo))}
        embeddings = session.scalars(select(PhotoEmbedding)).all()
    assert set(alerts) == {ids[n] for n in ("rej_old", "rej_new", "inc_old", "conf_new", "pending")}
    assert alerts[ids["rej_old"]].crop_name is None and alerts[ids["inc_old"]].crop_name is None
    assert all(alerts[ids[n]].crop_name == crops[ids[n]] for n in ("rej_new", "conf_new", "pending"))
    assert subjects == {keep: "active", lapsed: "expired", gone: "expired"}
    assert photos == {keep, lapsed} and len(embeddings) == 2
    files_after = _files(service.media.root)
    removed = files_before - files_after
    assert removed == {f"crops/{crops[ids[n]]}" for n in ("rej_old", "inc_old", "conf_old")} | {
        f for f in files_before if f.startswith("photos/") and f not in files_after
    }
    assert len([f for f in removed if f.startswith("photos/")]) == 1
    again = retention.run()
    assert (again.rejected_crops, again.sightings, again.subjects_expired, again.photos) == (0, 0, 0, 0)
    runs = [e for e in audit.entries() if e.action == "retention-run"]
    assert [e.details["dry_run"] for e in runs] == [False, False, True] and runs[1].details["sightings"] == 1
    assert audit.verify().ok


def test_due_lists_expiry_and_review_in_the_window(tmp_path: Path, engine, astronaut, hopper) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(NOW)
    service = make_service(VigilSettings(data_dir=tmp_path / "data"), engine, clock)
    soon = service.enroll(fields("Soon", expires_at=NOW + timedelta(days=5)), [("a.jpg", jpeg(astronaut))]).subject_id
    later = service.enroll(
        fields("Later", expires_at=NOW + timedelta(days=200), review_date=(NOW + timedelta(days=10)).date()),
        [("h.jpg", jpeg(hopper))],
    ).subject_id
    assert [s.id for s in service.due(7)] == [soon]
    assert [s.id for s in service.due(14)] == [soon, later]


def test_retention_drops_failed_login_counters_once_the_lockout_is_over(tmp_path: Path) -> None:
    """An attack that tries thousands of addresses must not leave a table growing for ever."""
    from vigil.domain.users import LOCKOUT, MAX_FAILURES, LoginFailed, UserService
    from vigil.store.db import open_database
    from vigil.store.media import FolderMediaStore
    from vigil.store.models import LoginFailure

    db = open_database(VigilSettings(data_dir=tmp_path))
    users = UserService(db)
    users.add("operator", "correct horse battery", "operator")
    for source, times in (("203.0.113.1", MAX_FAILURES), ("203.0.113.2", 1)):
        for _ in range(times):
            with pytest.raises(LoginFailed):
                users.authenticate("operator", "wrong password!", source=source)
    audit = AuditLog(db, bytes(32))
    retention = RetentionService(db, FolderMediaStore(tmp_path / "media"), audit)
    assert retention.run().login_failures == 0  # recent: kept (one of them is a running lock)
    later = RetentionService(
        db, FolderMediaStore(tmp_path / "media"), audit, clock=lambda: datetime.now(UTC) + LOCKOUT * 2
    )
    assert later.run().login_failures == 2
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0
    assert audit.verify().ok
