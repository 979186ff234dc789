"""A change and its audit entry commit together or not at all (issue 14, item 7): a failure injected
between the two — the audit append failing, or the transaction failing after the entry was written —
leaves neither. And every service the composition root builds audits its changes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from tests.helpers import alert_event, fields, jpeg, live_fields, live_service, live_settings, snapshot

from vigil.domain.alerts import AlertRecorder
from vigil.domain.audit import Actor, AuditLog
from vigil.domain.cameras import CameraRegistry
from vigil.domain.users import UserService
from vigil.domain.vocabulary import AuditAction
from vigil.store.models import Adjudication, AuditEvent

PASSWORD = "correct horse battery"


class Injected(RuntimeError):
    pass


def _entries(db) -> int:  # type: ignore[no-untyped-def]
    with db.session() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


@contextlib.contextmanager
def injected(failure: str, db, monkeypatch) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """While inside: the audit append fails, or every transaction that writes fails at its commit (after
    the change and its entry were both written)."""
    if failure == "audit-append":

        def fail(*_args, **_kwargs):  # type: ignore[no-untyped-def]
            raise Injected("the audit log could not be written")

        monkeypatch.setattr(AuditLog, "_append", fail)
        try:
            yield
        finally:
            monkeypatch.undo()
        return

    def wrote(session, _context) -> None:  # type: ignore[no-untyped-def]
        session.info["wrote"] = True

    def boom(session) -> None:  # type: ignore[no-untyped-def]
        if session.new or session.dirty or session.deleted or session.info.pop("wrote", False):
            raise Injected("the database went away at commit")

    event.listen(db._sessions, "after_flush", wrote)
    event.listen(db._sessions, "before_commit", boom)
    try:
        yield
    finally:
        event.remove(db._sessions, "before_commit", boom)
        event.remove(db._sessions, "after_flush", wrote)


@pytest.fixture
def world(tmp_path: Path, settings, engine):  # type: ignore[no-untyped-def]
    run = live_settings(tmp_path, settings)
    watchlist = live_service(run, engine)
    audit = watchlist.audit
    assert audit is not None
    users = UserService(watchlist.db, audit=audit)
    operator = users.add("op.one", PASSWORD, "operator")
    return run, watchlist, audit, users, operator


@pytest.mark.parametrize("failure", ["audit-append", "commit"])
def test_a_decision_and_its_entry_commit_together(world, astronaut, monkeypatch, failure) -> None:  # type: ignore[no-untyped-def]
    from vigil.domain.adjudication import AlertService

    _run, watchlist, audit, _users, operator = world
    subject = watchlist.enroll(live_fields("Eileen Collins"), [("c.jpg", jpeg(astronaut))]).subject_id
    stored = AlertRecorder(watchlist.db, watchlist.media).raise_alert(alert_event(subject))
    assert stored is not None and stored.alert_id is not None
    alerts = AlertService(watchlist.db, audit)
    before = _entries(watchlist.db)
    with injected(failure, watchlist.db, monkeypatch), pytest.raises(Injected):
        alerts.decide(stored.alert_id, operator, "rejected", "not the person", source="10.0.0.7")
    assert alerts.get(stored.alert_id).status == "pending"  # neither the decision …
    with watchlist.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Adjudication)) == 0
    assert _entries(watchlist.db) == before  # … nor its entry
    alerts.decide(stored.alert_id, operator, "rejected", "not the person", source="10.0.0.7")
    (entry,) = audit.entries(limit=1, action=AuditAction.ALERT_DECIDED)  # both, once it works
    assert entry.actor == "op.one" and entry.source == "10.0.0.7" and entry.details["decision"] == "rejected"
    assert audit.verify().ok


@pytest.mark.parametrize("failure", ["audit-append", "commit"])
def test_an_enrollment_and_its_entry_commit_together(world, astronaut, monkeypatch, failure) -> None:  # type: ignore[no-untyped-def]
    _run, watchlist, audit, _users, _operator = world
    before, entries = snapshot(watchlist), _entries(watchlist.db)
    with injected(failure, watchlist.db, monkeypatch), pytest.raises(Injected):
        watchlist.enroll(fields(), [("a.jpg", jpeg(astronaut))], by=Actor("insp.proposer", "10.0.0.8"))
    assert snapshot(watchlist) == before and _entries(watchlist.db) == entries  # no rows, no files, no entry
    made = watchlist.enroll(fields(), [("a.jpg", jpeg(astronaut))], by=Actor("insp.proposer", "10.0.0.8"))
    (entry,) = audit.entries(limit=1, action=AuditAction.SUBJECT_ENROLLED)
    assert entry.object_id == made.subject_id and entry.details["approved_by"] == "insp.approver"


def test_user_and_camera_changes_and_their_entries_commit_together(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _run, watchlist, audit, users, _operator = world
    cameras = CameraRegistry(watchlist.db, audit=audit)
    by = Actor("admin", "10.0.0.9")
    entries = _entries(watchlist.db)
    with injected("audit-append", watchlist.db, monkeypatch):
        with pytest.raises(Injected):
            users.add("mole", PASSWORD, "supervisor", requested_by="admin", by=by)
        with pytest.raises(Injected):
            cameras.add("gate", "rtsp://10.0.0.5/s", latitude=26.8, longitude=80.9, by=by)
    assert "mole" not in {u.username for u in users.all_users()} and cameras.cameras() == []
    assert _entries(watchlist.db) == entries
    users.add("mole", PASSWORD, "supervisor", requested_by="admin", by=by)
    cameras.add("gate", "rtsp://10.0.0.5/s", latitude=26.8, longitude=80.9, by=by)
    assert [e.action for e in audit.entries(limit=2)] == [AuditAction.CAMERA_ADDED, AuditAction.USER_PROPOSED]


def test_the_composition_root_audits_every_service_it_builds(tmp_path: Path, settings, engine) -> None:  # type: ignore[no-untyped-def]
    from vigil.services import open_watchlist
    from vigil.store.db import open_database
    from vigil.web.context import WebContext

    run = settings.model_copy(update={"data_dir": tmp_path / "data"})
    assert open_watchlist(run, engine=engine).audit is not None
    ctx = WebContext.build(run, open_database(run))
    assert ctx.users.audit is ctx.audit and ctx.alerts.audit is ctx.audit and ctx.cameras.audit is ctx.audit
